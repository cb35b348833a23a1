import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type { Actor } from "../auth/current-user.js"
import { isAdmin } from "../auth/policy.js"
import { timeCursorColumn } from "../platform/cursor.js"
import { isoMillisColumn } from "../platform/encoded-json.js"
import type { UserId } from "../users/schema.js"
import type { Track, TrackId, TrackStatus, Visibility } from "./schema.js"

export interface TrackRow {
  readonly id: TrackId
  readonly creator_id: UserId
  readonly title: string
  readonly description: string | null
  readonly artist: string | null
  readonly album: string | null
  readonly genre: string | null
  readonly tags: ReadonlyArray<string>
  readonly visibility: Visibility
  /** Set while a moderator hides the track. */
  readonly hidden_at: Date | null
  readonly is_downloadable: boolean
  readonly status: TrackStatus
  readonly duration_ms: number
  readonly codec: string
  readonly sample_rate: number | null
  readonly channels: number | null
  readonly bit_rate: number | null
  readonly file_size: number
  readonly original_filename: string
  readonly waveform: ReadonlyArray<number> | null
  readonly published_at: Date | null
  readonly created_at: Date
  readonly updated_at: Date
  readonly like_count: number
  readonly comment_count: number
  readonly play_count: number
  readonly liked_by_me: boolean
  /** created_at at microsecond precision (a JS Date keeps milliseconds): what list cursors carry. */
  readonly cursor_at: string
  readonly renditions: ReadonlyArray<{ bitrate_kbps: number; bandwidth: number; average_bandwidth: number; codecs: string }>
  /** The latest transcode; read only for a viewer who owns the track or is an admin (null for others). */
  readonly job: {
    status: "queued" | "running" | "done" | "failed"
    progress: number
    attempts: number
    max_attempts: number
    last_error: string | null
    updated_at: string
  } | null
}

/** A track as its JSON text, and its list cursor's position. */
export interface TrackJsonRow {
  readonly json: string
  readonly id: TrackId
  readonly cursor_at: string
}

export interface NewTrack {
  readonly id: TrackId
  readonly creatorId: UserId
  readonly title: string
  readonly visibility: Visibility
  readonly originalFilename: string
  readonly formatName: string
  readonly fileSize: number
  readonly storageBackend: "local" | "s3"
  readonly storageKey: string
  readonly durationMs: number
  readonly codec: string
  readonly sampleRate: number | null
  readonly channels: number | null
  readonly bitRate: number | null
}

/** What the HLS server needs to decide who may fetch a track's files. */
export interface TrackAccess {
  readonly creatorId: UserId
  readonly visibility: Visibility
  /** The published HLS prefix; None until the first transcode is published. */
  readonly hlsPrefix: Option.Option<string>
}

export const hlsPath = (id: TrackId) => `/hls/${id}/master.m3u8`

/** `includeTranscode`: the owner's (and admins') view carries the job's progress and errors. */
export const toTrack = (r: TrackRow, includeTranscode: boolean): Track => ({
  id: r.id,
  creator_id: r.creator_id,
  title: r.title,
  description: r.description,
  artist: r.artist,
  album: r.album,
  genre: r.genre,
  tags: r.tags,
  visibility: r.visibility,
  is_downloadable: r.is_downloadable,
  status: r.status,
  duration_ms: r.duration_ms,
  codec: r.codec,
  sample_rate: r.sample_rate,
  channels: r.channels,
  bit_rate: r.bit_rate,
  file_size: r.file_size,
  original_filename: r.original_filename,
  hls_url: r.status === "ready" ? hlsPath(r.id) : null,
  waveform: r.waveform,
  renditions: r.renditions,
  like_count: r.like_count,
  comment_count: r.comment_count,
  play_count: r.play_count,
  liked_by_me: r.liked_by_me,
  ...(includeTranscode
    ? {
        transcode: r.job === null ? null : { ...r.job, last_error: r.job.last_error, updated_at: new Date(r.job.updated_at) },
        hidden_at: r.hidden_at
      }
    : {}),
  published_at: r.published_at,
  created_at: r.created_at,
  updated_at: r.updated_at
})

