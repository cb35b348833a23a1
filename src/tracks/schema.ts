import { Schema } from "effect"
import { StoredText } from "../platform/text.js"
import { UserId } from "../users/schema.js"

export const TrackId = Schema.UUID.pipe(Schema.brand("TrackId"))
export type TrackId = typeof TrackId.Type

export const Visibility = Schema.Literal("public", "unlisted", "private")
export type Visibility = typeof Visibility.Type

export const TrackStatus = Schema.Literal("processing", "ready", "failed")
export type TrackStatus = typeof TrackStatus.Type

export const TranscodeJobStatus = Schema.Literal("queued", "running", "done", "failed")

export const TrackTitle = StoredText.pipe(
  Schema.transform(Schema.String, { strict: true, decode: (s) => s.trim(), encode: (s) => s }),
  Schema.minLength(1, { message: () => "title must not be blank" }),
  Schema.maxLength(255, { message: () => "title must be at most 255 characters" })
)

/** The upload form's text fields (the file travels beside them). */
export const UploadFields = Schema.Struct({
  title: Schema.optional(TrackTitle),
  visibility: Schema.optional(Visibility)
})
export type UploadFields = typeof UploadFields.Type

export const Rendition = Schema.Struct({
  bitrate_kbps: Schema.Int,
  bandwidth: Schema.Int,
  average_bandwidth: Schema.Int,
  codecs: Schema.String
}).annotations({ identifier: "Rendition" })

/** How the track's current or last transcode is going; only its owner (or an admin) sees it. */
export const TranscodeState = Schema.Struct({
  status: TranscodeJobStatus,
  progress: Schema.Int,
  attempts: Schema.Int,
  max_attempts: Schema.Int,
  last_error: Schema.NullOr(Schema.String),
  updated_at: Schema.Date
}).annotations({ identifier: "TranscodeState" })

export const Track = Schema.Struct({
  id: TrackId,
  creator_id: UserId,
  title: Schema.String,
  description: Schema.NullOr(Schema.String),
  artist: Schema.NullOr(Schema.String),
  album: Schema.NullOr(Schema.String),
  genre: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  visibility: Visibility,
  is_downloadable: Schema.Boolean,
  status: TrackStatus,
  duration_ms: Schema.Int,
  codec: Schema.String,
  sample_rate: Schema.NullOr(Schema.Int),
  channels: Schema.NullOr(Schema.Int),
  bit_rate: Schema.NullOr(Schema.Int),
  file_size: Schema.Int,
  original_filename: Schema.String,
  /** Relative to the server; public tracks play from it directly, others need `stream-url`. */
  hls_url: Schema.NullOr(Schema.String),
  /** Peak amplitude per slice of the track, 0..1. */
  waveform: Schema.NullOr(Schema.Array(Schema.Number)),
  renditions: Schema.Array(Rendition),
  like_count: Schema.Int,
  comment_count: Schema.Int,
  play_count: Schema.Int,
  /** Whether the caller likes it; false for anonymous callers. */
  liked_by_me: Schema.Boolean,
  transcode: Schema.optional(Schema.NullOr(TranscodeState)),
  /** Owner's and admins' view: when a moderator hid the track (others cannot see it then), or null. */
  hidden_at: Schema.optional(Schema.NullOr(Schema.Date)),
  published_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "Track" })
export type Track = typeof Track.Type

export const StreamUrl = Schema.Struct({
  url: Schema.String,
  expires_at: Schema.Date
}).annotations({ identifier: "StreamUrl" })

/** Text of at most `max` characters (code points, as the database counts), no NUL. */
const BoundedText = (name: string, max: number) =>
  StoredText.pipe(
    Schema.filter((s) => [...s].length <= max, { message: () => `${name} must be at most ${max} characters`, jsonSchema: { maxLength: max } })
  )

/** An optional text field: trimmed; blank clears it (stored as null). */
const ClearableText = (name: string, max: number) =>
  Schema.NullOr(BoundedText(name, max)).pipe(
    Schema.transform(Schema.NullOr(Schema.String), {
      strict: true,
      decode: (s) => (s === null || s.trim() === "" ? null : s.trim()),
      encode: (s) => s
    })
  )

export const MAX_TAGS = 20

/** A tag: trimmed, lower-cased, 1-50 characters, so filters match however it was typed. */
export const Tag = StoredText.pipe(
  Schema.transform(Schema.String, { strict: true, decode: (s) => s.trim().toLowerCase(), encode: (s) => s }),
  Schema.filter((s) => s.length > 0 && [...s].length <= 50 && !s.includes(","), {
    message: () => "a tag must be 1-50 characters without commas"
  })
)

/**
 * The metadata an owner (or admin) may change. Absent fields stay as they
 * are; `null` (or a blank string) clears an optional text field.
 */
