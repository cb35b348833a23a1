import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { type Actor, CurrentUser } from "../auth/current-user.js"
import { Social } from "./service.js"

const DEFAULT_LIMIT = 50

export const SocialHandlers = HttpApiBuilder.group(VezaApi, "social", (handlers) =>
  Effect.gen(function* () {
    const social = yield* Social
    const withActor = <A, E, R>(f: (actor: Actor) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentUser, f)
    const pageRequest = (params: { cursor?: string | undefined; limit?: number | undefined }) => ({ cursor: params.cursor, limit: params.limit ?? DEFAULT_LIMIT })
    return handlers
      .handle("follow", ({ path }) => withActor((actor) => social.follow(actor, path.id)))
      .handle("unfollow", ({ path }) => withActor((actor) => social.unfollow(actor, path.id)))
      .handle("block", ({ path }) => withActor((actor) => social.block(actor, path.id)))
      .handle("unblock", ({ path }) => withActor((actor) => social.unblock(actor, path.id)))
      .handle("followers", ({ path, urlParams }) => social.followers(path.id, pageRequest(urlParams)))
      .handle("following", ({ path, urlParams }) => social.following(path.id, pageRequest(urlParams)))
      .handle("blocked", ({ urlParams }) => withActor((actor) => social.blocked(actor, pageRequest(urlParams))))
      .handle("feed", ({ urlParams }) => withActor((actor) => social.feed(actor, pageRequest(urlParams))))
      .handle("notifications", ({ urlParams }) =>
        withActor((actor) => social.inbox(actor, { ...pageRequest(urlParams), unreadOnly: urlParams.unread === "true" }))
      )
      .handle("readNotification", ({ path }) => withActor((actor) => social.markRead(actor, path.id)))
      .handle("readAllNotifications", () => withActor((actor) => social.markAllRead(actor)))
  })
)
