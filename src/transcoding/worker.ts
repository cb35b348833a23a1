import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Cause, Data, Duration, Effect, Exit, FiberSet, Layer, Option, Schedule } from "effect"
import { AppConfig } from "../platform/config.js"
import { FFmpeg, masterPlaylist, type TranscodeResult } from "../platform/ffmpeg.js"
import { Metrics } from "../platform/metrics.js"
import { Readiness } from "../platform/readiness.js"
import { Storage } from "../platform/storage.js"
import { scopedTempDir } from "../platform/temp-dir.js"
import { StreamingConfig } from "../tracks/config.js"
import { type ClaimedJob, JobQueue, type Publication } from "./queue.js"
import { TranscodeSignal } from "./signal.js"

class LeaseLost extends Data.TaggedError("LeaseLost")<{ readonly jobId: string }> {}

const CONTENT_TYPES: Record<string, string> = {
  ".m3u8": "application/vnd.apple.mpegurl",
  ".mp4": "audio/mp4",
  ".m4s": "audio/mp4"
}
const contentType = (file: string) => CONTENT_TYPES[NodePath.extname(file)] ?? "application/octet-stream"

const UPLOAD_CONCURRENCY = 8
const PROGRESS_STEP_PERCENT = 5
const PROGRESS_INTERVAL_MS = 1000

/**
 * The transcode pool of a process with the stream role: a claimer fiber takes
 * jobs from the shared queue while an FFmpeg slot is free, and each job is a
 * fiber in a FiberSet owning its FFmpeg process. A job gives its slot back as
 * soon as FFmpeg has exited, so the next job's FFmpeg runs while this one
 * stores its files and publishes: the cores never wait on storage or the
 * database between two transcodes. At most twice TRANSCODE_CONCURRENCY jobs
 * are held at once (slow storage cannot make finished transcodes pile up).
 * Shutdown (the layer's finalizer)
 * stops claiming at once, lets running jobs finish within SHUTDOWN_GRACE_MS,
 * then interrupts the rest: FFmpeg is killed, the unpublished prefix deleted
 * and the job handed back to the queue.
 */
