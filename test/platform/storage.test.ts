import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Readable } from "node:stream"
import { ConfigProvider, Effect, Exit, Fiber, Layer, ManagedRuntime, Option, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type ObjectBody,
  type S3Settings,
  Storage,
  StorageConfig,
  storageLayer,
  StorageLive,
  type StorageService,
  type StorageSettings
} from "../../src/platform/storage.js"
import { S3_BUCKET, startS3rver } from "../support/s3.js"

const BUCKET = S3_BUCKET
const MiB = 1024 * 1024

const tempDir = (label: string) => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), `veza-storage-${label}-`))

const s3Settings = (port: number, overrides: Partial<S3Settings> = {}): S3Settings => ({
  backend: "s3",
  bucket: BUCKET,
  region: "us-east-1",
  endpoint: Option.some(`http://127.0.0.1:${port}`),
  forcePathStyle: true,
  // s3rver checks signatures against its fixed account.
  credentials: Option.some({ accessKeyId: Redacted.make("S3RVER"), secretAccessKey: Redacted.make("S3RVER") }),
  checksumWhenRequired: true,
  // Small pages, so 30 keys take several ListObjectsV2 calls.
  listPageSize: 7,
  ...overrides
})

/** A service of its own, closed again after `use`. */
const withStorage = async <A>(settings: StorageSettings, use: (storage: StorageService) => Promise<A>) => {
  const runtime = ManagedRuntime.make(storageLayer(settings))
  try {
    return await use(await runtime.runPromise(Storage))
  } finally {
    await runtime.dispose()
  }
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const fail = async <A, E>(effect: Effect.Effect<A, E>): Promise<E> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${String(exit.value)}`)
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return failure
}

const readAll = async (stream: Readable) => {
  const chunks: Array<Buffer> = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
const sha256 = (data: Uint8Array) => NodeCrypto.createHash("sha256").update(data).digest("hex")
const bodyOf = async (body: Option.Option<ObjectBody>) => readAll(Option.getOrThrow(body).stream)

/** `data` in 64 KiB chunks, optionally failing after `failAfter` bytes. */
const streamOf = (data: Buffer, failAfter?: number) =>
  Readable.from(
    (function* () {
      for (let offset = 0; offset < data.length; offset += 64 * 1024) {
        if (failAfter !== undefined && offset >= failAfter) throw new Error("the source broke")
        yield data.subarray(offset, offset + 64 * 1024)
      }
    })()
  )

/** Sends some bytes, then nothing more, ever. */
const stallingStream = () => {
  let sent = false
  return new Readable({
    read() {
      if (!sent) {
        sent = true
        this.push(Buffer.alloc(1024, 1))
      }
    }
  })
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = NodeNet.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as NodeNet.AddressInfo
      server.close(() => resolve(port))
    })
  })

describe.each(["local", "s3"] as const)("%s storage", (backend) => {
  let storage: StorageService
  let runtime: ManagedRuntime.ManagedRuntime<Storage, never>
  let localRoot = ""
  let s3Port = 0
  let stopS3rver = async () => {}
  const cleanup: Array<string> = []

  beforeAll(async () => {
    let settings: StorageSettings
    if (backend === "local") {
      localRoot = NodePath.join(tempDir("local"), "storage")
      cleanup.push(NodePath.dirname(localRoot))
      settings = { backend: "local", root: localRoot }
    } else {
      const directory = tempDir("s3rver")
      cleanup.push(directory)
      const s3rver = await startS3rver(directory)
      stopS3rver = s3rver.stop
      s3Port = s3rver.port
      settings = s3Settings(s3Port)
    }
    runtime = ManagedRuntime.make(storageLayer(settings))
    storage = await runtime.runPromise(Storage)
  })

  afterAll(async () => {
    await runtime?.dispose()
    await stopS3rver()
    for (const dir of cleanup) NodeFs.rmSync(dir, { recursive: true, force: true })
  })

  /**
   * s3rver keeps the bytes of an aborted PutObject as the object (S3 and
   * MinIO reject an incomplete body), so a stream failing during a streamed
   * PutObject can only be checked for leftovers on the local backend.
   */
  const abortedPutLeavesNothing = backend === "local"

  /** Files the local backend left next to its objects (temp files of failed writes). */
  const strayFiles = (folderKey: string) =>
    backend === "local" && NodeFs.existsSync(NodePath.join(localRoot, folderKey))
      ? NodeFs.readdirSync(NodePath.join(localRoot, folderKey)).filter((name) => name.startsWith("."))
      : []

  it("names its backend and passes its readiness check", async () => {
    expect(storage.backend).toBe(backend)
    await run(storage.check)
  })

  it("round-trips bytes and strings, with head agreeing with put", async () => {
    const bytes = NodeCrypto.randomBytes(1000)
    const info = await run(storage.put("tracks/one/original", bytes, { contentType: "audio/mpeg" }))
    expect(info).toMatchObject({ key: "tracks/one/original", size: 1000 })
    expect(info.etag).toMatch(/^".+"$/)
    const head = Option.getOrThrow(await run(storage.head("tracks/one/original")))
    expect(head).toMatchObject({ key: "tracks/one/original", size: 1000, etag: info.etag })
    const body = Option.getOrThrow(await run(storage.get("tracks/one/original")))
    expect(body).toMatchObject({ size: 1000, etag: info.etag })
    expect(body.range).toBeUndefined()
    // Only S3 keeps a content type.
    expect(body.contentType).toBe(backend === "s3" ? "audio/mpeg" : undefined)
    expect((await readAll(body.stream)).equals(bytes)).toBe(true)

    await run(storage.put("notes/hello.txt", "héllo"))
    expect((await bodyOf(await run(storage.get("notes/hello.txt")))).toString("utf8")).toBe("héllo")
  })

  it("overwrites an object and changes its etag", async () => {
    const first = await run(storage.put("over/x", "first version"))
    await new Promise((r) => setTimeout(r, 5))
    const second = await run(storage.put("over/x", "second, longer version"))
    expect(second.etag).not.toBe(first.etag)
    expect((await bodyOf(await run(storage.get("over/x")))).toString()).toBe("second, longer version")
  })

  it.each([
    ["of unknown length (in parts on S3)", false],
    ["with its length announced", true]
  ])("stores a 20 MiB stream %s", async (_, announced) => {
    const data = NodeCrypto.randomBytes(20 * MiB)
    const key = `big/${announced ? "announced" : "unknown"}`
    const info = await run(storage.put(key, streamOf(data), announced ? { contentLength: data.length } : {}))
    expect(info.size).toBe(data.length)
    expect(Option.getOrThrow(await run(storage.head(key))).size).toBe(data.length)
    expect(sha256(await bodyOf(await run(storage.get(key))))).toBe(sha256(data))
  })

  it("serves inclusive byte ranges, clamped to the object, and refuses ranges past its end", async () => {
    const data = Buffer.from(Array.from({ length: 100 }, (_, i) => i))
    await run(storage.put("ranges/obj", data))
    const slice = Option.getOrThrow(await run(storage.get("ranges/obj", { start: 10, end: 19 })))
    expect(slice).toMatchObject({ size: 100, range: { start: 10, end: 19 } })
    expect([...(await readAll(slice.stream))]).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i))

    const tail = Option.getOrThrow(await run(storage.get("ranges/obj", { start: 90 })))
    expect(tail.range).toEqual({ start: 90, end: 99 })
    expect((await readAll(tail.stream)).equals(data.subarray(90))).toBe(true)

    const clamped = Option.getOrThrow(await run(storage.get("ranges/obj", { start: 95, end: 500 })))
    expect(clamped.range).toEqual({ start: 95, end: 99 })
    expect((await readAll(clamped.stream)).equals(data.subarray(95))).toBe(true)

    expect(await fail(storage.get("ranges/obj", { start: 100 }))).toMatchObject({ _tag: "RangeNotSatisfiable", key: "ranges/obj", size: 100 })
    expect(await fail(storage.get("ranges/obj", { start: 5, end: 2 }))).toMatchObject({ _tag: "StorageError", operation: "get" })
    expect(Option.isNone(await run(storage.get("ranges/missing", { start: 0 })))).toBe(true)
  })

  it("answers None for missing keys, and for a key that is only a prefix of others", async () => {
    await run(storage.put("folder/inside", "x"))
    for (const key of ["nothing/here", "folder"]) {
      expect(Option.isNone(await run(storage.get(key)))).toBe(true)
      expect(Option.isNone(await run(storage.head(key)))).toBe(true)
    }
  })

  it("lists every object under a prefix, sorted, across pages", async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `list/a/k-${String(i).padStart(2, "0")}`)
    await run(Effect.forEach(keys, (key) => storage.put(key, key), { concurrency: 8 }))
    await run(storage.put("list/ab", "a sibling by string prefix"))
    await run(storage.put("list/b/other", "elsewhere"))

    const listed = await run(storage.list("list/a/"))
    expect(listed.map((o) => o.key)).toEqual(keys)
    expect(listed[3]).toMatchObject({ size: keys[3]!.length })
    expect(listed[3]!.etag).toBe(Option.getOrThrow(await run(storage.head(keys[3]!))).etag)
    // A prefix is a string prefix, as on S3.
    expect((await run(storage.list("list/a"))).map((o) => o.key)).toEqual([...keys.slice(0, 30), "list/ab"].sort())
    expect(await run(storage.list("list/nothing/"))).toEqual([])
    expect((await run(storage.list(""))).length).toBeGreaterThanOrEqual(32)
  })

  it("deletes a prefix and leaves its siblings alone", async () => {
    await run(storage.put("del/t1/a", "1"))
    await run(storage.put("del/t1/b/c", "2"))
    await run(storage.put("del/t10/a", "3"))
    await run(storage.put("del/t2/a", "4"))
    expect(await run(storage.deletePrefix("del/t1/"))).toBe(2)
    expect((await run(storage.list("del/"))).map((o) => o.key)).toEqual(["del/t10/a", "del/t2/a"])
    expect(await run(storage.deletePrefix("del/t1/"))).toBe(0)
    if (backend === "local") expect(NodeFs.existsSync(NodePath.join(localRoot, "del/t1"))).toBe(false)
  })

  it("deletes single objects, idempotently, pruning empty folders on disk", async () => {
    await run(storage.put("prune/a/b/c", "x"))
    await run(storage.delete("prune/a/b/c"))
    await run(storage.delete("prune/a/b/c"))
    expect(Option.isNone(await run(storage.head("prune/a/b/c")))).toBe(true)
    if (backend === "local") {
      expect(NodeFs.existsSync(NodePath.join(localRoot, "prune"))).toBe(false)
      expect(NodeFs.existsSync(localRoot)).toBe(true)
    }
  })

  it.each(["", "/abs", "a/../b", "..", "a\\b", "a\u0000b", "a//b", "a/", ".hidden", "a/.part"])(
    "rejects the key %j with a StorageError",
    async (key) => {
      for (const effect of [storage.put(key, "x"), storage.get(key), storage.head(key), storage.delete(key), storage.download(key, "/tmp/never")]) {
        const error = await fail<unknown, unknown>(effect)
        expect(error).toMatchObject({ _tag: "StorageError", key })
        expect((error as Error).message).toMatch(/^invalid key: /)
      }
      expect(Option.isNone(storage.localPath(key))).toBe(true)
    }
  )

  it("refuses to delete everything at once, but lists everything", async () => {
    expect(await fail(storage.deletePrefix(""))).toMatchObject({ _tag: "StorageError", operation: "deletePrefix" })
    expect(await fail(storage.list("../x"))).toMatchObject({ _tag: "StorageError", operation: "list" })
  })

  it.each([
    ["of unknown length fails before its first part", 1 * MiB, false],
    ["of unknown length fails after its first part", 12 * MiB, false],
    ["of announced length fails", 1 * MiB, true]
  ])("leaves nothing under the key when a stream %s", async (_, failAfter, announced) => {
    const data = NodeCrypto.randomBytes(16 * MiB)
    const options = announced ? { contentLength: data.length } : {}
    const fresh = `broken/fresh-${failAfter}-${announced}`
    const error = await fail(storage.put(fresh, streamOf(data, failAfter), options))
    expect(error).toMatchObject({ _tag: "StorageError", operation: "put", key: fresh })
    expect(error.message).toContain("the source broke")
    if (!announced || abortedPutLeavesNothing) expect(Option.isNone(await run(storage.head(fresh)))).toBe(true)

    // An existing object keeps its old bytes.
    const existing = `broken/existing-${failAfter}-${announced}`
    await run(storage.put(existing, "old bytes"))
    await fail(storage.put(existing, streamOf(data, failAfter), options))
    if (!announced || abortedPutLeavesNothing) expect((await bodyOf(await run(storage.get(existing)))).toString()).toBe("old bytes")
    expect(strayFiles("broken")).toEqual([])
  })

  it("refuses a stream whose length differs from the announced one", async () => {
    const short = await fail(storage.put("length/short", streamOf(Buffer.alloc(1000)), { contentLength: 2000 }))
    expect(short.message).toContain("ended after 1000 of its announced 2000 bytes")
    const long = await fail(storage.put("length/long", streamOf(Buffer.alloc(3000)), { contentLength: 2000 }))
    expect(long.message).toContain("longer than its announced 2000 bytes")
    expect(await fail(storage.put("length/bytes", Buffer.alloc(10), { contentLength: 11 }))).toMatchObject({ operation: "put" })
    expect((await run(storage.list("length/"))).map((o) => o.key)).toEqual(abortedPutLeavesNothing ? [] : ["length/short"])
    expect(strayFiles("length")).toEqual([])
  })

  it("cleans up when a put is interrupted", async () => {
    const fiber = Effect.runFork(storage.put("interrupted/x", stallingStream()))
    await new Promise((r) => setTimeout(r, 200))
    const started = Date.now()
    const exit = await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Exit.isInterrupted(exit)).toBe(true)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(Option.isNone(await run(storage.head("interrupted/x")))).toBe(true)
    expect(strayFiles("interrupted")).toEqual([])
  })

  it("uploads a file and downloads it back", async () => {
    const dir = tempDir("files")
    cleanup.push(dir)
    const data = NodeCrypto.randomBytes(300_000)
    NodeFs.writeFileSync(NodePath.join(dir, "in.bin"), data)
    const info = await run(storage.putFile("files/in.bin", NodePath.join(dir, "in.bin"), { contentType: "application/octet-stream" }))
    expect(info.size).toBe(data.length)
    await run(storage.download("files/in.bin", NodePath.join(dir, "out.bin")))
    expect(NodeFs.readFileSync(NodePath.join(dir, "out.bin")).equals(data)).toBe(true)

    expect(await fail(storage.download("files/missing", NodePath.join(dir, "missing.bin")))).toMatchObject({ message: "no such object" })
    expect(NodeFs.existsSync(NodePath.join(dir, "missing.bin"))).toBe(false)
    expect(await fail(storage.putFile("files/none", NodePath.join(dir, "does-not-exist")))).toMatchObject({ operation: "putFile" })
  })

  it("stores a file on the local root's filesystem without copying it, and leaves the file in place", async () => {
    if (backend !== "local") return
    const dir = NodePath.join(NodePath.dirname(localRoot), "work")
    NodeFs.mkdirSync(dir, { recursive: true })
    const source = NodePath.join(dir, "seg.m4s")
    NodeFs.writeFileSync(source, "first")
    await run(storage.putFile("linked/seg.m4s", source))
    const stored = Option.getOrThrow(storage.localPath("linked/seg.m4s"))
    expect(NodeFs.statSync(stored).ino).toBe(NodeFs.statSync(source).ino)
    // Replacing goes through a new file too: the earlier object's bytes are untouched.
    const next = NodePath.join(dir, "next.m4s")
    NodeFs.writeFileSync(next, "second")
    await run(storage.putFile("linked/seg.m4s", next))
    expect(NodeFs.readFileSync(source, "utf8")).toBe("first")
    NodeFs.rmSync(next)
    expect((await bodyOf(await run(storage.get("linked/seg.m4s")))).toString()).toBe("second")
    expect(strayFiles("linked")).toEqual([])
  })

  // /dev/shm is a tmpfs, another filesystem than the temp folder's on most machines.
  it.runIf(backend === "local" && NodeFs.existsSync("/dev/shm") && NodeFs.statSync("/dev/shm").dev !== NodeFs.statSync(NodeOs.tmpdir()).dev)(
    "copies a file from another filesystem",
    async () => {
      const dir = NodeFs.mkdtempSync("/dev/shm/veza-storage-")
      cleanup.push(dir)
      const data = NodeCrypto.randomBytes(100_000)
      NodeFs.writeFileSync(NodePath.join(dir, "in.bin"), data)
      const info = await run(storage.putFile("copied/in.bin", NodePath.join(dir, "in.bin")))
      expect(info.size).toBe(data.length)
      NodeFs.rmSync(NodePath.join(dir, "in.bin"))
      expect((await bodyOf(await run(storage.get("copied/in.bin")))).equals(data)).toBe(true)
      expect(strayFiles("copied")).toEqual([])
    }
  )

  it("gives a local path only on the local backend", async () => {
    await run(storage.put("paths/original", "in place"))
    const path = storage.localPath("paths/original")
    if (backend === "local") {
      expect(path).toEqual(Option.some(NodePath.join(localRoot, "paths/original")))
      expect(NodeFs.readFileSync(Option.getOrThrow(path), "utf8")).toBe("in place")
    } else {
      expect(Option.isNone(path)).toBe(true)
    }
  })

  if (backend === "s3") {
    it("fails its check cleanly when the endpoint is closed or the bucket missing", async () => {
      const started = Date.now()
      const refused = await withStorage(s3Settings(await freePort()), (s) => fail(s.check))
      expect(refused).toMatchObject({ _tag: "StorageError", operation: "check" })
      expect(refused.message).toMatch(/ECONNREFUSED/)
      expect(Date.now() - started).toBeLessThan(5000)
      const missing = await withStorage(s3Settings(s3Port, { bucket: "no-such-bucket" }), (s) => fail(s.check))
      expect(missing.message).toBe("bucket no-such-bucket does not exist")
    })
  }
})

describe("storage configuration", () => {
  const settingsFrom = (env: Record<string, string>) =>
    Effect.runPromiseExit(StorageConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))
  const settings = async (env: Record<string, string>) => {
    const exit = await settingsFrom(env)
    if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
    return exit.value
  }
  const configError = async (env: Record<string, string>) => {
    const exit = await Effect.runPromiseExit(
      Layer.build(StorageLive).pipe(Effect.scoped, Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
    )
    if (Exit.isSuccess(exit)) throw new Error("expected the layer to fail")
    return String(exit.cause._tag === "Fail" ? exit.cause.error : exit.cause)
  }

  it("defaults to the local backend under DATA_DIR/storage; empty values count as unset", async () => {
    expect(await settings({})).toEqual({ backend: "local", root: NodePath.resolve("data/storage") })
    expect(await settings({ TRACK_STORAGE_BACKEND: "", DATA_DIR: "" })).toEqual({ backend: "local", root: NodePath.resolve("data/storage") })
    expect(await settings({ DATA_DIR: "/srv/veza" })).toEqual({ backend: "local", root: "/srv/veza/storage" })
    expect(await settings({ DATA_DIR: "/srv/veza", STORAGE_LOCAL_DIR: "/mnt/media" })).toEqual({ backend: "local", root: "/mnt/media" })
  })

  it("reads the S3 settings, path style following the endpoint", async () => {
    const withEndpoint = await settings({ TRACK_STORAGE_BACKEND: "s3", S3_BUCKET: "media", S3_ENDPOINT: "http://minio:9000" })
    expect(withEndpoint).toMatchObject({
      backend: "s3",
      bucket: "media",
      region: "us-east-1",
      endpoint: Option.some("http://minio:9000"),
      forcePathStyle: true,
      credentials: Option.none(),
      checksumWhenRequired: true,
      listPageSize: 1000
    })
    const aws = await settings({ TRACK_STORAGE_BACKEND: "s3", S3_BUCKET: "media", S3_REGION: "eu-west-3", S3_CHECKSUM_WHEN_REQUIRED: "false" })
    expect(aws).toMatchObject({ region: "eu-west-3", endpoint: Option.none(), forcePathStyle: false, checksumWhenRequired: false })
    const keyed = await settings({
      TRACK_STORAGE_BACKEND: "s3",
      S3_BUCKET: "media",
      S3_ENDPOINT: "http://minio:9000",
      S3_FORCE_PATH_STYLE: "no",
      S3_ACCESS_KEY_ID: "id",
      S3_SECRET_ACCESS_KEY: "a-secret"
    })
    expect(keyed).toMatchObject({ forcePathStyle: false })
    expect(keyed.backend === "s3" && Option.isSome(keyed.credentials)).toBe(true)
    expect(JSON.stringify(keyed)).not.toContain("a-secret")
  })

  it.each([
    [{ TRACK_STORAGE_BACKEND: "s3" }, "S3_BUCKET", "S3_BUCKET must be set when TRACK_STORAGE_BACKEND=s3"],
    [{ TRACK_STORAGE_BACKEND: "s3", S3_BUCKET: " " }, "S3_BUCKET", "S3_BUCKET must be set"],
    [{ TRACK_STORAGE_BACKEND: "gcs" }, "TRACK_STORAGE_BACKEND", 'must be local or s3, got "gcs"'],
    [{ TRACK_STORAGE_BACKEND: "s3", S3_BUCKET: "b", S3_ENDPOINT: "minio:9000 x" }, "S3_ENDPOINT", "must be a URL"],
    [{ TRACK_STORAGE_BACKEND: "s3", S3_BUCKET: "b", S3_ACCESS_KEY_ID: "id" }, "S3_SECRET_ACCESS_KEY", "must be set together"],
    [{ S3_FORCE_PATH_STYLE: "maybe" }, "S3_FORCE_PATH_STYLE", 'must be true or false, got "maybe"']
  ])("refuses %j at layer construction, naming %s", async (env, variable, text) => {
    const message = await configError(env)
    expect(message).toContain(`at ${variable}:`)
    expect(message).toContain(text)
    expect(message).not.toContain("\n")
  })

  it("builds the S3 layer without touching the network", async () => {
    const runtime = ManagedRuntime.make(
      StorageLive.pipe(
        Layer.provide(
          Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TRACK_STORAGE_BACKEND", "s3"], ["S3_BUCKET", "media"], ["S3_ENDPOINT", "http://127.0.0.1:1"]])))
        )
      )
    )
    try {
      const storage = await runtime.runPromise(Storage)
      expect(storage.backend).toBe("s3")
      expect(Option.isNone(storage.localPath("tracks/x/original"))).toBe(true)
    } finally {
      await runtime.dispose()
    }
  })
})