export const UpdateTrack = Schema.Struct({
  title: Schema.optional(TrackTitle),
  description: Schema.optional(ClearableText("description", 5000)),
  artist: Schema.optional(ClearableText("artist", 255)),
  album: Schema.optional(ClearableText("album", 255)),
  genre: Schema.optional(ClearableText("genre", 100)),
  tags: Schema.optional(
    Schema.Array(Tag).pipe(
      Schema.maxItems(MAX_TAGS, { message: () => `at most ${MAX_TAGS} tags` }),
      Schema.transform(Schema.Array(Schema.String), { strict: true, decode: (tags) => [...new Set(tags)], encode: (tags) => tags })
    )
  ),
  visibility: Schema.optional(Visibility),
  is_downloadable: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "UpdateTrack" })
export type UpdateTrack = typeof UpdateTrack.Type

export const TrackPage = Schema.Struct({ items: Schema.Array(Track), next_cursor: Schema.NullOr(Schema.String) }).annotations({
  identifier: "TrackPage"
})

export const LikeState = Schema.Struct({
  track_id: TrackId,
  liked: Schema.Boolean,
  like_count: Schema.Int
}).annotations({ identifier: "TrackLikeState" })

export const CommentId = Schema.UUID.pipe(Schema.brand("CommentId"))
export type CommentId = typeof CommentId.Type

export const CommentContent = StoredText.pipe(
  Schema.filter((s) => s.trim().length > 0, { message: () => "content must not be blank" }),
  Schema.filter((s) => [...s].length <= 2000, { message: () => "content must be at most 2000 characters", jsonSchema: { maxLength: 2000 } })
)

export const NewComment = Schema.Struct({
  content: CommentContent,
  position_ms: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.between(0, 2_147_483_647, { message: () => "position_ms must be a non-negative integer" })))),
  parent_id: Schema.optional(Schema.NullOr(CommentId))
}).annotations({ identifier: "NewTrackComment" })

export const CommentEdit = Schema.Struct({ content: CommentContent }).annotations({ identifier: "TrackCommentEdit" })

export const Comment = Schema.Struct({
  id: CommentId,
  track_id: TrackId,
  user_id: UserId,
  username: Schema.String,
  parent_id: Schema.NullOr(CommentId),
  position_ms: Schema.NullOr(Schema.Int),
  content: Schema.String,
  edited_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date
}).annotations({ identifier: "TrackComment" })
export type Comment = typeof Comment.Type

export const CommentPage = Schema.Struct({ items: Schema.Array(Comment), next_cursor: Schema.NullOr(Schema.String) }).annotations({
  identifier: "TrackCommentPage"
})

export const NewPlay = Schema.Struct({
  /** How much of the track was heard, when the player knows. */
  played_ms: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.between(0, 2_147_483_647, { message: () => "played_ms must be a non-negative integer" })))),
  source: Schema.optional(Schema.NullOr(BoundedText("source", 50)))
}).annotations({ identifier: "NewTrackPlay" })

export const PlayResult = Schema.Struct({
  /** False when this listener's play was already counted within the deduplication window. */
  counted: Schema.Boolean,
  play_count: Schema.Int
}).annotations({ identifier: "TrackPlayResult" })

export const TrackStats = Schema.Struct({
  track_id: TrackId,
  play_count: Schema.Int,
  unique_listeners: Schema.Int,
  like_count: Schema.Int,
  comment_count: Schema.Int
}).annotations({ identifier: "TrackStats" })

export const HistoryEntry = Schema.Struct({
  id: Schema.UUID,
  played_at: Schema.Date,
  played_ms: Schema.NullOr(Schema.Int),
  source: Schema.NullOr(Schema.String),
  track: Track
}).annotations({ identifier: "PlayHistoryEntry" })

export const HistoryPage = Schema.Struct({ items: Schema.Array(HistoryEntry), next_cursor: Schema.NullOr(Schema.String) }).annotations({
  identifier: "PlayHistoryPage"
})

export const ShareToken = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{43}$/, { message: () => "not a share token" })
)

export const NewShareLink = Schema.Struct({
  /** Lifetime of the link; without it the link lasts until revoked. */
  expires_in_seconds: Schema.optional(Schema.Int.pipe(Schema.between(60, 31_536_000, { message: () => "expires_in_seconds must be between 60 and 31536000" })))
}).annotations({ identifier: "NewTrackShareLink" })

export const ShareLink = Schema.Struct({
  token: Schema.String,
  url: Schema.String,
  expires_at: Schema.NullOr(Schema.Date)
}).annotations({ identifier: "TrackShareLink" })

export const SharedTrack = Schema.Struct({
  track: Track,
  /** A signed HLS master URL, once the track is ready. */
  stream: Schema.NullOr(StreamUrl)
}).annotations({ identifier: "SharedTrack" })

export const DownloadLink = Schema.Struct({
  url: Schema.String,
  expires_at: Schema.Date
}).annotations({ identifier: "TrackDownloadLink" })
