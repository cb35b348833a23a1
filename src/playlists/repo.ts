import { SqlClient, type Statement } from "@effect/sql"
import { Effect, Option } from "effect"
import { rowLimit, type TimeCursor, timeCursorColumn } from "../platform/cursor.js"
import { isoMillisColumn } from "../platform/encoded-json.js"
import type { TrackId, Visibility } from "../tracks/schema.js"
import type { UserId } from "../users/schema.js"
import type { PlaylistAccess } from "./policy.js"
import type { Collaborator, CollaboratorRole, Playlist, PlaylistId, PlaylistItem, TrackSummary } from "./schema.js"

export interface PlaylistRow extends Playlist {
  /** The row's place in a newest-first list (see `timeCursorColumn`). */
  readonly cursor_at: string
}

/** Who is reading: tracks that are private to someone else are left out of what they see. */
export interface Viewer {
  readonly id: UserId | null
  readonly admin: boolean
}

interface ItemRow {
  /** Where the reader sees the entry: entries concealed from them are not numbered. */
  readonly position: number
  readonly added_by: UserId | null
  readonly added_at: Date
  readonly track_id: TrackId
  readonly creator_id: UserId
  readonly title: string
  readonly artist: string | null
  readonly genre: string | null
  readonly visibility: Visibility
  readonly status: TrackSummary["status"]
  readonly duration_ms: number
  readonly created_at: Date
}

const toItem = (r: ItemRow): PlaylistItem => ({
  position: r.position,
  added_by: r.added_by,
  added_at: r.added_at,
  track: {
    id: r.track_id,
    creator_id: r.creator_id,
    title: r.title,
    artist: r.artist,
    genre: r.genre,
    visibility: r.visibility,
    status: r.status,
    duration_ms: r.duration_ms,
    created_at: r.created_at
  }
})

export const toPlaylist = ({ cursor_at: _, ...playlist }: PlaylistRow): Playlist => playlist

/** An entry, and its position as the reader sees it: what a page's cursor holds. */
export interface PlaylistItemRow {
  readonly item: PlaylistItem
  readonly seen_position: number
}

