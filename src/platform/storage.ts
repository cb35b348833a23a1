import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { pipeline, Readable, Transform } from "node:stream"
import * as NodeStreamPromises from "node:stream/promises"
import { Config, ConfigError, Context, Data, Effect, Either, Exit, Layer, Option, Redacted } from "effect"

export interface ObjectInfo {
  readonly key: string
  readonly size: number
  /** Quoted like an HTTP ETag. */
  readonly etag: string
  readonly lastModified: Date
  /** Only what the backend stores: S3 keeps the type given at `put`, the local backend none. */
  readonly contentType?: string
}

export interface ObjectBody extends ObjectInfo {
  readonly stream: Readable
  /** The bytes served, inclusive; present whenever a range was asked for. */
  readonly range?: { readonly start: number; readonly end: number }
}

/** Inclusive like HTTP's `Range: bytes=start-end`; without `end`, up to the last byte. */
export interface ByteRange {
  readonly start: number
  readonly end?: number
}

export type PutBody = Readable | Uint8Array | string

export interface PutOptions {
  readonly contentType?: string
  /** For a stream: the exact byte count, checked while it is written. */
  readonly contentLength?: number
}

export type StorageBackendName = "local" | "s3"

/** Any failed storage operation, invalid keys included; `message` carries no stack. */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly key: string
  readonly message: string
}> {}

/** The range starts at or after the end of the object (HTTP 416, `Content-Range: bytes *\/size`). */
export class RangeNotSatisfiable extends Data.TaggedError("RangeNotSatisfiable")<{
  readonly key: string
  readonly size: number
}> {}

/**
 * Keys are relative, `/`-separated paths such as `tracks/<uuid>/original`.
 * They are validated before any backend sees them, so a key can never name
 * a file outside the local root, and both backends accept the same keys.
 */
export interface StorageService {
  readonly backend: StorageBackendName
  /** Consumes (and on failure destroys) a stream body; until it succeeds nothing new is visible under the key. */
  readonly put: (key: string, body: PutBody, options?: PutOptions) => Effect.Effect<ObjectInfo, StorageError>
  /**
   * Stores a copy of a local file. The local backend may hard-link it instead
   * of copying: the caller may delete or rename the file afterwards, but must
   * not write into it.
   */
  readonly putFile: (key: string, localPath: string, options?: { readonly contentType?: string }) => Effect.Effect<ObjectInfo, StorageError>
  /** None when there is no object under the key. The caller must consume or destroy the stream. */
  readonly get: (key: string, range?: ByteRange) => Effect.Effect<Option.Option<ObjectBody>, StorageError | RangeNotSatisfiable>
  readonly head: (key: string) => Effect.Effect<Option.Option<ObjectInfo>, StorageError>
  /** Fails when there is no object under the key; a partly written file is removed. */
  readonly download: (key: string, localPath: string) => Effect.Effect<void, StorageError>
  /** Every object whose key starts with `prefix` (a plain string prefix, as on S3), sorted by key. */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<ObjectInfo>, StorageError>
  /** Succeeds when there is nothing under the key. */
  readonly delete: (key: string) => Effect.Effect<void, StorageError>
  /** Deletes what `list(prefix)` would return and answers how many objects that was; an empty prefix is refused. */
  readonly deletePrefix: (prefix: string) => Effect.Effect<number, StorageError>
  /** Where the local backend keeps the key's bytes (whether or not they exist); None on S3 or for an invalid key. */
  readonly localPath: (key: string) => Option.Option<string>
  /** Readiness: the local root is writable, or the bucket answers. */
  readonly check: Effect.Effect<void, StorageError>
}

export class Storage extends Context.Tag("veza/Storage")<Storage, StorageService>() {}

// ---------------------------------------------------------------------------
// Configuration

export type StorageSettings = LocalSettings | S3Settings

export interface LocalSettings {
  readonly backend: "local"
  /** Absolute. */
  readonly root: string
}

export interface S3Settings {
  readonly backend: "s3"
  readonly bucket: string
  readonly region: string
  readonly endpoint: Option.Option<string>
  readonly forcePathStyle: boolean
  /** None: the SDK's default credential chain (environment, profile, instance role). */
  readonly credentials: Option.Option<{
    readonly accessKeyId: Redacted.Redacted<string>
    readonly secretAccessKey: Redacted.Redacted<string>
  }>
  /** Checksums only where S3 requires them; S3-compatible servers such as s3rver store aws-chunked framing as data otherwise. */
  readonly checksumWhenRequired: boolean
  /** Keys per ListObjectsV2 page; S3's maximum (1000) except in tests. */
  readonly listPageSize: number
}