export const TranscodeWorkersLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const app = yield* AppConfig
    const config = yield* StreamingConfig
    const queue = yield* JobQueue
    const storage = yield* Storage
    const ffmpeg = yield* FFmpeg
    const readiness = yield* Readiness
    const signal = yield* TranscodeSignal
    const metrics = yield* Metrics
    const owner = `${NodeOs.hostname()}:${process.pid}:${NodeCrypto.randomBytes(4).toString("hex")}`
    const workRoot = NodePath.join(app.dataDir, "tmp", "jobs")
    const outcomes = metrics.counter("veza_transcode_jobs_total", "Transcode attempts by outcome", ["outcome"])
    const audioSeconds = metrics.counter("veza_transcode_audio_seconds_total", "Seconds of audio transcoded and published")

    /** Renews the lease until interrupted; fails once it could not be renewed for a whole lease period. */
    const keepLease = (job: ClaimedJob) =>
      Effect.gen(function* () {
        let lastRenewed = Date.now()
        while (true) {
          yield* Effect.sleep(Duration.millis(Math.floor(config.jobLeaseMs / 3)))
          const renewed = yield* queue.renew(job, owner).pipe(
            Effect.tapError((e) => Effect.logWarning("lease renewal failed", e)),
            Effect.orElseSucceed(() => undefined)
          )
          if (renewed === false) return yield* new LeaseLost({ jobId: job.id })
          if (renewed === true) lastRenewed = Date.now()
          else if (Date.now() - lastRenewed >= config.jobLeaseMs) return yield* new LeaseLost({ jobId: job.id })
        }
      })

    const inputFor = (job: ClaimedJob, workDir: string) =>
      Option.match(storage.localPath(job.storage_key), {
        onSome: (path) => Effect.succeed(path),
        onNone: () => {
          const path = NodePath.join(workDir, "original")
          return Effect.as(storage.download(job.storage_key, path), path)
        }
      })

    /** Every rendition file first, each playlist after its segments, the master playlist last. */
    const upload = (job: ClaimedJob, outDir: string, result: TranscodeResult) =>
      Effect.gen(function* () {
        const attempt = NodePath.basename(job.output_prefix)
        yield* Effect.forEach(
          result.renditions,
          (rendition) =>
            Effect.gen(function* () {
              const dir = NodePath.join(outDir, rendition.directory)
              const files = (yield* Effect.promise(() => NodeFs.promises.readdir(dir))).filter((f) => !f.endsWith(".m3u8"))
              yield* Effect.forEach(
                files,
                (file) => storage.putFile(`${job.output_prefix}/${rendition.directory}/${file}`, NodePath.join(dir, file), { contentType: contentType(file) }),
                { concurrency: UPLOAD_CONCURRENCY, discard: true }
              )
              yield* storage.putFile(`${job.output_prefix}/${rendition.playlist}`, NodePath.join(outDir, rendition.playlist), {
                contentType: contentType(rendition.playlist)
              })
            }),
          { concurrency: "unbounded", discard: true }
        )
        // Served at /hls/:track/master.m3u8, one level above the attempt's folder.
        const master = masterPlaylist(result.renditions, { uriFor: (relative) => `${attempt}/${relative}` })
        yield* storage.put(`${job.output_prefix}/master.m3u8`, master, { contentType: contentType("master.m3u8") })
      })

    /**
     * Transcodes and stores every file of the attempt; what is left to publish
     * is returned. `transcoded` runs once FFmpeg has exited.
     */
    const produce = (job: ClaimedJob, transcoded: Effect.Effect<void>) =>
      Effect.scoped(
        Effect.gen(function* () {
          if (job.stale_prefix !== null) yield* storage.deletePrefix(job.stale_prefix)
          const workDir = yield* scopedTempDir(workRoot, `${job.id}-`)
          const input = yield* inputFor(job, workDir)
          const outDir = NodePath.join(workDir, "out")
          yield* Effect.promise(() => NodeFs.promises.mkdir(outDir))
          let loggedDecile = -1
          let storedPercent = 0
          let storedAt = Date.now()
          const result = yield* ffmpeg.transcode({
            input,
            outputDir: outDir,
            ladderKbps: config.ladderKbps,
            segmentSeconds: config.segmentSeconds,
            durationMs: job.duration_ms,
            sourceChannels: job.channels,
            onProgress: (percent) =>
              Effect.gen(function* () {
                // Each UPDATE costs the process CPU that two busy ffmpegs would
                // rather have: steps of 5 %, or a second's worth, are enough for a poller.
                const now = Date.now()
                if (percent - storedPercent >= PROGRESS_STEP_PERCENT || now - storedAt >= PROGRESS_INTERVAL_MS) {
                  storedPercent = percent
                  storedAt = now
                  yield* queue.progress(job, owner, percent).pipe(Effect.ignoreLogged)
                }
                if (Math.floor(percent / 10) > loggedDecile) {
                  loggedDecile = Math.floor(percent / 10)
                  yield* Effect.logInfo("transcode progress").pipe(Effect.annotateLogs({ progress: percent }))
                }
              })
          })
          yield* transcoded
          yield* upload(job, outDir, result)
          return result
        })
      )

    const publicationOf = (result: TranscodeResult): Publication => ({
      backend: storage.backend,
      waveform: result.peaks,
      renditions: result.renditions.map((r) => ({
        kbps: r.kbps,
        codecs: r.codecs,
        bandwidth: r.bandwidth,
        averageBandwidth: r.averageBandwidth,
        playlist: r.playlist,
        segmentCount: r.segmentCount
      }))
    })

    /** Storage that fails now (S3 down mid-upload) gets the leftovers later, through the replaced-prefix sweep. */
    const deleteOutput = (job: ClaimedJob) =>
      storage.deletePrefix(job.output_prefix).pipe(
        Effect.catchAll((e) =>
          Effect.zipRight(
            Effect.logWarning("deleting an unpublished HLS prefix failed; the sweep retries it", e),
            queue.retireNow(job.track_id, job.output_prefix)
          )
        ),
        Effect.ignoreLogged
      )

    const runJob = (job: ClaimedJob, transcoded: Effect.Effect<void>) => {
      // Once set, the attempt's prefix is what listeners are served: never delete it.
      let published = false
      return Effect.gen(function* () {
        if (job.track_gone) {
          yield* queue.abandon(job, owner, "the track was deleted")
          return
        }
        if (job.attempts > job.max_attempts) {
          // Its earlier workers died mid-job (lease expired) every time: do not try forever.
          yield* queue.fail(job, owner, `gave up after ${job.max_attempts} attempts whose workers stopped`)
          outcomes.inc({ outcome: "failed" })
          return
        }
        yield* Effect.logInfo("transcode started").pipe(Effect.annotateLogs({ attempt: job.attempts }))
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            // The lease keeper guards the long work only: once publish has
            // committed, a renewal that finds the lease gone is no loss.
            const result = yield* Effect.raceFirst(produce(job, transcoded), keepLease(job))
            const done = yield* queue.publish(job, owner, publicationOf(result)).pipe(
              Effect.tap((ok) => {
                published = ok
              }),
              Effect.uninterruptible
            )
            if (!done) return yield* new LeaseLost({ jobId: job.id })
            audioSeconds.inc(result.durationMs / 1000)
          })
        )
        if (Exit.isSuccess(exit)) {
          outcomes.inc({ outcome: "done" })
          yield* Effect.logInfo("transcode published").pipe(Effect.annotateLogs({ prefix: job.output_prefix }))
          return
        }
        yield* deleteOutput(job)
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure) && failure.value._tag === "LeaseLost") {
          outcomes.inc({ outcome: "lease_lost" })
          yield* Effect.logWarning("transcode lease lost; another worker owns the job now")
          return
        }
        if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
        const message = Option.match(failure, {
          onSome: (e) => ("reason" in e ? String(e.reason) : "message" in e ? String(e.message) : String(e)),
          onNone: () => Cause.pretty(exit.cause).split("\n")[0] ?? "unexpected error"
        })
        const status = yield* queue.fail(job, owner, message)
        outcomes.inc({ outcome: Option.getOrElse(status, () => "lease_lost") })
        yield* Effect.logWarning("transcode failed").pipe(Effect.annotateLogs({ error: message, next: Option.getOrElse(status, () => "lost") }))
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.gen(function* () {
            if (published) return
            yield* deleteOutput(job)
            yield* queue.release(job, owner).pipe(Effect.ignoreLogged)
            outcomes.inc({ outcome: "released" })
            yield* Effect.logInfo("transcode interrupted; job released to the queue")
          })
        ),
        Effect.catchAllCause((cause) => Effect.logError("transcode job crashed", cause)),
        Effect.annotateLogs({ job_id: job.id, track_id: job.track_id })
      )
    }

    const jobs = yield* FiberSet.make<void, never>()
    /** FFmpeg processes running, or about to: a job holds one from its claim until FFmpeg exits. */
    const slots = yield* Effect.makeSemaphore(config.transcodeConcurrency)
    /** Jobs held, from claim to the end of their publish. */
    const held = yield* Effect.makeSemaphore(2 * config.transcodeConcurrency)

    // Runs before the FiberSet's own finalizer (which interrupts what is left).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const running = yield* FiberSet.size(jobs)
        if (running === 0) return
        yield* Effect.logInfo("draining transcode jobs").pipe(Effect.annotateLogs({ running }))
        yield* FiberSet.awaitEmpty(jobs).pipe(
          Effect.interruptible,
          Effect.timeoutTo({
            duration: readiness.remainingGrace(app.shutdownGrace),
            onSuccess: () => Effect.logInfo("transcode jobs finished"),
            onTimeout: () => Effect.logWarning("grace period over, interrupting transcode jobs")
          }),
          Effect.flatten
        )
      })
    )

    const claimOne = Effect.gen(function* () {
      yield* slots.take(1)
      yield* held.take(1)
      const claimed = readiness.isDraining()
        ? Option.none<ClaimedJob>()
        : yield* queue.claim(owner).pipe(
            Effect.tapError((e) => Effect.logWarning("claiming a transcode job failed", e)),
            Effect.orElseSucceed(() => Option.none<ClaimedJob>())
          )
      if (Option.isNone(claimed)) {
        yield* Effect.zipRight(held.release(1), slots.release(1))
        return false
      }
      // Once per job: when FFmpeg exits, or when the job ends without getting that far.
      let transcoding = true
      // A freed slot wakes the claimer: it is filled now, not at the next poll.
      // Uninterruptible: once marked freed, the permit must really go back.
      const transcoded = Effect.uninterruptible(
        Effect.suspend(() => {
          if (!transcoding) return Effect.void
          transcoding = false
          return Effect.zipRight(slots.release(1), signal.notify)
        })
      )
      yield* FiberSet.run(jobs, runJob(claimed.value, transcoded).pipe(Effect.ensuring(Effect.zipRight(transcoded, held.release(1)))))
      return true
    })

    const claimer = Effect.gen(function* () {
      while (!readiness.isDraining()) {
        const found = yield* claimOne
        if (!found) yield* Effect.raceFirst(signal.next, Effect.sleep(Duration.millis(config.jobPollIntervalMs)))
      }
    })
    yield* Effect.forkScoped(claimer)
    yield* Effect.forkScoped(
      queue.sweepRetired(storage.deletePrefix).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("sweeping replaced HLS prefixes failed", cause)),
        Effect.repeat(Schedule.spaced(Duration.millis(config.jobPollIntervalMs)))
      )
    )
    yield* Effect.logInfo("transcode workers started").pipe(
      Effect.annotateLogs({ concurrency: config.transcodeConcurrency, owner })
    )
  })
)
