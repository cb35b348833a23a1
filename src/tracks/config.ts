import * as NodeOs from "node:os"
import { Config, ConfigError, Effect, Either } from "effect"
import { commaList, nonNegativeInt, oneLine, positiveInt, StartupError } from "../platform/config.js"

const ladder = commaList("HLS_LADDER_KBPS").pipe(
  Config.mapOrFail((list) => {
    if (list.length === 0) return Either.right([64, 128, 256])
    const rungs = list.map(Number)
    const valid = rungs.every((k) => Number.isInteger(k) && k >= 16 && k <= 512)
    return valid && new Set(rungs).size === rungs.length
      ? Either.right([...rungs].sort((a, b) => a - b))
      : Either.left(ConfigError.InvalidData(["HLS_LADDER_KBPS"], "HLS_LADDER_KBPS must list distinct AAC bitrates in kbps between 16 and 512, e.g. 64,128,256"))
  })
)

const streamingConfig = Config.all({
  maxUploadBytes: positiveInt("MAX_UPLOAD_BYTES", 524_288_000),
  transcodeConcurrency: positiveInt("TRANSCODE_CONCURRENCY", NodeOs.availableParallelism()),
  ladderKbps: ladder,
  segmentSeconds: positiveInt("HLS_SEGMENT_SECONDS", 6).pipe(
    Config.validate({ message: "HLS_SEGMENT_SECONDS must be between 1 and 30", validation: (n) => n <= 30 })
  ),
  jobLeaseMs: positiveInt("JOB_LEASE_MS", 30_000).pipe(
    Config.validate({ message: "JOB_LEASE_MS must be at least 1000", validation: (n) => n >= 1000 })
  ),
  jobMaxAttempts: positiveInt("JOB_MAX_ATTEMPTS", 3),
  jobRetryBaseMs: positiveInt("JOB_RETRY_BASE_MS", 5_000),
  jobPollIntervalMs: positiveInt("JOB_POLL_INTERVAL_MS", 1_000),
  streamLinkTtlSeconds: positiveInt("STREAM_LINK_TTL_SECONDS", 4 * 3600),
  hlsAccessCacheMs: positiveInt("HLS_ACCESS_CACHE_MS", 2_000),
  replacedHlsRetentionMs: nonNegativeInt("HLS_REPLACED_RETENTION_MS", 6 * 3600_000)
})

export type StreamingSettings = Config.Config.Success<typeof streamingConfig>

/** Settings of the upload → transcode → HLS pipeline (SPEC §6). */
export class StreamingConfig extends Effect.Service<StreamingConfig>()("veza/StreamingConfig", {
  effect: streamingConfig.pipe(
    Effect.mapError((e) => new StartupError({ message: `configuration error: ${oneLine(String(e))}` }))
  )
}) {}

const libraryConfig = Config.all({
  playDedupWindowSeconds: nonNegativeInt("PLAY_DEDUP_WINDOW_SECONDS", 30),
  downloadLinkTtlSeconds: positiveInt("DOWNLOAD_LINK_TTL_SECONDS", 300),
  purgeIntervalMs: positiveInt("TRACK_PURGE_INTERVAL_MS", 10_000),
  purgeRetryBaseMs: positiveInt("TRACK_PURGE_RETRY_BASE_MS", 30_000)
})

/** Settings of plays, downloads and the removal of deleted tracks' files. */
export class TrackLibraryConfig extends Effect.Service<TrackLibraryConfig>()("veza/TrackLibraryConfig", {
  effect: libraryConfig.pipe(
    Effect.mapError((e) => new StartupError({ message: `configuration error: ${oneLine(String(e))}` }))
  )
}) {}