/** Set-but-empty counts as unset. */
const setting = (name: string) =>
  Config.option(Config.string(name)).pipe(
    Config.map((value) => Option.filter(Option.map(value, (s) => s.trim()), (s) => s.length > 0))
  )

const secret = (name: string) =>
  Config.option(Config.redacted(name)).pipe(Config.map(Option.filter((value) => Redacted.value(value).trim().length > 0)))

const flag = (name: string) =>
  setting(name).pipe(
    Config.mapOrFail((value) => {
      if (Option.isNone(value)) return Either.right(Option.none<boolean>())
      switch (value.value.toLowerCase()) {
        case "true":
        case "yes":
        case "on":
        case "1":
          return Either.right(Option.some(true))
        case "false":
        case "no":
        case "off":
        case "0":
          return Either.right(Option.some(false))
        default:
          return Either.left(ConfigError.InvalidData([name], `${name} must be true or false, got "${value.value}"`))
      }
    })
  )

const rawStorageConfig = Config.all({
  backend: setting("TRACK_STORAGE_BACKEND"),
  dataDir: setting("DATA_DIR"),
  localDir: setting("STORAGE_LOCAL_DIR"),
  endpoint: setting("S3_ENDPOINT"),
  bucket: setting("S3_BUCKET"),
  region: setting("S3_REGION"),
  accessKeyId: secret("S3_ACCESS_KEY_ID"),
  secretAccessKey: secret("S3_SECRET_ACCESS_KEY"),
  forcePathStyle: flag("S3_FORCE_PATH_STYLE"),
  checksumWhenRequired: flag("S3_CHECKSUM_WHEN_REQUIRED")
})

const isHttpUrl = (value: string) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)

const toSettings = (c: Config.Config.Success<typeof rawStorageConfig>): Either.Either<StorageSettings, ConfigError.ConfigError> => {
  const backend = Option.getOrElse(c.backend, () => "local")
  if (backend === "local") {
    const root = Option.getOrElse(c.localDir, () => NodePath.join(Option.getOrElse(c.dataDir, () => "./data"), "storage"))
    return Either.right({ backend: "local", root: NodePath.resolve(root) })
  }
  if (backend !== "s3") {
    return Either.left(ConfigError.InvalidData(["TRACK_STORAGE_BACKEND"], `TRACK_STORAGE_BACKEND must be local or s3, got "${backend}"`))
  }
  if (Option.isNone(c.bucket)) {
    return Either.left(ConfigError.MissingData(["S3_BUCKET"], "S3_BUCKET must be set when TRACK_STORAGE_BACKEND=s3"))
  }
  if (Option.isSome(c.endpoint) && !isHttpUrl(c.endpoint.value)) {
    return Either.left(ConfigError.InvalidData(["S3_ENDPOINT"], `S3_ENDPOINT must be a URL such as http://minio:9000, got "${c.endpoint.value}"`))
  }
  if (Option.isSome(c.accessKeyId) !== Option.isSome(c.secretAccessKey)) {
    const missing = Option.isNone(c.accessKeyId) ? "S3_ACCESS_KEY_ID" : "S3_SECRET_ACCESS_KEY"
    return Either.left(ConfigError.MissingData([missing], "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together"))
  }
  return Either.right({
    backend: "s3",
    bucket: c.bucket.value,
    region: Option.getOrElse(c.region, () => "us-east-1"),
    endpoint: c.endpoint,
    forcePathStyle: Option.getOrElse(c.forcePathStyle, () => Option.isSome(c.endpoint)),
    credentials: Option.all({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }),
    checksumWhenRequired: Option.getOrElse(c.checksumWhenRequired, () => true),
    listPageSize: 1000
  })
}

export const StorageConfig: Config.Config<StorageSettings> = rawStorageConfig.pipe(Config.mapOrFail(toSettings))

// ---------------------------------------------------------------------------
// What a backend implements; keys reach it already validated, bodies normalized.

