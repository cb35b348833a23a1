import { Duration, Effect, Layer, Schedule } from "effect"
import { Storage } from "../platform/storage.js"
import { TrackLibraryConfig } from "./config.js"
import { LibraryRepo, PURGE_BATCH } from "./library-repo.js"

/**
 * Removes the files of deleted tracks: their original (unless buyers of a
 * product selling it keep it) and everything under their HLS folder (every
 * publication, the current one included). The queue
 * lives in PostgreSQL, so a restart or a failing storage only delays it, and
 * any number of API nodes may sweep together.
 */
export const TrackPurgeLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const repo = yield* LibraryRepo
    const storage = yield* Storage
    const config = yield* TrackLibraryConfig
    const sweep = repo.sweepPurges(
      (row) =>
        Effect.zipRight(row.original_key === null ? Effect.void : storage.delete(row.original_key), storage.deletePrefix(row.hls_prefix)).pipe(
          Effect.asVoid
        ),
      config.purgeRetryBaseMs
    )
    yield* Effect.forkScoped(
      sweep.pipe(
        Effect.repeat({ while: (n) => n === PURGE_BATCH }),
        Effect.catchAllCause((cause) => Effect.logWarning("sweeping deleted tracks' files failed", cause)),
        Effect.repeat(Schedule.spaced(Duration.millis(config.purgeIntervalMs)))
      )
    )
  })
)
