import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type _Object,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
  UploadPartCommand
} from "@aws-sdk/client-s3"
import { Readable } from "node:stream"
import { Duration, Effect, Either, Exit, Option, Redacted, Runtime, type Scope } from "effect"
import {
  abortable,
  type ByteRange,
  describeError,
  type ObjectBody,
  type ObjectInfo,
  type PutOptions,
  RangeNotSatisfiable,
  type S3Settings,
  type StorageBackend,
  StorageError
} from "./storage.js"

/** One part is held in memory at a time. */
const PART_SIZE = 8 * 1024 * 1024
/** S3's limit for a single PutObject; larger streams of known length go in parts. */
const MAX_SINGLE_PUT = 5 * 1024 * 1024 * 1024
/** The SDK sets no connection timeout, so an unreachable endpoint would hang a request. */
const CONNECT_TIMEOUT_MS = 5_000
const CHECK_TIMEOUT = Duration.seconds(10)

const statusOf = (error: unknown) => (error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined)

/** Service errors by name and message; HEAD answers have no body, so only their status says what went wrong. */
const describeS3Error = (error: unknown) => {
  if (!(error instanceof S3ServiceException)) return describeError(error)
  const status = statusOf(error)
  const said = error.message.length > 0 && error.message !== "UnknownError" && error.message !== error.name
  return `${error.name}${said ? `: ${error.message}` : ""}${status === undefined ? "" : ` (HTTP ${status})`}`
}

const failure = (operation: string, key: string, error: unknown) =>
  error instanceof StorageError ? error : new StorageError({ operation, key, message: describeS3Error(error) })

/** Reads a stream in fixed-size parts, carrying over what a chunk holds beyond the part. */
class PartReader {
  private readonly chunks: AsyncIterator<unknown>
  private pending: Uint8Array | undefined
  constructor(private readonly stream: Readable) {
    this.chunks = stream[Symbol.asyncIterator]()
  }

  /** Up to `size` bytes; fewer only at the end of the stream. */
  async read(size: number, signal: AbortSignal): Promise<Buffer> {
    // A stalled source would otherwise keep an interrupted put waiting.
    const onAbort = () => this.stream.destroy()
    signal.addEventListener("abort", onAbort)
    try {
      const part = Buffer.allocUnsafe(size)
      let filled = 0
      while (filled < size) {
        let chunk = this.pending
        this.pending = undefined
        if (chunk === undefined) {
          const next = await this.chunks.next()
          if (next.done === true) break
          chunk = typeof next.value === "string" ? Buffer.from(next.value) : (next.value as Uint8Array)
        }
        const taken = Math.min(chunk.byteLength, size - filled)
        part.set(chunk.subarray(0, taken), filled)
        filled += taken
        if (taken < chunk.byteLength) this.pending = chunk.subarray(taken)
      }
      return part.subarray(0, filled)
    } finally {
      signal.removeEventListener("abort", onAbort)
    }
  }
}

const parseContentRange = (header: string | undefined) => {
  const match = header === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header)
  return match === null ? undefined : { start: Number(match[1]), end: Number(match[2]), size: Number(match[3]) }
}