export interface StorageBackend {
  readonly backend: StorageBackendName
  readonly put: (key: string, body: Readable | Uint8Array, options: PutOptions) => Effect.Effect<ObjectInfo, StorageError>
  /** When the backend can do better than streaming the file through `put`. */
  readonly putFile?: (key: string, localPath: string, options: PutOptions) => Effect.Effect<ObjectInfo, StorageError>
  readonly get: (key: string, range: ByteRange | undefined) => Effect.Effect<Option.Option<ObjectBody>, StorageError | RangeNotSatisfiable>
  readonly head: (key: string) => Effect.Effect<Option.Option<ObjectInfo>, StorageError>
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<ObjectInfo>, StorageError>
  readonly delete: (key: string) => Effect.Effect<void, StorageError>
  readonly deletePrefix: (prefix: string) => Effect.Effect<number, StorageError>
  readonly localPath: (key: string) => Option.Option<string>
  readonly check: Effect.Effect<void, StorageError>
}

/**
 * Runs a promise-returning operation; on interruption aborts it through the
 * signal and waits until it has settled, so a release step never races the
 * operation it cleans up after (a temp file still being created, a part
 * still being uploaded).
 */
export const abortable = <A>(run: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, unknown> =>
  Effect.async<A, unknown>((resume) => {
    const controller = new AbortController()
    let settled: Promise<A>
    try {
      settled = run(controller.signal)
    } catch (error) {
      settled = Promise.reject(error)
    }
    settled.then(
      (value) => resume(Effect.succeed(value)),
      (error) => resume(Effect.fail(error))
    )
    return Effect.promise(() => {
      controller.abort()
      return settled.then(
        () => undefined,
        () => undefined
      )
    })
  })

/** One line, no stack: what the error says, or its code when it says nothing (Node's AggregateError from a refused connection). */
export const describeError = (error: unknown): string => {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describeError).join("; ")
  if (error instanceof Error) {
    const code = (error as { readonly code?: unknown }).code
    return error.message.length > 0 ? error.message : typeof code === "string" ? code : error.name
  }
  return String(error)
}

/** Cleanup after a failure, which must not replace that failure. */
export const removeQuietly = (path: string): Effect.Effect<void> =>
  Effect.promise(() => NodeFs.promises.rm(path, { force: true }).catch(() => undefined))

export const quotedEtag = (size: number, mtimeMs: number) => `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`

// ---------------------------------------------------------------------------
// The service: validation and the operations both backends share.

/**
 * Rejects what could escape the local root or means different things on the
 * two backends. Segments may not start with `.`: the local backend keeps its
 * temp files under such names.
 */
const keyProblem = (key: string, isPrefix: boolean): string | undefined => {
  if (key.length === 0) return isPrefix ? undefined : "is empty"
  if (key.includes("\u0000")) return "contains a NUL character"
  if (key.includes("\\")) return "contains a backslash"
  if (key.startsWith("/")) return "starts with /"
  if (key.includes("..")) return "contains .."
  if (key.includes("//")) return "has an empty segment"
  if (key.startsWith(".") || key.includes("/.")) return "has a segment starting with ."
  if (!isPrefix && key.endsWith("/")) return "ends with /"
  return undefined
}

const invalid = (operation: string, key: string, problem: string) =>
  new StorageError({ operation, key, message: `invalid key: ${problem}` })

/** Errors as soon as the stream is longer than announced, or at its end when shorter. */
const checkLength = (body: Readable, expected: number): Readable => {
  let seen = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > expected) callback(new Error(`the body is longer than its announced ${expected} bytes`))
      else callback(null, chunk)
    },
    flush(callback) {
      callback(seen === expected ? null : new Error(`the body ended after ${seen} of its announced ${expected} bytes`))
    }
  })
  // Errors travel both ways: a failing source fails the counter, a destroyed counter destroys the source.
  return pipeline(body, counter, () => {})
}

