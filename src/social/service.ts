import { Effect } from "effect"
import type { Actor } from "../auth/current-user.js"
import { NotFound } from "../platform/api-errors.js"
import { decodeTimeCursor, encodeTimeCursor, pageOf } from "../platform/cursor.js"
import { sqlErrors } from "../platform/sql-errors.js"
import type { UserId } from "../users/schema.js"
import { Users } from "../users/service.js"
import { Blocks } from "./blocks.js"
import { Notifications } from "./notifications.js"
import { blockedRefusal, notSelf } from "./policy.js"
import { type Listed, SocialRepo } from "./repo.js"
import type { NotificationId } from "./schema.js"

/** A page of rows, without the columns that only place them in the list. */
const page = <A>(rows: ReadonlyArray<Listed<A>>, limit: number) => {
  const { items, next_cursor } = pageOf(rows, limit, (last) => encodeTimeCursor(last.cursor_at, last.cursor_id))
  return { items: items.map(({ cursor_at: _at, cursor_id: _id, ...item }) => item as A), next_cursor }
}

export interface PageRequest {
  readonly cursor: string | undefined
  readonly limit: number
}

/** Follows, blocks, the feed and the notification inbox. */
export class Social extends Effect.Service<Social>()("veza/Social", {
  effect: Effect.gen(function* () {
    const repo = yield* SocialRepo
    const users = yield* Users
    const blocks = yield* Blocks
    const notifications = yield* Notifications

    /** 404 for an unknown or deleted account, before anything is written about it. */
    const existing = (id: UserId) => Effect.asVoid(users.getPublic(id))

    const follow = (actor: Actor, target: UserId) =>
      Effect.gen(function* () {
        const self = notSelf(actor, target, "follow")
        if (self !== undefined) return yield* self
        yield* existing(target)
        if (yield* blocks.isBlocked(actor.id, target)) return yield* blockedRefusal()
        const created = yield* repo.follow(actor.id, target)
        // Following again changes nothing, so it tells nobody anything either.
        if (created) yield* notifications.notify(target, "follow", actor.id)
      }).pipe(sqlErrors)

    const unfollow = (actor: Actor, target: UserId) =>
      Effect.gen(function* () {
        const self = notSelf(actor, target, "follow")
        if (self !== undefined) return yield* self
        yield* existing(target)
        yield* repo.unfollow(actor.id, target)
      }).pipe(sqlErrors)

    const block = (actor: Actor, target: UserId) =>
      Effect.gen(function* () {
        const self = notSelf(actor, target, "block")
        if (self !== undefined) return yield* self
        yield* existing(target)
        yield* repo.block(actor.id, target)
      }).pipe(sqlErrors)

    const unblock = (actor: Actor, target: UserId) =>
      Effect.gen(function* () {
        const self = notSelf(actor, target, "block")
        if (self !== undefined) return yield* self
        yield* existing(target)
        yield* repo.unblock(actor.id, target)
      }).pipe(sqlErrors)

    const relationship = (actor: Actor, other: UserId) =>
      Effect.gen(function* () {
        yield* existing(other)
        return { user_id: other, ...(yield* repo.relationship(actor.id, other)) }
      }).pipe(sqlErrors)

    const userList =
      (list: "followers" | "following") =>
      (user: UserId, request: PageRequest) =>
        Effect.gen(function* () {
          const cursor = yield* decodeTimeCursor(request.cursor)
          yield* existing(user)
          return page(yield* repo[list](user, cursor, request.limit), request.limit)
        }).pipe(sqlErrors)

    const blocked = (actor: Actor, request: PageRequest) =>
      Effect.gen(function* () {
        const cursor = yield* decodeTimeCursor(request.cursor)
        return page(yield* repo.blocked(actor.id, cursor, request.limit), request.limit)
      }).pipe(sqlErrors)

    const feed = (actor: Actor, request: PageRequest) =>
      Effect.gen(function* () {
        const cursor = yield* decodeTimeCursor(request.cursor)
        return page(yield* repo.feed(actor.id, cursor, request.limit), request.limit)
      }).pipe(sqlErrors)

    const inbox = (actor: Actor, request: PageRequest & { readonly unreadOnly: boolean }) =>
      Effect.gen(function* () {
        const cursor = yield* decodeTimeCursor(request.cursor)
        const [rows, unread_count] = yield* Effect.all([
          repo.notifications(actor.id, { unreadOnly: request.unreadOnly, cursor, limit: request.limit }),
          repo.unreadCount(actor.id)
        ])
        return { ...page(rows, request.limit), unread_count }
      }).pipe(sqlErrors)

    /** Someone else's notification is as unknown as a missing one. */
    const markRead = (actor: Actor, id: NotificationId) =>
      Effect.flatMap(repo.markRead(actor.id, id), (found) =>
        found ? Effect.void : Effect.fail(NotFound.of("notification not found", "NOTIFICATION_NOT_FOUND"))
      ).pipe(sqlErrors)

    const markAllRead = (actor: Actor) => repo.markAllRead(actor.id).pipe(sqlErrors)

    return {
      relationship,
      follow,
      unfollow,
      block,
      unblock,
      followers: userList("followers"),
      following: userList("following"),
      blocked,
      feed,
      inbox,
      markRead,
      markAllRead
    } as const
  }),
  dependencies: [SocialRepo.Default, Blocks.Default, Notifications.Default]
}) {}