export class PlaylistsRepo extends Effect.Service<PlaylistsRepo>()("veza/PlaylistsRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    /**
     * A playlist as `viewer` sees it (aliases p for playlists, c for the
     * viewer's collaboration, hidden for `concealedFrom`), placed in a list
     * by `cursorColumn`.
     */
    const columns = (viewer: Viewer, cursorColumn: string) => sql`
      p.id, p.user_id as owner_id, p.title, p.description, p.visibility, p.is_collaborative as collaborative,
      p.track_count - hidden.track_count as track_count, (p.total_duration_ms - hidden.duration_ms)::float8 as total_duration_ms,
      p.follower_count, p.created_at, p.updated_at,
      case when p.user_id = ${viewer.id} then 'owner' else c.role::text end as my_role,
      exists (select 1 from playlist_follows f where f.playlist_id = p.id and f.user_id = ${viewer.id}) as following,
      ${sql.literal(timeCursorColumn(cursorColumn))} as cursor_at`

    /** How many of playlist p's entries are concealed from `viewer`, and their length (see migration 0021). */
    const concealedFrom = (viewer: Viewer) => sql`
      cross join lateral (select count(*)::integer as track_count, coalesce(sum(e.duration_ms), 0)::bigint as duration_ms
                            from playlist_concealed_entries(p.id, ${viewer.id}, ${viewer.admin}) e) hidden`

    const afterCursor = (cursor: Option.Option<TimeCursor>, column: string) =>
      Option.match(cursor, {
        onNone: () => sql``,
        onSome: (c) => sql`and (${sql.literal(column)}, p.id) < (${c.at}::timestamptz, ${c.id}::uuid)`
      })

    const select = (viewer: Viewer, where: Statement.Fragment) =>
      sql<PlaylistRow>`
        select ${columns(viewer, "p.created_at")}
          from playlists p
          left join playlist_collaborators c on c.playlist_id = p.id and c.user_id = ${viewer.id}
          ${concealedFrom(viewer)}
         where p.deleted_at is null and ${where}`

    /** What deciding whether `viewer` may read the playlist needs, without its counts. */
    const access = (id: PlaylistId, viewer: UserId | null) =>
      sql<PlaylistAccess>`
        select p.visibility, p.is_collaborative as collaborative, case when p.user_id = ${viewer} then 'owner' else c.role::text end as my_role
          from playlists p left join playlist_collaborators c on c.playlist_id = p.id and c.user_id = ${viewer}
         where p.id = ${id} and p.deleted_at is null`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const findById = (id: PlaylistId, viewer: Viewer) =>
      select(viewer, sql`p.id = ${id}`).pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    /** A user's playlists, newest first; `all` includes unlisted and private ones (the owner's own view). */
    const listByOwner = (owner: UserId, viewer: Viewer, options: { all: boolean; after: Option.Option<TimeCursor>; limit: number }) =>
      select(
        viewer,
        sql`p.user_id = ${owner}
            ${options.all ? sql`` : sql`and p.visibility = 'public'`}
            ${afterCursor(options.after, "p.created_at")}
            order by p.created_at desc, p.id desc
            limit ${rowLimit(options.limit + 1)}`
      )

    /** Playlists the user follows and may still see, most recently followed first; the cursor is the follow's time. */
    const listFollowed = (user: Viewer & { id: UserId }, options: { after: Option.Option<TimeCursor>; limit: number }) =>
      sql<PlaylistRow>`
        select ${columns(user, "pf.created_at")}
          from playlist_follows pf
          join playlists p on p.id = pf.playlist_id and p.deleted_at is null
          left join playlist_collaborators c on c.playlist_id = p.id and c.user_id = ${user.id}
          ${concealedFrom(user)}
         where pf.user_id = ${user.id}
           and (p.visibility <> 'private' or p.user_id = ${user.id} or c.user_id is not null)
           ${afterCursor(options.after, "pf.created_at")}
         order by pf.created_at desc, p.id desc
         limit ${rowLimit(options.limit + 1)}`

    /** Playlists the user was invited to, most recent invitation first; the cursor is the invitation's time. */
    const listShared = (user: Viewer & { id: UserId }, options: { after: Option.Option<TimeCursor>; limit: number }) =>
      sql<PlaylistRow>`
        select ${columns(user, "c.created_at")}
          from playlist_collaborators c
          join playlists p on p.id = c.playlist_id and p.deleted_at is null
          ${concealedFrom(user)}
         where c.user_id = ${user.id}
           ${afterCursor(options.after, "c.created_at")}
         order by c.created_at desc, p.id desc
         limit ${rowLimit(options.limit + 1)}`

    const insert = (owner: UserId, p: { title: string; description: string | null; visibility: Visibility; collaborative: boolean }) =>
      sql<{ id: PlaylistId }>`
        insert into playlists (user_id, title, description, visibility, is_collaborative)
        values (${owner}, ${p.title}, ${p.description}, ${p.visibility}, ${p.collaborative})
        returning id`.pipe(Effect.map((rows) => rows[0]!.id))

    const update = (id: PlaylistId, patch: { title?: string | undefined; description?: string | null | undefined; visibility?: Visibility | undefined; collaborative?: boolean | undefined }) => {
      const set: Record<string, unknown> = {}
      if (patch.title !== undefined) set["title"] = patch.title
      if (patch.description !== undefined) set["description"] = patch.description
      if (patch.visibility !== undefined) set["visibility"] = patch.visibility
      if (patch.collaborative !== undefined) set["is_collaborative"] = patch.collaborative
      return Object.keys(set).length === 0 ? Effect.void : sql`update playlists set ${sql.update(set)} where id = ${id} and deleted_at is null`.pipe(Effect.asVoid)
    }

    const softDelete = (id: PlaylistId) => sql`update playlists set deleted_at = now() where id = ${id} and deleted_at is null`.pipe(Effect.asVoid)

    /** Whether `viewer` sees entry pt of track t: a track private or hidden to them is concealed. */
    const seenBy = (viewer: Viewer) => (viewer.admin ? sql`true` : sql`(not pt.track_concealed or t.creator_id = ${viewer.id})`)

    /**
     * Runs `body` holding the playlist's row lock: every edit of a playlist's
     * tracks goes through here, so they apply one after another and positions
     * stay 1..n. None when the playlist is gone.
     */
    const locked = <A, E, R>(id: PlaylistId, body: (trackCount: number) => Effect.Effect<A, E, R>) =>
      sql.withTransaction(
        Effect.flatMap(
          sql<{ track_count: number }>`select track_count from playlists where id = ${id} and deleted_at is null for update`,
          (rows) => (rows[0] === undefined ? Effect.succeed(Option.none<A>()) : Effect.map(body(rows[0].track_count), Option.some))
        )
      )

    /** The entry's stored position, if `viewer` sees it. */
    const positionOf = (playlist: PlaylistId, track: TrackId, viewer: Viewer) =>
      sql<{ position: number }>`
        select pt.position from playlist_tracks pt join tracks t on t.id = pt.track_id
         where pt.playlist_id = ${playlist} and pt.track_id = ${track} and ${seenBy(viewer)}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => r.position))
      )

    /**
     * Inserts at `position` (1..count+1), moving the entries from there down
     * by one; false when the track is deleted meanwhile. The track row is
     * share-locked first, so a concurrent delete (whose trigger empties the
     * track out of playlists) waits for this insert or comes before it.
     * Call under `locked`.
     */
    const insertAt = (playlist: PlaylistId, track: { id: TrackId; duration_ms: number }, position: number, addedBy: UserId) =>
      Effect.gen(function* () {
        const live = yield* sql`select 1 from tracks where id = ${track.id} and deleted_at is null for share`
        if (live.length === 0) return false
        yield* sql`update playlist_tracks set position = position + 1 where playlist_id = ${playlist} and position >= ${position}`
        yield* sql`insert into playlist_tracks (playlist_id, track_id, position, duration_ms, added_by)
                   values (${playlist}, ${track.id}, ${position}, ${track.duration_ms}, ${addedBy})`
        return true
      })

    /**
     * Moves an entry to `to`, the ones between shifting by one; one statement,
     * which reads the entry's current position itself, so what it shifts is
     * always consistent with where the entry is. Call under `locked`.
     */
    const move = (playlist: PlaylistId, track: TrackId, to: number) =>
      sql`
        with current as (select position as at from playlist_tracks where playlist_id = ${playlist} and track_id = ${track})
        update playlist_tracks pt
           set position = case when pt.track_id = ${track} then ${to}
                               when ${to} < current.at then pt.position + 1
                               else pt.position - 1 end
          from current
         where pt.playlist_id = ${playlist} and pt.position between least(current.at, ${to}) and greatest(current.at, ${to})`.pipe(Effect.asVoid)

    const isoMillis = (column: string) => sql.literal(isoMillisColumn(column))
    const seenPosition = sql`pt.position - (select count(*) from concealed where entry_position < pt.position)::integer`

    /**
     * The entries `viewer` sees (pt, t), as `columns`, each with its
     * position as the viewer sees it (`seenPosition`: the stored position
     * less the concealed entries before it). One statement, so the numbering
     * and the entries come from one snapshot; the concealed ones are read
     * once (materialized), not again for every entry.
     */
    const entries = <Row extends object>(playlist: PlaylistId, viewer: Viewer, columns: Statement.Fragment, where: Statement.Fragment, rest: Statement.Fragment = sql``) =>
      sql<Row & { seen_position: number }>`
        with concealed as materialized (select entry_position from playlist_concealed_entries(${playlist}, ${viewer.id}, ${viewer.admin}))
        select ${columns}, ${seenPosition} as seen_position
          from playlist_tracks pt join tracks t on t.id = pt.track_id
         where pt.playlist_id = ${playlist} and t.deleted_at is null and ${seenBy(viewer)} and ${where}
         ${rest}`

    const itemColumns = sql`${seenPosition} as position, pt.added_by, pt.added_at, t.id as track_id, t.creator_id, t.title, t.artist, t.genre,
                            t.visibility, t.status, t.duration_ms, t.created_at`

    /**
     * Each entry as its JSON text, fields named and ordered as `toItem`
     * writes them (test/platform/encoded-json.test.ts compares the two):
     * parsing 13 columns per entry into a row and stringifying it again was
     * most of the server's work for a page.
     */
    const itemJsonColumn = sql`(select row_to_json(e)::text
                                  from (select ${seenPosition} as position, pt.added_by, ${isoMillis("pt.added_at")} as added_at,
                                               (select row_to_json(s)
                                                  from (select t.id, t.creator_id, t.title, t.artist, t.genre, t.visibility, t.status, t.duration_ms,
                                                               ${isoMillis("t.created_at")} as created_at) s) as track) e) as json`

    /**
     * After the viewer's `afterPosition`-th entry: the cursor holds the
     * position they see, never the stored one (which would tell how many
     * entries are concealed before it). A stored position is never below the
     * seen one, so the first test bounds the index scan.
     */
    const pageOrder = (options: { afterPosition: number; limit: number }) =>
      [sql`pt.position > ${options.afterPosition} and ${seenPosition} > ${options.afterPosition}`, sql`order by pt.position limit ${rowLimit(options.limit + 1)}`] as const

    /** A page of the entries `viewer` sees, after their `afterPosition`-th. */
    const items = (playlist: PlaylistId, viewer: Viewer, options: { afterPosition: number; limit: number }) =>
      entries<ItemRow>(playlist, viewer, itemColumns, ...pageOrder(options)).pipe(
        Effect.map((rows) => rows.map((r): PlaylistItemRow => ({ item: toItem(r), seen_position: r.seen_position })))
      )

    /** `items`, each entry as JSON text. */
    const itemsJson = (playlist: PlaylistId, viewer: Viewer, options: { afterPosition: number; limit: number }) =>
      entries<{ json: string }>(playlist, viewer, itemJsonColumn, ...pageOrder(options))

    /** One entry as `viewer` may see it: a track that turned private or hidden since it was added is not shown. */
    const item = (playlist: PlaylistId, track: TrackId, viewer: Viewer) =>
      entries<ItemRow>(playlist, viewer, itemColumns, sql`pt.track_id = ${track}`).pipe(Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toItem)))

    /** The stored positions of the entries concealed from `viewer`, in order. */
    const concealedPositions = (playlist: PlaylistId, viewer: Viewer) =>
      sql<{ entry_position: number }>`select entry_position from playlist_concealed_entries(${playlist}, ${viewer.id}, ${viewer.admin}) order by entry_position`.pipe(
        Effect.map((rows) => rows.map((r) => r.entry_position))
      )

    /** Removes the entry if `viewer` sees it; the trigger closes the gap. Call under `locked`. */
    const remove = (playlist: PlaylistId, track: TrackId, viewer: Viewer) =>
      sql`delete from playlist_tracks pt using tracks t
           where pt.playlist_id = ${playlist} and pt.track_id = ${track} and t.id = pt.track_id and ${seenBy(viewer)}
          returning pt.id`.pipe(Effect.map((rows) => rows.length > 0))

    /**
     * A copy owned by `owner` holding the tracks the owner may see, in the
     * same order, renumbered 1..n. One statement reads the source, so a
     * concurrent edit of it is either wholly in the copy or not at all.
     */
    const duplicate = (source: PlaylistId, owner: Viewer & { id: UserId }, copy: { title: string; description: string | null; visibility: Visibility }) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const id = yield* insert(owner.id, { ...copy, collaborative: false })
          // As an add does: a track deleted meanwhile is waited for and left out, not copied after it left every playlist.
          yield* sql`select t.id from playlist_tracks pt join tracks t on t.id = pt.track_id
                      where pt.playlist_id = ${source} and t.deleted_at is null order by t.id for share of t`
          yield* sql`
            insert into playlist_tracks (playlist_id, track_id, position, duration_ms, added_by)
            select ${id}, pt.track_id, row_number() over (order by pt.position), pt.duration_ms, ${owner.id}
              from playlist_tracks pt join tracks t on t.id = pt.track_id
             where pt.playlist_id = ${source} and t.deleted_at is null and ${seenBy(owner)}`
          return id
        })
      )

    const collaboratorRole = (playlist: PlaylistId, user: UserId) =>
      sql<{ role: CollaboratorRole }>`select role from playlist_collaborators where playlist_id = ${playlist} and user_id = ${user}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => r.role))
      )

    const collaborators = (playlist: PlaylistId) =>
      sql<Collaborator>`
        select c.user_id, u.username, c.role, c.invited_by, c.created_at
          from playlist_collaborators c join users u on u.id = c.user_id
         where c.playlist_id = ${playlist} and u.deleted_at is null
         order by c.created_at, c.user_id`

    /** Adds the collaborator or changes their role; true when they were not one before. */
    const upsertCollaborator = (playlist: PlaylistId, user: UserId, role: CollaboratorRole, invitedBy: UserId) =>
      sql<{ inserted: boolean }>`
        insert into playlist_collaborators (playlist_id, user_id, role, invited_by)
        values (${playlist}, ${user}, ${role}, ${invitedBy})
        on conflict (playlist_id, user_id) do update set role = excluded.role
        returning (xmax = 0) as inserted`.pipe(Effect.map((rows) => rows[0]!.inserted))

    const removeCollaborator = (playlist: PlaylistId, user: UserId) =>
      sql`delete from playlist_collaborators where playlist_id = ${playlist} and user_id = ${user} returning id`.pipe(Effect.map((rows) => rows.length > 0))

    const follow = (playlist: PlaylistId, user: UserId) =>
      sql`insert into playlist_follows (playlist_id, user_id) values (${playlist}, ${user}) on conflict do nothing`.pipe(Effect.asVoid)
    const unfollow = (playlist: PlaylistId, user: UserId) =>
      sql`delete from playlist_follows where playlist_id = ${playlist} and user_id = ${user}`.pipe(Effect.asVoid)

    return {
      access,
      findById,
      listByOwner,
      listFollowed,
      listShared,
      insert,
      update,
      softDelete,
      locked,
      positionOf,
      insertAt,
      move,
      remove,
      items,
      itemsJson,
      item,
      concealedPositions,
      duplicate,
      collaboratorRole,
      collaborators,
      upsertCollaborator,
      removeCollaborator,
      follow,
      unfollow
    } as const
  })
}) {}