const fromBackend = (backend: StorageBackend): StorageService => {
  const put = (key: string, body: PutBody, options: PutOptions = {}): Effect.Effect<ObjectInfo, StorageError> => {
    const problem = keyProblem(key, false)
    if (problem !== undefined) {
      if (body instanceof Readable) body.destroy()
      return Effect.fail(invalid("put", key, problem))
    }
    if (body instanceof Readable) {
      const stream = options.contentLength === undefined ? body : checkLength(body, options.contentLength)
      return backend.put(key, stream, options).pipe(
        Effect.onExit((exit) => (Exit.isFailure(exit) ? Effect.sync(() => stream.destroy()) : Effect.void))
      )
    }
    const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body
    if (options.contentLength !== undefined && options.contentLength !== bytes.byteLength) {
      return Effect.fail(
        new StorageError({ operation: "put", key, message: `the body has ${bytes.byteLength} bytes, not the announced ${options.contentLength}` })
      )
    }
    return backend.put(key, bytes, { ...options, contentLength: bytes.byteLength })
  }

  const putFile = (key: string, localPath: string, options: { readonly contentType?: string } = {}) => {
    const problem = keyProblem(key, false)
    if (problem !== undefined) return Effect.fail(invalid("putFile", key, problem))
    if (backend.putFile !== undefined) return backend.putFile(key, localPath, options)
    return Effect.tryPromise({
      try: () => NodeFs.promises.stat(localPath),
      catch: (error) => new StorageError({ operation: "putFile", key, message: `cannot read ${localPath}: ${describeError(error)}` })
    }).pipe(
      Effect.flatMap((stats) =>
        put(key, NodeFs.createReadStream(localPath), { ...options, contentLength: stats.size }).pipe(
          Effect.mapError((e) => new StorageError({ operation: "putFile", key, message: e.message }))
        )
      )
    )
  }

  const get = (key: string, range?: ByteRange) => {
    const problem = keyProblem(key, false)
    if (problem !== undefined) return Effect.fail(invalid("get", key, problem))
    if (range !== undefined && !validRange(range)) {
      return Effect.fail(new StorageError({ operation: "get", key, message: `invalid range ${range.start}-${range.end ?? ""}` }))
    }
    return backend.get(key, range)
  }

  const download = (key: string, localPath: string) =>
    get(key).pipe(
      Effect.catchTag("RangeNotSatisfiable", () => Effect.die("a request without a range cannot be unsatisfiable")),
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.fail(new StorageError({ operation: "download", key, message: "no such object" })),
          onSome: (body) =>
            abortable((signal) => NodeStreamPromises.pipeline(body.stream, NodeFs.createWriteStream(localPath), { signal })).pipe(
              Effect.onExit((exit) => (Exit.isFailure(exit) ? removeQuietly(localPath) : Effect.void)),
              Effect.mapError((error) => new StorageError({ operation: "download", key, message: describeError(error) }))
            )
        })
      )
    )

  const withKey =
    <A>(operation: string, isPrefix: boolean, run: (key: string) => Effect.Effect<A, StorageError>) =>
    (key: string): Effect.Effect<A, StorageError> => {
      const problem = keyProblem(key, isPrefix)
      return problem === undefined ? run(key) : Effect.fail(invalid(operation, key, problem))
    }

  return {
    backend: backend.backend,
    put,
    putFile,
    get,
    head: withKey("head", false, backend.head),
    download,
    list: withKey("list", true, backend.list),
    delete: withKey("delete", false, backend.delete),
    deletePrefix: withKey("deletePrefix", true, (prefix) =>
      prefix.length === 0
        ? Effect.fail(invalid("deletePrefix", prefix, "an empty prefix would delete every object"))
        : backend.deletePrefix(prefix)
    ),
    localPath: (key) => (keyProblem(key, false) === undefined ? backend.localPath(key) : Option.none()),
    check: backend.check
  }
}

const validRange = (range: ByteRange) =>
  Number.isSafeInteger(range.start) &&
  range.start >= 0 &&
  (range.end === undefined || (Number.isSafeInteger(range.end) && range.end >= range.start))

/**
 * The backend modules are loaded on demand: a local deployment never loads
 * the AWS SDK (and its start-up cost).
 */
export const storageLayer = (settings: StorageSettings): Layer.Layer<Storage> =>
  Layer.scoped(
    Storage,
    Effect.gen(function* () {
      if (settings.backend === "local") {
        const local = yield* Effect.promise(() => import("./storage-local.js"))
        return fromBackend(local.makeLocalBackend(settings))
      }
      const s3 = yield* Effect.promise(() => import("./storage-s3.js"))
      return fromBackend(yield* s3.makeS3Backend(settings))
    })
  )

export const StorageLive: Layer.Layer<Storage, ConfigError.ConfigError> = Layer.unwrapEffect(Effect.map(StorageConfig, storageLayer))
