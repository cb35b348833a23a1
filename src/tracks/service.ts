import * as NodeCrypto from "node:crypto"
import * as NodePath from "node:path"
import { Multipart } from "@effect/platform"
import { Effect, Option, ParseResult, Schema, Stream } from "effect"
import type { Actor } from "../auth/current-user.js"
import { policyRequire } from "../auth/policy.js"
import { StreamLinks } from "../hls/links.js"
import { BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType } from "../platform/api-errors.js"
import { AppConfig } from "../platform/config.js"
import { FFmpeg } from "../platform/ffmpeg.js"
import { writeFilePart } from "../platform/multipart.js"
import { PublicReadCache } from "../platform/public-read-cache.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { scopedTempDir } from "../platform/temp-dir.js"
import { Storage } from "../platform/storage.js"
import { TranscodeSignal } from "../transcoding/signal.js"
import { StreamingConfig } from "./config.js"
import { canSee, ownsOrAdmin } from "./policy.js"
import { hlsPath, toTrack, TracksRepo } from "./repo.js"
import { type TrackId, TrackId as TrackIdSchema, UploadFields } from "./schema.js"

const UPLOAD_FIELDS = new Set(["title", "visibility"])
const MAX_FIELD_BYTES = 4096
/** Room for the form's fields and part headers on top of the file itself. */
const FORM_OVERHEAD_BYTES = 64 * 1024

const notFound = () => NotFound.of("track not found")

/** The client's file name without its folders, storable (no NUL). */
const storableBasename = (filename: string) => NodePath.basename(filename).replace(/\u0000/g, "")

/** A title from the file name when none is given: "my_song-final.wav" → "my_song-final". */
const titleFromFilename = (filename: string) => {
  const base = storableBasename(filename).replace(/\.[A-Za-z0-9]{1,5}$/, "").trim()
  return base.length > 0 ? base.slice(0, 255) : "Untitled"
}

interface ReceivedFile {
  readonly path: string
  readonly name: string
  readonly size: number
}