/** Who a track's original is handed to (see `TracksRepo.original`). */
export type OriginalReader = "owner" | "listener" | "buyer"

export class TracksRepo extends Effect.Service<TracksRepo>()("veza/TracksRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const latestJob = sql`(select json_build_object('status', j.status, 'progress', j.progress, 'attempts', j.attempts,
                                         'max_attempts', j.max_attempts, 'last_error', j.last_error, 'updated_at', j.updated_at)
                  from transcode_jobs j where j.track_id = t.id order by j.created_at desc limit 1)`

    /** A track's place in a newest-first list (the list cursor's `at`). */
    const cursorAt = sql.literal(timeCursorColumn("t.created_at"))

    const likedByMe = (viewer: Actor | undefined) =>
      viewer === undefined ? sql`false` : sql`exists (select 1 from track_likes l where l.track_id = t.id and l.user_id = ${viewer.id})`

    /**
     * Every column a Track needs, `t` being the track; `viewer` decides
     * liked_by_me and whether the transcode job is read at all (only the
     * owner's and admins' view shows it: a public list skips a lookup and a
     * JSON value per row).
     */
    const selectTracks = (viewer: Actor | undefined) => sql`
        select t.id, t.creator_id, t.title, t.description, t.artist, t.album, t.genre, t.tags, t.visibility, t.hidden_at,
               t.is_downloadable, t.status, t.duration_ms, t.codec, t.sample_rate, t.channels, t.bit_rate,
               t.file_size::float8 as file_size, t.original_filename, t.waveform, t.published_at, t.created_at, t.updated_at,
               t.like_count, t.comment_count, t.play_count,
               ${likedByMe(viewer)} as liked_by_me,
               ${cursorAt} as cursor_at,
               t.renditions,
               ${viewer === undefined ? sql`null::json` : isAdmin(viewer) ? latestJob : sql`case when t.creator_id = ${viewer.id} then ${latestJob} end`} as job
          from tracks t`

    const isoMillis = (column: string) => sql.literal(isoMillisColumn(column))

    /** The owner's and admins' fields of a track's JSON, `,"transcode":…,"hidden_at":…`. */
    const ownerJson = sql`',"transcode":' || coalesce((select row_to_json(s)::text
                                                 from (select j.status, j.progress, j.attempts, j.max_attempts, j.last_error,
                                                              ${isoMillis("j.updated_at")} as updated_at
                                                         from transcode_jobs j where j.track_id = t.id order by j.created_at desc limit 1) s), 'null')
                          || ',"hidden_at":' || coalesce('"' || ${isoMillis("t.hidden_at")} || '"', 'null')`

    /**
     * Each track as its JSON text (`json`), for reads answered as text
     * without parsing rows into objects and stringifying them again: that
     * was most of the server's CPU for a page (~25 µs per track for `pg` to
     * build a 30-column row, timestamps and arrays parsed, then
     * `JSON.stringify`). Its fields are named and ordered as `toTrack` writes
     * them: the row keeps the parts only an edit changes (`json_head`,
     * `json_tail`, migration 0015), and this adds the counters,
     * `liked_by_me` and the owner's view (`transcode` and `hidden_at`). The
     * bytes are those of the `selectTracks` → `toTrack` path
     * (test/platform/encoded-json.test.ts compares both on real rows, after
     * edits too), which RPC still uses. `selectTrackJson` adds what list
     * cursors need, `t` being the track.
     */
    const trackJson = (viewer: Actor | undefined) => {
      const owner = viewer === undefined ? sql`` : isAdmin(viewer) ? sql`|| ${ownerJson}` : sql`|| case when t.creator_id = ${viewer.id} then ${ownerJson} else '' end`
      return sql`t.json_head || ',"like_count":' || t.like_count || ',"comment_count":' || t.comment_count || ',"play_count":' || t.play_count
               || ',"liked_by_me":' || ${likedByMe(viewer)} ${owner}
               || t.json_tail`
    }
    const selectTrackJson = (viewer: Actor | undefined) => sql`select ${trackJson(viewer)} as json, t.id, ${cursorAt} as cursor_at from tracks t`

    /** A track as `selectTrackJson` writes it, with what deciding who may see it needs. */
    const findJsonById = (id: TrackId, viewer: Actor | undefined) =>
      sql<{ json: string; creator_id: UserId; visibility: Visibility; hidden_at: Date | null }>`
        select ${trackJson(viewer)} as json, t.creator_id, t.visibility, t.hidden_at
          from tracks t where t.id = ${id} and t.deleted_at is null`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const findById = (id: TrackId, viewer: Actor | undefined) =>
      sql<TrackRow>`${selectTracks(viewer)} where t.id = ${id} and t.deleted_at is null`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    /** The track row and its first transcode job, in one transaction: no track without a job. */
    const insertWithJob = (t: NewTrack, maxAttempts: number) =>
      sql.withTransaction(
        Effect.gen(function* () {
          yield* sql`
            insert into tracks (id, creator_id, title, visibility, original_filename, format_name, file_size,
                                storage_backend, storage_key, duration_ms, codec, sample_rate, channels, bit_rate)
            values (${t.id}, ${t.creatorId}, ${t.title}, ${t.visibility}, ${t.originalFilename}, ${t.formatName},
                    ${t.fileSize}, ${t.storageBackend}, ${t.storageKey}, ${t.durationMs}, ${t.codec}, ${t.sampleRate},
                    ${t.channels}, ${t.bitRate})`
          yield* sql`insert into transcode_jobs (track_id, max_attempts) values (${t.id}, ${maxAttempts})`
        })
      )

    /**
     * Queues a fresh transcode unless one is already queued or running (false
     * then). A track that never got published is `processing` again.
     */
    const requeue = (id: TrackId, maxAttempts: number) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const queued = yield* sql<{ id: string }>`
            insert into transcode_jobs (track_id, max_attempts)
            select ${id}, ${maxAttempts} where not exists (
              select 1 from transcode_jobs where track_id = ${id} and status in ('queued', 'running'))
            on conflict do nothing
            returning id`
          if (queued.length === 0) return false
          yield* sql`update tracks set status = 'processing' where id = ${id} and hls_prefix is null`
          return true
        })
      )

    // A hidden track is served as a private one.
    const access = (id: string) =>
      sql<{ creator_id: UserId; visibility: Visibility; hls_prefix: string | null }>`
        select creator_id, case when hidden_at is null then visibility else 'private' end as visibility, hls_prefix
          from tracks where id = ${id} and deleted_at is null`.pipe(
        Effect.map((rows) =>
          Option.map(Option.fromNullable(rows[0]), (r): TrackAccess => ({
            creatorId: r.creator_id,
            visibility: r.visibility,
            hlsPrefix: Option.fromNullable(r.hls_prefix)
          }))
        )
      )

    /**
     * Where a track's original upload lives, if it may be handed `to`:
     * - `owner` (the owner's or an admin's download link): while the track is not deleted;
     * - `listener` (anyone else's link): while anyone may still download it, neither private nor hidden and downloadable;
     * - `buyer` (a marketplace product selling it): unless a moderator hid it, or it was deleted without a buyer
     *   (whose original was then purged, migration 0026); a creator's ban does not take what buyers paid for.
     */
    const original = (id: TrackId, to: OriginalReader) =>
      sql<{ storage_key: string; original_filename: string; file_size: number }>`
        select t.storage_key, t.original_filename, t.file_size::float8 as file_size from tracks t
         where t.id = ${id} and ${
           to === "owner"
             ? sql`t.deleted_at is null`
             : to === "listener"
               ? sql`t.deleted_at is null and t.visibility <> 'private' and t.hidden_at is null and t.is_downloadable`
               : sql`(t.hidden_at is null or t.hidden_by_ban) and (t.deleted_at is null or t.original_kept)`
         }`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    return { selectTracks, selectTrackJson, findById, findJsonById, insertWithJob, requeue, access, original } as const
  })
}) {}
