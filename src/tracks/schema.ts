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
  transcode: Schema.optional(Schema.NullOr(TranscodeState)),
  published_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "Track" })
export type Track = typeof Track.Type

export const StreamUrl = Schema.Struct({
  url: Schema.String,
  expires_at: Schema.Date
}).annotations({ identifier: "StreamUrl" })