export const makeS3Backend = (settings: S3Settings): Effect.Effect<StorageBackend, never, Scope.Scope> =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const ignore = () => {}
    const config: S3ClientConfig = {
      region: settings.region,
      // Without a logger the SDK writes its warnings to the console as plain text, outside our log format.
      // Its `error` entries repeat each failed command, which the caller gets as a StorageError (or None) anyway.
      logger: {
        debug: ignore,
        info: ignore,
        warn: (...content: ReadonlyArray<unknown>) => Runtime.runSync(runtime)(Effect.logWarning(`S3 client: ${content.map(String).join(" ")}`)),
        error: ignore
      },
      forcePathStyle: settings.forcePathStyle,
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS },
      ...(Option.isSome(settings.endpoint) ? { endpoint: settings.endpoint.value } : {}),
      ...(Option.isSome(settings.credentials)
        ? {
            credentials: {
              accessKeyId: Redacted.value(settings.credentials.value.accessKeyId),
              secretAccessKey: Redacted.value(settings.credentials.value.secretAccessKey)
            }
          }
        : {}),
      ...(settings.checksumWhenRequired
        ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }
        : {})
    }
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new S3Client(config)),
      (c) => Effect.sync(() => c.destroy())
    )
    const Bucket = settings.bucket

    const headRaw = (key: string) =>
      abortable((abortSignal) => client.send(new HeadObjectCommand({ Bucket, Key: key }), { abortSignal })).pipe(
        Effect.map(
          (r): Option.Option<ObjectInfo> =>
            Option.some({
              key,
              size: r.ContentLength ?? 0,
              etag: r.ETag ?? "",
              lastModified: r.LastModified ?? new Date(0),
              ...(r.ContentType === undefined ? {} : { contentType: r.ContentType })
            })
        ),
        Effect.catchIf((error) => statusOf(error) === 404, () => Effect.succeedNone)
      )

    const head = (key: string) => headRaw(key).pipe(Effect.mapError((error) => failure("head", key, error)))

    const toBody = (key: string, r: GetObjectCommandOutput, range: ByteRange | undefined): Either.Either<ObjectBody, StorageError> => {
      if (!(r.Body instanceof Readable)) {
        return Either.left(new StorageError({ operation: "get", key, message: "the response body is not a Node stream" }))
      }
      const served = parseContentRange(r.ContentRange)
      const size = served?.size ?? r.ContentLength ?? 0
      return Either.right({
        key,
        size,
        etag: r.ETag ?? "",
        lastModified: r.LastModified ?? new Date(0),
        stream: r.Body,
        ...(r.ContentType === undefined ? {} : { contentType: r.ContentType }),
        // A server that ignores Range sends everything, and says so by omitting Content-Range.
        ...(range === undefined ? {} : { range: served === undefined ? { start: 0, end: size - 1 } : { start: served.start, end: served.end } })
      })
    }

    const get = (key: string, range: ByteRange | undefined) =>
      abortable((abortSignal) =>
        client.send(
          new GetObjectCommand({ Bucket, Key: key, ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end ?? ""}` }) }),
          { abortSignal }
        )
      ).pipe(
        Effect.flatMap((r) => Effect.map(toBody(key, r, range), Option.some)),
        Effect.catchIf(
          (error) => error instanceof S3ServiceException && error.name === "NoSuchKey",
          () => Effect.succeedNone
        ),
        // The SDK does not surface the object size a 416 reports; a HEAD does.
        Effect.catchIf(
          (error) => statusOf(error) === 416,
          () =>
            Effect.flatMap(headRaw(key), (info) =>
              Option.isNone(info) ? Effect.succeedNone : Effect.fail(new RangeNotSatisfiable({ key, size: info.value.size }))
            )
        ),
        Effect.mapError((error) => (error instanceof RangeNotSatisfiable ? error : failure("get", key, error)))
      )

    const putObject = (key: string, body: Readable | Uint8Array, size: number, contentType: string | undefined) => {
      const command = new PutObjectCommand({
        Bucket,
        Key: key,
        Body: body,
        ContentLength: size,
        ...(contentType === undefined ? {} : { ContentType: contentType })
      })
      return abortable((signal) => {
        if (body instanceof Uint8Array) return client.send(command, { abortSignal: signal })
        // The SDK pipes the body without watching it: a failing stream would leave the request waiting for bytes that never come.
        const bodyFailed = new AbortController()
        let bodyError: unknown
        const onError = (error: unknown) => {
          bodyError = error
          bodyFailed.abort()
        }
        body.once("error", onError)
        return client
          .send(command, { abortSignal: AbortSignal.any([signal, bodyFailed.signal]) })
          .catch((error: unknown) => Promise.reject(bodyError ?? error))
          .finally(() => body.off("error", onError))
      }).pipe(Effect.map((r) => objectInfo(key, size, r.ETag, contentType)))
    }

    const abortUpload = (key: string, uploadId: string) =>
      abortable((abortSignal) =>
        client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId }), { abortSignal })
      ).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("could not abort a multipart upload; its parts stay until a bucket lifecycle rule removes them").pipe(
            Effect.annotateLogs({ key, upload_id: uploadId, error: describeS3Error(error) })
          )
        )
      )

    /**
     * For streams of unknown length. One that ends within the first part is
     * sent with a single PutObject; a longer one as a multipart upload,
     * aborted when anything fails or the put is interrupted.
     */
    const putInParts = (key: string, body: Readable, contentType: string | undefined) => {
      const reader = new PartReader(body)
      const readPart = abortable((signal) => reader.read(PART_SIZE, signal))
      return Effect.gen(function* () {
        const first = yield* readPart
        if (first.length < PART_SIZE) return yield* putObject(key, first, first.length, contentType)
        return yield* Effect.acquireUseRelease(
          abortable((abortSignal) =>
            client.send(
              new CreateMultipartUploadCommand({ Bucket, Key: key, ...(contentType === undefined ? {} : { ContentType: contentType }) }),
              { abortSignal }
            )
          ).pipe(
            Effect.flatMap((r) =>
              r.UploadId === undefined
                ? Effect.fail(new StorageError({ operation: "put", key, message: "CreateMultipartUpload returned no UploadId" }))
                : Effect.succeed(r.UploadId)
            )
          ),
          (uploadId) =>
            Effect.gen(function* () {
              const parts: Array<CompletedPart> = []
              let size = 0
              for (let part = first; part.length > 0; part = yield* readPart) {
                const PartNumber = parts.length + 1
                const uploaded = yield* abortable((abortSignal) =>
                  client.send(
                    new UploadPartCommand({ Bucket, Key: key, UploadId: uploadId, PartNumber, Body: part, ContentLength: part.length }),
                    { abortSignal }
                  )
                )
                parts.push({ PartNumber, ETag: uploaded.ETag })
                size += part.length
              }
              const done = yield* abortable((abortSignal) =>
                client.send(
                  new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
                  { abortSignal }
                )
              )
              return objectInfo(key, size, done.ETag, contentType)
            }),
          (uploadId, exit) => (Exit.isSuccess(exit) ? Effect.void : abortUpload(key, uploadId))
        )
      })
    }

    const put = (key: string, body: Readable | Uint8Array, options: PutOptions) => {
      const upload =
        body instanceof Uint8Array
          ? putObject(key, body, body.byteLength, options.contentType)
          : options.contentLength !== undefined && options.contentLength <= MAX_SINGLE_PUT
            ? putObject(key, body, options.contentLength, options.contentType)
            : putInParts(key, body, options.contentType)
      return upload.pipe(Effect.mapError((error) => failure("put", key, error)))
    }

    /** Pages of ListObjectsV2, each handed to `onPage` before the next is asked for. */
    const forEachPage = (prefix: string, onPage: (objects: ReadonlyArray<_Object>) => Effect.Effect<void, unknown>) =>
      Effect.gen(function* () {
        let token: string | undefined
        do {
          const page = yield* abortable((abortSignal) =>
            client.send(
              new ListObjectsV2Command({ Bucket, Prefix: prefix, MaxKeys: settings.listPageSize, ContinuationToken: token }),
              { abortSignal }
            )
          )
          yield* onPage(page.Contents ?? [])
          token = page.IsTruncated === true ? page.NextContinuationToken : undefined
        } while (token !== undefined)
      })

    const list = (prefix: string) => {
      const found: Array<ObjectInfo> = []
      return forEachPage(prefix, (objects) =>
        Effect.sync(() => {
          for (const o of objects) {
            if (o.Key === undefined) continue
            found.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? "", lastModified: o.LastModified ?? new Date(0) })
          }
        })
      ).pipe(
        Effect.as(found),
        Effect.mapError((error) => failure("list", prefix, error))
      )
    }

    const deleteOne = (key: string) =>
      abortable((abortSignal) => client.send(new DeleteObjectCommand({ Bucket, Key: key }), { abortSignal })).pipe(
        Effect.asVoid,
        Effect.mapError((error) => failure("delete", key, error))
      )

    const deletePrefix = (prefix: string) => {
      let count = 0
      return forEachPage(prefix, (objects) => {
        const keys = objects.flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]))
        if (keys.length === 0) return Effect.void
        return abortable((abortSignal) =>
          client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys, Quiet: true } }), { abortSignal })
        ).pipe(
          Effect.flatMap((r) => {
            const first = r.Errors?.[0]
            if (first !== undefined) {
              return Effect.fail(
                new StorageError({
                  operation: "deletePrefix",
                  key: prefix,
                  message: `${r.Errors?.length} object(s) not deleted, first ${first.Key}: ${first.Code} ${first.Message}`
                })
              )
            }
            count += keys.length
            return Effect.void
          })
        )
      }).pipe(
        Effect.map(() => count),
        Effect.mapError((error) => failure("deletePrefix", prefix, error))
      )
    }

    const check = abortable((abortSignal) => client.send(new HeadBucketCommand({ Bucket }), { abortSignal })).pipe(
      Effect.asVoid,
      Effect.timeoutFail({ duration: CHECK_TIMEOUT, onTimeout: () => new Error(`no answer within ${Duration.format(CHECK_TIMEOUT)}`) }),
      Effect.mapError((error) =>
        statusOf(error) === 404
          ? new StorageError({ operation: "check", key: "", message: `bucket ${Bucket} does not exist` })
          : new StorageError({ operation: "check", key: "", message: `bucket ${Bucket}: ${describeS3Error(error)}` })
      )
    )

    return {
      backend: "s3",
      put,
      get,
      head,
      list,
      delete: deleteOne,
      deletePrefix,
      localPath: () => Option.none(),
      check
    } satisfies StorageBackend
  })

/** PutObject answers no date; the client's clock at completion stands in for S3's Last-Modified. */
const objectInfo = (key: string, size: number, etag: string | undefined, contentType: string | undefined): ObjectInfo => ({
  key,
  size,
  etag: etag ?? "",
  lastModified: new Date(),
  ...(contentType === undefined ? {} : { contentType })
})
