import { Effect, Schema } from "effect"
import { ChatBus } from "../chat/bus.js"
import type { UserId } from "../users/schema.js"
import { Blocks } from "./blocks.js"
import { SocialRepo } from "./repo.js"
import { Notification, type NotificationType } from "./schema.js"

const encode = Schema.encodeSync(Notification)

/**
 * Tells a user that something happened: stored (what `GET /notifications`
 * lists) and then pushed to the user's chat connections on every node.
 */
export class Notifications extends Effect.Service<Notifications>()("veza/Notifications", {
  effect: Effect.gen(function* () {
    const repo = yield* SocialRepo
    const blocks = yield* Blocks
    const bus = yield* ChatBus

    /**
     * Best effort, and never fails its caller: the like, follow or order that
     * caused it has already happened, and a lost notification must not undo
     * or fail it. Call it after the cause commits. Nothing is sent to oneself
     * or across a block.
     */
    const notify = (user: UserId, type: NotificationType, actor: UserId | null, payload: Record<string, unknown> = {}) =>
      Effect.gen(function* () {
        if (actor === user) return
        if (actor !== null && (yield* blocks.isBlocked(user, actor))) return
        const { cursor_at: _at, cursor_id: _id, ...notification } = yield* repo.insertNotification(user, type, actor, payload)
        yield* bus.publish({ kind: "notification", user, notification: encode(notification) })
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("notification not delivered", cause).pipe(Effect.annotateLogs({ user_id: user, type })))
      )

    return { notify } as const
  }),
  dependencies: [SocialRepo.Default, Blocks.Default]
}) {}
