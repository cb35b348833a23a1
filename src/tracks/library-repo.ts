import { SqlClient, type Statement } from "@effect/sql"
import { Effect, Option } from "effect"
import type { Actor } from "../auth/current-user.js"
import { rowLimit, type TimeCursor, timeCursorColumn } from "../platform/cursor.js"
import type { UserId } from "../users/schema.js"
import { type TrackJsonRow, type TrackRow, TracksRepo } from "./repo.js"
import type { Comment, CommentId, TrackId, UpdateTrack, Visibility } from "./schema.js"

export interface TrackFilters {
  readonly userId: UserId | undefined
  readonly genre: string | undefined
  readonly tags: ReadonlyArray<string>
  readonly visibility: Visibility | undefined
  readonly createdAfter: Date | undefined
  readonly createdBefore: Date | undefined
  readonly titlePrefix: string | undefined
}

interface CommentRow {
  readonly id: CommentId
  readonly track_id: TrackId
  readonly user_id: UserId
  readonly username: string
  readonly parent_id: CommentId | null
  readonly position_ms: number | null
  readonly content: string
  readonly edited_at: Date | null
  readonly created_at: Date
  readonly cursor_at: string
}

export interface HistoryRow extends TrackRow {
  readonly play_id: string
  readonly play_played_at: Date
  readonly play_played_ms: number | null
  readonly play_source: string | null
  readonly play_cursor_at: string
}

export interface PurgeRow {
  readonly id: string
  /** None when buyers keep the original (migration 0026). */
  readonly original_key: string | null
  readonly hls_prefix: string
  readonly attempts: number
}

/** Rows a sweep takes at once; a full batch means more may be due. */
export const PURGE_BATCH = 10

const toComment = (r: CommentRow): Comment => ({
  id: r.id,
  track_id: r.track_id,
  user_id: r.user_id,
  username: r.username,
  parent_id: r.parent_id,
  position_ms: r.position_ms,
  content: r.content,
  edited_at: r.edited_at,
  created_at: r.created_at
})

/** LIKE matches its pattern characters literally only when they are escaped. */
const likePrefix = (s: string) => `${s.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`