export class Tracks extends Effect.Service<Tracks>()("veza/Tracks", {
  effect: Effect.gen(function* () {
    const app = yield* AppConfig
    const config = yield* StreamingConfig
    const repo = yield* TracksRepo
    const storage = yield* Storage
    const ffmpeg = yield* FFmpeg
    const links = yield* StreamLinks
    const signal = yield* TranscodeSignal
    // A new upload is `processing` and unknown before: no anonymous answer held it. A retranscode can change its status.
    const { invalidate } = yield* PublicReadCache
    const uploadsDir = NodePath.join(app.dataDir, "tmp", "uploads")

    const tooLarge = () => PayloadTooLarge.of(`the file exceeds the upload limit of ${config.maxUploadBytes} bytes`)
    // A file part's own stream reports the parser's limits as InternalError, with the limit as the cause.
    const reachedLimit = (e: Multipart.MultipartError) =>
      typeof e.cause === "object" && e.cause !== null && (e.cause as { _tag?: unknown })._tag === "ReachedLimit"
    const multipartFailure = (e: Multipart.MultipartError) =>
      reachedLimit(e)
        ? tooLarge()
        : e.reason === "TooManyParts"
        ? BadRequest.of("too many form fields; expected file, title, visibility")
        : e.reason === "FieldTooLarge"
          ? BadRequest.of(`a form field exceeds ${MAX_FIELD_BYTES} bytes`)
          : /TooLarge/.test(e.reason)
            ? tooLarge()
            : BadRequest.of("the multipart body could not be parsed", "MALFORMED_BODY")

    /** Reads the form: the file goes to disk as it arrives, the fields are kept. */
    const receive = (parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>, dir: string) =>
      Effect.gen(function* () {
        const fields: Record<string, string> = {}
        let file: ReceivedFile | undefined
        yield* parts.pipe(
          Multipart.withLimitsStream({
            maxParts: Option.some(UPLOAD_FIELDS.size + 1),
            maxFieldSize: MAX_FIELD_BYTES,
            maxFileSize: Option.some(config.maxUploadBytes),
            maxTotalSize: Option.some(config.maxUploadBytes + FORM_OVERHEAD_BYTES)
          }),
          Stream.mapError(multipartFailure),
          Stream.runForEach((part) =>
            Effect.gen(function* () {
              if (part._tag === "Field") {
                if (!UPLOAD_FIELDS.has(part.key)) return yield* BadRequest.of(`unknown form field "${part.key}"; expected file, title, visibility`)
                fields[part.key] = part.value
                return
              }
              if (part._tag !== "File") return
              if (part.key !== "file") return yield* BadRequest.of(`unexpected file field "${part.key}"; send the audio as "file"`)
              if (file !== undefined) return yield* BadRequest.of("send exactly one file")
              const path = NodePath.join(dir, "original")
              // The parser enforces the size limit (maxFileSize above) as the bytes arrive.
              const size = yield* writeFilePart(part, path).pipe(Effect.mapError(multipartFailure))
              file = { path, name: part.name, size }
            })
          )
        )
        return { fields, file: Option.fromNullable(file) }
      })

    const upload = (
      actor: Actor,
      parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>,
      headers: { readonly contentType: string | undefined; readonly contentLength: string | undefined }
    ) =>
      Effect.scoped(
        Effect.gen(function* () {
          if (!/^multipart\/form-data\s*;\s*boundary=/i.test(headers.contentType ?? "")) {
            return yield* UnsupportedMediaType.of('send the upload as multipart/form-data with the audio in the "file" field')
          }
          if (Number(headers.contentLength ?? 0) > config.maxUploadBytes + FORM_OVERHEAD_BYTES) return yield* tooLarge()
          const dir = yield* scopedTempDir(uploadsDir, "upload-")
          const form = yield* receive(parts, dir)
          const fields = yield* Schema.decodeUnknown(UploadFields)(form.fields).pipe(
            Effect.mapError((e) => BadRequest.of("invalid upload fields", "VALIDATION_ERROR", ParseResult.ArrayFormatter.formatErrorSync(e)))
          )
          if (Option.isNone(form.file)) return yield* BadRequest.of('the form has no file; send the audio as the "file" field')
          const file = form.file.value
          if (file.size === 0) return yield* Unprocessable.of("the file is empty", "EMPTY_FILE")
          const probe = yield* ffmpeg.probe(file.path).pipe(
            Effect.catchTags({
              NotAudio: (e) => Effect.fail(UnsupportedMediaType.of(`not an audio file: ${e.reason}`, "NOT_AUDIO")),
              Undecodable: (e) => Effect.fail(Unprocessable.of(`the audio cannot be decoded: ${e.reason}`, "UNDECODABLE_AUDIO"))
            })
          )
          const id = TrackIdSchema.make(NodeCrypto.randomUUID())
          const key = `tracks/${id}/original`
          // Once stored, the original is removed again unless its row commits,
          // whatever stops it: a failed insert, a dropped connection, shutdown.
          yield* storage.putFile(key, file.path, {}).pipe(
            Effect.zipRight(
              repo.insertWithJob(
                {
                  id,
                  creatorId: actor.id,
                  title: fields.title ?? titleFromFilename(file.name),
                  visibility: fields.visibility ?? "public",
                  originalFilename: storableBasename(file.name).slice(0, 255) || "upload",
                  formatName: probe.formatName.slice(0, 100),
                  fileSize: file.size,
                  storageBackend: storage.backend,
                  storageKey: key,
                  durationMs: probe.durationMs,
                  codec: probe.codec.slice(0, 50),
                  sampleRate: probe.sampleRate,
                  channels: probe.channels,
                  bitRate: probe.bitRate
                },
                config.jobMaxAttempts
              )
            ),
            Effect.onError(() => storage.delete(key).pipe(Effect.ignoreLogged))
          )
          yield* signal.notify
          yield* Effect.logInfo("track uploaded").pipe(Effect.annotateLogs({ track_id: id, bytes: file.size, duration_ms: probe.durationMs }))
          const row = yield* repo.findById(id, actor)
          return toTrack(Option.getOrThrow(row), true)
        })
      ).pipe(
        Effect.catchTag("StorageError", (e) => Effect.die(e)),
        sqlErrors,
        policyRequire("Track", "upload")
      )

    /** The track if this caller may see it; a private track of someone else is as missing as a deleted one. */
    const visibleRow = (id: TrackId, actor: Actor | undefined) =>
      Effect.flatMap(repo.findById(id, actor), (row) =>
        Option.isSome(row) && canSee(actor, row.value) ? Effect.succeed(row.value) : Effect.fail(notFound())
      )

    const get = (id: TrackId, actor: Actor | undefined) =>
      visibleRow(id, actor).pipe(
        Effect.map((row) => toTrack(row, ownsOrAdmin(actor, row.creator_id))),
        sqlErrors
      )

    /** `get`'s answer as JSON text, written by PostgreSQL as lists are (HTTP's hot read; RPC encodes `get`'s value). */
    const getJson = (id: TrackId, actor: Actor | undefined) =>
      Effect.flatMap(repo.findJsonById(id, actor), (row) =>
        Option.isSome(row) && canSee(actor, row.value) ? Effect.succeed(row.value.json) : Effect.fail(notFound())
      ).pipe(sqlErrors)

    const signedStreamUrl = (id: TrackId) => {
      const link = links.sign(id)
      const base = Option.getOrElse(app.publicUrl, () => "")
      return { url: `${base.replace(/\/$/, "")}${hlsPath(id)}?${link.query}`, expires_at: link.expiresAt }
    }

    /** A signed master-playlist URL for anyone who may listen: needed for unlisted and private tracks. */
    const streamUrl = (id: TrackId, actor: Actor) =>
      Effect.gen(function* () {
        const row = yield* visibleRow(id, actor)
        if (row.status !== "ready") return yield* Conflict.of("the track has no published stream yet", "NOT_READY")
        return signedStreamUrl(id)
      }).pipe(sqlErrors)

    /** Transcodes again (a new ladder, a failed track); the published stream stays until the new one replaces it. */
    const retranscode = (id: TrackId, actor: Actor) =>
      Effect.gen(function* () {
        const row = yield* visibleRow(id, actor)
        if (!ownsOrAdmin(actor, row.creator_id)) return yield* Forbidden.of("only the track's owner or an admin may transcode it again")
        const queued = yield* repo.requeue(id, config.jobMaxAttempts)
        if (!queued) return yield* Conflict.of("a transcode of this track is already queued or running", "TRANSCODE_IN_PROGRESS")
        yield* invalidate
        yield* signal.notify
        return toTrack(Option.getOrThrow(yield* repo.findById(id, actor)), true)
      }).pipe(sqlErrors)

    /**
     * Where the track's original upload is stored, for the marketplace's
     * buyers (see `TracksRepo.original`); whoever calls decides who is one.
     */
    const originalFile = (id: TrackId) =>
      Effect.map(repo.original(id, "buyer"), Option.map((r) => ({ key: r.storage_key, filename: r.original_filename, size: r.file_size }))).pipe(sqlErrors)

    return { upload, get, getJson, visibleRow, signedStreamUrl, streamUrl, retranscode, originalFile } as const
  }),
  dependencies: [TracksRepo.Default, StreamLinks.Default, StreamingConfig.Default]
}) {}
