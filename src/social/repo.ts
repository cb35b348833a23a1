import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { rowLimit, type TimeCursor, timeCursorColumn } from "../platform/cursor.js"
import type { UserId } from "../users/schema.js"
import type { FeedItem, Notification, NotificationId, NotificationType, UserListEntry } from "./schema.js"

/** A listed row with its place in a newest-first list (see `timeCursorColumn`). */
export type Listed<A> = A & { readonly cursor_at: string; readonly cursor_id: string }

interface NotificationRow {
  readonly id: NotificationId
  readonly type: NotificationType
  readonly actor_id: UserId | null
  readonly actor_username: string | null
  readonly payload: Record<string, unknown>
  readonly read_at: Date | null
  readonly created_at: Date
  readonly cursor_at: string
}

const toNotification = (r: NotificationRow): Listed<Notification> => ({
  id: r.id,
  type: r.type,
  actor_id: r.actor_id,
  actor_username: r.actor_username,
  payload: r.payload,
  read: r.read_at !== null,
  created_at: r.created_at,
  cursor_at: r.cursor_at,
  cursor_id: r.id
})

export class SocialRepo extends Effect.Service<SocialRepo>()("veza/SocialRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const after = (cursor: Option.Option<TimeCursor>, at: string, id: string) =>
      Option.match(cursor, {
        onNone: () => sql``,
        onSome: (c) => sql`and (${sql.literal(at)}, ${sql.literal(id)}) < (${c.at}::timestamptz, ${c.id}::uuid)`
      })

    const blockedBetween = (a: UserId, b: UserId) =>
      sql`(blocker_id = ${a} and blocked_id = ${b}) or (blocker_id = ${b} and blocked_id = ${a})`

    const isBlocked = (a: UserId, b: UserId) =>
      sql<{ blocked: boolean }>`select exists (select 1 from blocks where ${blockedBetween(a, b)}) as blocked`.pipe(Effect.map((rows) => rows[0]!.blocked))

    /**
     * Follows and blocks between two users take one lock on the pair first:
     * otherwise a follow and a block committing at the same moment could each
     * miss the other, leaving a follow that outlives the block.
     */
    const pairLocked = <A, E, R>(a: UserId, b: UserId, effect: Effect.Effect<A, E, R>) =>
      sql.withTransaction(Effect.zipRight(sql`select pg_advisory_xact_lock(hashtextextended(${a < b ? `${a}:${b}` : `${b}:${a}`}, 0))`, effect))

    /** True when this call created the follow; a block between the two makes it a no-op. */
    const follow = (follower: UserId, following: UserId) =>
      pairLocked(
        follower,
        following,
        sql`
          insert into follows (follower_id, following_id)
          select ${follower}, ${following} where not exists (select 1 from blocks where ${blockedBetween(follower, following)})
          on conflict do nothing returning id`.pipe(Effect.map((rows) => rows.length > 0))
      )

    const unfollow = (follower: UserId, following: UserId) =>
      sql`delete from follows where follower_id = ${follower} and following_id = ${following}`.pipe(Effect.asVoid)

    /** The trigger removes follows both ways in the same statement. */
    const block = (blocker: UserId, blocked: UserId) =>
      pairLocked(blocker, blocked, sql`insert into blocks (blocker_id, blocked_id) values (${blocker}, ${blocked}) on conflict do nothing`.pipe(Effect.asVoid))

    const unblock = (blocker: UserId, blocked: UserId) =>
      sql`delete from blocks where blocker_id = ${blocker} and blocked_id = ${blocked}`.pipe(Effect.asVoid)

    const relationship = (viewer: UserId, other: UserId) =>
      sql<{ following: boolean; followed_by: boolean; blocking: boolean }>`
        select exists (select 1 from follows where follower_id = ${viewer} and following_id = ${other}) as following,
               exists (select 1 from follows where follower_id = ${other} and following_id = ${viewer}) as followed_by,
               exists (select 1 from blocks where blocker_id = ${viewer} and blocked_id = ${other}) as blocking`.pipe(Effect.map((rows) => rows[0]!))

    const userList = (join: "follower_id" | "following_id" | "blocked_id", table: "follows" | "blocks", where: "following_id" | "follower_id" | "blocker_id", user: UserId, cursor: Option.Option<TimeCursor>, limit: number) =>
      sql<Listed<UserListEntry>>`
        select u.id, u.username, u.display_name, p.avatar_url, x.created_at as since,
               ${sql.literal(timeCursorColumn("x.created_at"))} as cursor_at, u.id as cursor_id
          from ${sql(table)} x
          join users u on u.id = x.${sql(join)} and u.deleted_at is null
          join user_profiles p on p.user_id = u.id
         where x.${sql(where)} = ${user} ${after(cursor, "x.created_at", `x.${join}`)}
         order by x.created_at desc, x.${sql(join)} desc
         limit ${rowLimit(limit + 1)}`

    const followers = (user: UserId, cursor: Option.Option<TimeCursor>, limit: number) => userList("follower_id", "follows", "following_id", user, cursor, limit)
    const following = (user: UserId, cursor: Option.Option<TimeCursor>, limit: number) => userList("following_id", "follows", "follower_id", user, cursor, limit)
    const blocked = (user: UserId, cursor: Option.Option<TimeCursor>, limit: number) => userList("blocked_id", "blocks", "blocker_id", user, cursor, limit)

    /**
     * Public, playable tracks of the people the viewer follows, newest first.
     * Served by the follows index and tracks' (creator_id, created_at) index.
     */
    const feed = (viewer: UserId, cursor: Option.Option<TimeCursor>, limit: number) =>
      sql<Listed<FeedItem>>`
        select t.id, t.creator_id, u.username as creator_username, t.title, t.artist, t.genre, t.visibility, t.status,
               t.duration_ms, t.created_at, t.published_at,
               ${sql.literal(timeCursorColumn("t.created_at"))} as cursor_at, t.id as cursor_id
          from follows f
          join tracks t on t.creator_id = f.following_id
          join users u on u.id = t.creator_id and u.deleted_at is null
         where f.follower_id = ${viewer}
           and t.deleted_at is null and t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null
           ${after(cursor, "t.created_at", "t.id")}
         order by t.created_at desc, t.id desc
         limit ${rowLimit(limit + 1)}`

    const selectNotifications = sql.literal(`
      select n.id, n.type, n.actor_id, a.username as actor_username, n.payload, n.read_at, n.created_at,
             ${timeCursorColumn("n.created_at")} as cursor_at
        from notifications n left join users a on a.id = n.actor_id`)

    const insertNotification = (user: UserId, type: NotificationType, actor: UserId | null, payload: Record<string, unknown>) =>
      sql<NotificationRow>`
        with n as (
          insert into notifications (user_id, type, actor_id, payload)
          values (${user}, ${type}, ${actor}, ${JSON.stringify(payload)}::jsonb)
          returning *)
        select n.id, n.type, n.actor_id, a.username as actor_username, n.payload, n.read_at, n.created_at,
               ${sql.literal(timeCursorColumn("n.created_at"))} as cursor_at
          from n left join users a on a.id = n.actor_id`.pipe(Effect.map((rows) => toNotification(rows[0]!)))

    const notifications = (user: UserId, options: { unreadOnly: boolean; cursor: Option.Option<TimeCursor>; limit: number }) =>
      sql<NotificationRow>`
        ${selectNotifications}
         where n.user_id = ${user} ${options.unreadOnly ? sql`and n.read_at is null` : sql``}
           ${after(options.cursor, "n.created_at", "n.id")}
         order by n.created_at desc, n.id desc
         limit ${rowLimit(options.limit + 1)}`.pipe(Effect.map((rows) => rows.map(toNotification)))

    const unreadCount = (user: UserId) =>
      sql<{ n: number }>`select count(*)::int as n from notifications where user_id = ${user} and read_at is null`.pipe(Effect.map((rows) => rows[0]!.n))

    /** False when the notification is not the user's (or does not exist). */
    const markRead = (user: UserId, id: NotificationId) =>
      sql`
        update notifications set read_at = coalesce(read_at, now())
         where id = ${id} and user_id = ${user} returning id`.pipe(Effect.map((rows) => rows.length > 0))

    const markAllRead = (user: UserId) =>
      sql`update notifications set read_at = now() where user_id = ${user} and read_at is null`.pipe(Effect.asVoid)

    return {
      isBlocked,
      pairLocked,
      relationship,
      follow,
      unfollow,
      block,
      unblock,
      followers,
      following,
      blocked,
      feed,
      insertNotification,
      notifications,
      unreadCount,
      markRead,
      markAllRead
    } as const
  })
}) {}