export class LibraryRepo extends Effect.Service<LibraryRepo>()("veza/TrackLibraryRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const tracks = yield* TracksRepo

    /**
     * Which tracks a list shows the viewer: everything to admins; their own
     * tracks to owners; to everyone else public tracks that can be played.
     * Private ones never appear for others, not even counted.
     */
    const listedFor = (viewer: Actor | undefined) =>
      viewer?.role === "admin"
        ? sql`true`
        : viewer === undefined
          ? sql`(t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null)`
          : sql`((t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null) or t.creator_id = ${viewer.id})`

    /**
     * A page of `limit + 1` tracks, newest first, each as `select` gives it
     * (`t` being the track). Filtered by tags alone (dates aside), the page
     * comes from `track_tags` (migration 0016): the next entries of each tag,
     * and the viewer's own other tracks, merged. Otherwise from `tracks`,
     * the tags (with other filters) a text[] parameter whose value the
     * planner sees.
     */
    const listed = <R extends object>(select: Statement.Fragment, viewer: Actor | undefined, f: TrackFilters, after: Option.Option<TimeCursor>, limit: number) => {
      const cursor = Option.getOrUndefined(after)
      const tags = [...f.tags]
      /** The date range and the cursor, on a row whose `created_at` and id are these. */
      const window = (createdAt: Statement.Fragment, id: Statement.Fragment) => sql`
             ${f.createdAfter === undefined ? sql`` : sql`and ${createdAt} > ${f.createdAfter}`}
             ${f.createdBefore === undefined ? sql`` : sql`and ${createdAt} < ${f.createdBefore}`}
             ${cursor === undefined ? sql`` : sql`and (${createdAt}, ${id}) < (${cursor.at}::timestamptz, ${cursor.id}::uuid)`}`
      const tagsOnly = tags.length > 0 && viewer?.role !== "admin" &&
        f.userId === undefined && f.genre === undefined && f.visibility === undefined && f.titlePrefix === undefined
      if (tagsOnly) {
        const ownOthers = viewer === undefined
          ? sql``
          : sql`union all (select t.id, t.created_at from tracks t
                             where t.creator_id = ${viewer.id} and t.deleted_at is null and not ${listedFor(undefined)}
                               and t.tags && ${tags}::text[] ${window(sql`t.created_at`, sql`t.id`)}
                             order by t.created_at desc, t.id desc
                             limit ${rowLimit(limit + 1)})`
        return sql<R>`
          with page as (
            select distinct m.id, m.created_at
              from ((select k.track_id as id, k.created_at
                       from unnest(${tags}::text[]) g(tag)
                       cross join lateral (select k.track_id, k.created_at from track_tags k
                                            where k.tag = g.tag ${window(sql`k.created_at`, sql`k.track_id`)}
                                            order by k.created_at desc, k.track_id desc
                                            limit ${rowLimit(limit + 1)}) k)
                    ${ownOthers}) m
             order by m.created_at desc, m.id desc
             limit ${rowLimit(limit + 1)})
          ${select} join page p on p.id = t.id
           order by p.created_at desc, p.id desc`
      }
      return sql<R>`
        ${select}
         where t.deleted_at is null and ${listedFor(viewer)}
           ${f.userId === undefined ? sql`` : sql`and t.creator_id = ${f.userId}`}
           ${f.genre === undefined ? sql`` : sql`and lower(t.genre) = ${f.genre.toLowerCase()}`}
           ${tags.length === 0 ? sql`` : sql`and t.tags && ${tags}::text[]`}
           ${f.visibility === undefined ? sql`` : sql`and t.visibility = ${f.visibility}`}
           ${f.titlePrefix === undefined ? sql`` : sql`and lower(t.title) like ${likePrefix(f.titlePrefix)}`}
           ${window(sql`t.created_at`, sql`t.id`)}
         order by t.created_at desc, t.id desc
         limit ${rowLimit(limit + 1)}`
    }

    const list = (viewer: Actor | undefined, f: TrackFilters, after: Option.Option<TimeCursor>, limit: number) =>
      listed<TrackRow>(tracks.selectTracks(viewer), viewer, f, after, limit)

    /** The same page with each track as its JSON text. */
    const listJson = (viewer: Actor | undefined, f: TrackFilters, after: Option.Option<TimeCursor>, limit: number) =>
      listed<TrackJsonRow>(tracks.selectTrackJson(viewer), viewer, f, after, limit)

    const update = (id: TrackId, patch: UpdateTrack) => {
      const changes = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
      return Object.keys(changes).length === 0
        ? Effect.void
        : sql`update tracks set ${sql.update(changes)} where id = ${id} and deleted_at is null`.pipe(Effect.asVoid)
    }

    /**
     * Marks the track deleted, drops the transcodes it no longer needs and
     * queues its files for removal, in one transaction; false when it was
     * already gone. A running transcode finishes first (the sweep waits for it).
     */
    const softDelete = (id: TrackId) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const deleted = yield* sql<{ storage_key: string }>`
            update tracks set deleted_at = now() where id = ${id} and deleted_at is null returning storage_key`
          if (deleted.length === 0) return false
          yield* sql`
            update transcode_jobs set status = 'failed', last_error = 'track deleted', finished_at = now()
             where track_id = ${id} and status = 'queued'`
          // The products selling it are locked as a checkout locks them: one in flight commits its order
          // first (and is seen here), or reads the track deleted and refuses (see MarketRepo.saleLines).
          yield* sql`select 1 from products where track_id = ${id} order by id for update`
          const [kept] = yield* sql<{ original_kept: boolean }>`
            update tracks set original_kept = exists (
                     select 1 from products p join order_items i on i.product_id = p.id join orders o on o.id = i.order_id
                      where p.track_id = ${id} and o.status in ('paid', 'pending'))
             where id = ${id} returning original_kept`
          yield* sql`
            insert into track_storage_purges (track_id, original_key, hls_prefix)
            values (${id}, ${kept!.original_kept ? null : deleted[0]!.storage_key}, ${`hls/${id}/`})`
          return true
        })
      )

    const likeCount = (id: TrackId) =>
      sql<{ like_count: number }>`select like_count from tracks where id = ${id}`.pipe(Effect.map((rows) => rows[0]?.like_count ?? 0))

    /** The count after the like, and whether this like is new (a repeat changes nothing). */
    const like = (id: TrackId, user: UserId) =>
      sql`insert into track_likes (user_id, track_id) values (${user}, ${id}) on conflict do nothing returning user_id`.pipe(
        Effect.flatMap((rows) => Effect.map(likeCount(id), (count) => ({ count, added: rows.length > 0 })))
      )

    const unlike = (id: TrackId, user: UserId) =>
      sql`delete from track_likes where user_id = ${user} and track_id = ${id}`.pipe(Effect.zipRight(likeCount(id)))

    const commentColumns = sql`
      c.id, c.track_id, c.user_id, u.username, c.parent_id, c.position_ms, c.content, c.edited_at, c.created_at,
      ${sql.literal(timeCursorColumn("c.created_at"))} as cursor_at`

    /**
     * A moderator's hide or unhide; false when the track is gone or already
     * in that state. A track its creator's ban hid is the moderator's once
     * they hide it (lifting the ban leaves it hidden); one they unhide while
     * the ban lasts goes back to the ban, hidden until it is lifted.
     */
    const setHidden = (id: TrackId, hidden: boolean) =>
      (hidden
        ? sql`update tracks set hidden_at = coalesce(hidden_at, now()), hidden_by_ban = false
               where id = ${id} and deleted_at is null and (hidden_at is null or hidden_by_ban)
               returning id`
        : sql`update tracks t set hidden_at = case when u.is_banned then t.hidden_at end, hidden_by_ban = u.is_banned
                from users u
               where t.id = ${id} and u.id = t.creator_id and t.deleted_at is null and t.hidden_at is not null
               returning t.id`
      ).pipe(Effect.map((rows) => rows.length > 0))

    const commentById = (id: CommentId) =>
      sql<CommentRow>`
        select ${commentColumns} from track_comments c join users u on u.id = c.user_id
         where c.id = ${id} and c.deleted_at is null`.pipe(Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toComment)))

    /**
     * Stores the comment unless its parent is no longer a live top-level
     * comment of this track (the check and the insert are one statement).
     */
    const insertComment = (c: { track: TrackId; user: UserId; parent: CommentId | null; positionMs: number | null; content: string }) =>
      sql<{ id: CommentId }>`
        insert into track_comments (track_id, user_id, parent_id, position_ms, content)
        select ${c.track}, ${c.user}, ${c.parent}::uuid, ${c.positionMs}::integer, ${c.content}
         where ${c.parent}::uuid is null
            or exists (select 1 from track_comments p
                        where p.id = ${c.parent}::uuid and p.track_id = ${c.track} and p.parent_id is null and p.deleted_at is null)
        returning id`.pipe(Effect.map((rows) => Option.fromNullable(rows[0]?.id)))

    /** Oldest first: a thread reads in the order it was written. */
    const listComments = (track: TrackId, after: Option.Option<TimeCursor>, limit: number) => {
      const cursor = Option.getOrUndefined(after)
      return sql<CommentRow>`
        select ${commentColumns} from track_comments c join users u on u.id = c.user_id
         where c.track_id = ${track} and c.deleted_at is null
           ${cursor === undefined ? sql`` : sql`and (c.created_at, c.id) > (${cursor.at}::timestamptz, ${cursor.id}::uuid)`}
         order by c.created_at, c.id
         limit ${rowLimit(limit + 1)}`.pipe(Effect.map((rows) => rows.map((r) => ({ comment: toComment(r), cursorAt: r.cursor_at }))))
    }

    const editComment = (id: CommentId, content: string) =>
      sql`update track_comments set content = ${content}, edited_at = now() where id = ${id} and deleted_at is null returning id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    /** A top-level comment takes its replies with it. */
    const deleteComment = (id: CommentId) =>
      sql`update track_comments set deleted_at = now() where (id = ${id} or parent_id = ${id}) and deleted_at is null returning id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    /**
     * Counts a play unless this listener's last counted play of the track is
     * within the window. The listener row's upsert is the arbiter: concurrent
     * plays of one listener queue on it, and only the first is counted.
     */
    const recordPlay = (p: { track: TrackId; listenerKey: string; user: UserId | null; windowSeconds: number; playedMs: number | null; source: string | null }) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const counted = yield* sql`
            insert into track_listeners (track_id, listener_key, user_id, play_count)
            values (${p.track}, ${p.listenerKey}, ${p.user}, 1)
            on conflict (track_id, listener_key) do update
               set play_count = track_listeners.play_count + 1, last_counted_at = now()
             where track_listeners.last_counted_at <= now() - ${p.windowSeconds} * interval '1 second'
            returning id`
          if (counted.length > 0) {
            yield* sql`
              insert into track_plays (track_id, user_id, played_ms, source)
              values (${p.track}, ${p.user}, ${p.playedMs}, ${p.source})`
          }
          const [row] = yield* sql<{ play_count: number }>`select play_count from tracks where id = ${p.track}`
          return { counted: counted.length > 0, play_count: row?.play_count ?? 0 }
        })
      )

    const stats = (track: TrackId) =>
      sql<{ play_count: number; like_count: number; comment_count: number; unique_listeners: number }>`
        select t.play_count, t.like_count, t.comment_count,
               (select count(*)::int from track_listeners l where l.track_id = t.id) as unique_listeners
          from tracks t where t.id = ${track}`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    /** The user's counted plays, newest first, of tracks that still exist and that the user may still see. */
    const history = (viewer: Actor, after: Option.Option<TimeCursor>, limit: number) => {
      const cursor = Option.getOrUndefined(after)
      return sql<HistoryRow>`
        select tr.*, p.id as play_id, p.played_at as play_played_at, p.played_ms as play_played_ms, p.source as play_source,
               ${sql.literal(timeCursorColumn("p.played_at"))} as play_cursor_at
          from track_plays p
          join lateral (
            ${tracks.selectTracks(viewer)}
             where t.id = p.track_id and t.deleted_at is null
               ${viewer.role === "admin" ? sql`` : sql`and ((t.visibility <> 'private' and t.hidden_at is null) or t.creator_id = ${viewer.id})`}
          ) tr on true
         where p.user_id = ${viewer.id}
           ${cursor === undefined ? sql`` : sql`and (p.played_at, p.id) < (${cursor.at}::timestamptz, ${cursor.id}::uuid)`}
         order by p.played_at desc, p.id desc
         limit ${rowLimit(limit + 1)}`
    }

    const createShare = (track: TrackId, user: UserId, tokenHash: string, expiresAt: Date | null) =>
      sql`insert into track_share_links (track_id, created_by, token_hash, expires_at) values (${track}, ${user}, ${tokenHash}, ${expiresAt})`.pipe(
        Effect.asVoid
      )

    const sharedTrackId = (tokenHash: string) =>
      sql<{ track_id: TrackId }>`
        select track_id from track_share_links
         where token_hash = ${tokenHash} and revoked_at is null and (expires_at is null or expires_at > now())`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]?.track_id))
      )

    const revokeShare = (track: TrackId, tokenHash: string) =>
      sql`update track_share_links set revoked_at = now() where track_id = ${track} and token_hash = ${tokenHash} and revoked_at is null returning id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    /**
     * Removes the storage of deleted tracks that is due, a few rows at a
     * time, each locked until its files are gone: a failure reschedules it
     * with backoff, and two sweepers never work on the same row. A track
     * whose transcode still runs waits, so its publication is removed too.
     */
    const sweepPurges = <E>(remove: (row: PurgeRow) => Effect.Effect<void, E>, retryBaseMs: number) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const due = yield* sql<PurgeRow>`
            select p.id, p.original_key, p.hls_prefix, p.attempts from track_storage_purges p
             where p.run_after <= now()
               and not exists (select 1 from transcode_jobs j
                                where j.track_id = p.track_id and j.status = 'running' and j.lease_expires_at > now())
             order by p.run_after limit ${rowLimit(PURGE_BATCH)}
               for update of p skip locked`
          for (const row of due) {
            const removed = yield* Effect.either(remove(row))
            if (removed._tag === "Right") {
              yield* sql`delete from track_storage_purges where id = ${row.id}`
            } else {
              yield* Effect.logWarning("removing a deleted track's files failed; retrying later", removed.left)
              yield* sql`
                update track_storage_purges
                   set attempts = attempts + 1, last_error = ${String((removed.left as { message?: unknown }).message ?? removed.left)},
                       run_after = now() + least(${retryBaseMs} * power(2, least(attempts, 10)), 3600000) * interval '1 millisecond'
                 where id = ${row.id}`
            }
          }
          return due.length
        })
      )

    return {
      list,
      listJson,
      update,
      softDelete,
      setHidden,
      like,
      unlike,
      commentById,
      insertComment,
      listComments,
      editComment,
      deleteComment,
      recordPlay,
      stats,
      history,
      createShare,
      sharedTrackId,
      revokeShare,
      sweepPurges
    } as const
  }),
  dependencies: [TracksRepo.Default]
}) {}
