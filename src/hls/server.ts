import * as NodeFs from "node:fs"
import type * as NodeHttp from "node:http"
import type { Readable } from "node:stream"
import { Effect, Layer, Option, Runtime } from "effect"
import type { Actor } from "../auth/current-user.js"
import { Authenticator, bearerToken } from "../auth/authentication.js"
import { errorBody } from "../platform/api-errors.js"
import { rewritePlaylistUris } from "../platform/ffmpeg.js"
import { sendJson } from "../platform/http-middleware.js"
import { type FastRoute, FastRoutes } from "../platform/http-server.js"
import { quotedEtag, Storage } from "../platform/storage.js"
import { StreamingConfig } from "../tracks/config.js"
import { ownsOrAdmin } from "../tracks/policy.js"
import { type TrackAccess, TracksRepo } from "../tracks/repo.js"
import { type CachedFile, makeFileCache } from "./file-cache.js"
import { StreamLinks } from "./links.js"
import { isUuid } from "../platform/text.js"

export const HLS_PATHS = ["/hls/:trackId/master.m3u8", "/hls/:trackId/:attempt/:rendition/:file"]

const RENDITION = /^\d{2,3}k$/
const FILE = /^(?:playlist\.m3u8|init\.mp4|seg_\d{5,6}\.m4s)$/
const PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
const IMMUTABLE = "max-age=31536000, immutable"
/** Hundreds of 6 s segments at the top rung; a 256 kbps one is ~200 KB. */
const FILE_CACHE_BYTES = 32 * 1024 * 1024
const FILE_CACHE_MAX_FILE_BYTES = 1024 * 1024
const FILE_CACHE_TTL_MS = 10_000

type Request = NodeHttp.IncomingMessage
type Response = NodeHttp.ServerResponse

interface Resolved {
  readonly key: string
  readonly isPlaylist: boolean
  readonly isMaster: boolean
}

/** Short-lived memo of lookups that every segment request would otherwise repeat. */
const memo = <A>(ttlMs: number, maxEntries: number) => {
  const entries = new Map<string, { readonly value: A; readonly expires: number }>()
  return {
    get: (key: string, now: number) => {
      const hit = entries.get(key)
      if (hit === undefined) return undefined
      if (hit.expires > now) return hit.value
      entries.delete(key)
      return undefined
    },
    set: (key: string, value: A, now: number) => {
      // Insertion order is age order: evicting the first keys drops the oldest.
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
      entries.set(key, { value, expires: now + ttlMs })
    }
  }
}

/** A single `bytes=a-b` / `bytes=a-` / `bytes=-n` range; multi-range requests get the whole file. */
export const parseRange = (header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined => {
  if (header === undefined) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null || (match[1] === "" && match[2] === "")) return undefined
  if (match[1] === "") {
    const suffix = Number(match[2])
    if (suffix === 0) return "unsatisfiable"
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(match[1])
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1)
  if (start >= size || end < start) return "unsatisfiable"
  return { start, end }
}

/**
 * GET/HEAD `/hls/:trackId/master.m3u8` and `/hls/:trackId/:attempt/:rendition/:file`.
 *
 * Files under an attempt's prefix never change once published, so they are
 * immutable to caches; only the master playlist, which moves to the next
 * prefix on re-transcode, is cached briefly. Public tracks are open. Others
 * need the owner's (or an admin's) bearer token, or a signed link, whose
 * query the playlists carry on to every URI they name. Written as a plain
 * Node handler: a segment request is one memo lookup and one file stream.
 */
export const HlsRoutesLive = Layer.effect(
  FastRoutes,
  Effect.gen(function* () {
    const config = yield* StreamingConfig
    const storage = yield* Storage
    const repo = yield* TracksRepo
    const links = yield* StreamLinks
    const authenticator = yield* Authenticator
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runPromise(runtime)
    const accessMemo = memo<Option.Option<TrackAccess>>(config.hlsAccessCacheMs, 10_000)
    const actorMemo = memo<Actor | undefined>(config.hlsAccessCacheMs, 10_000)
    const files = makeFileCache({ budgetBytes: FILE_CACHE_BYTES, maxFileBytes: FILE_CACHE_MAX_FILE_BYTES, ttlMs: FILE_CACHE_TTL_MS })

    const lookupAccess = (trackId: string): Promise<Option.Option<TrackAccess>> => {
      const now = Date.now()
      const cached = accessMemo.get(trackId, now)
      if (cached !== undefined) return Promise.resolve(cached)
      return run(repo.access(trackId)).then((access) => {
        // Not yet published: asked again next time, so the first publication is served at once.
        if (Option.isSome(access) && Option.isSome(access.value.hlsPrefix)) accessMemo.set(trackId, access, now)
        return access
      })
    }

    const lookupActor = (header: string): Promise<Actor | undefined> => {
      const now = Date.now()
      const cached = actorMemo.get(header, now)
      if (cached !== undefined) return Promise.resolve(cached)
      const token = bearerToken(header)
      if (token === undefined) return Promise.resolve(undefined)
      return run(authenticator.authenticate(token).pipe(Effect.orElseSucceed(() => undefined))).then((actor) => {
        actorMemo.set(header, actor, now)
        return actor
      })
    }

    const fail = (response: Response, status: number, code: string, message: string) => {
      if (!response.headersSent) sendJson(response, status, errorBody(code, message))
      else response.destroy()
    }

    const resolve = (trackId: string, rest: ReadonlyArray<string>, access: TrackAccess): Resolved | undefined => {
      if (rest.length === 1 && rest[0] === "master.m3u8") {
        return Option.match(access.hlsPrefix, {
          onNone: () => undefined,
          onSome: (prefix) => ({ key: `${prefix}/master.m3u8`, isPlaylist: true, isMaster: true })
        })
      }
      if (rest.length === 3 && isUuid(rest[0]!) && RENDITION.test(rest[1]!) && FILE.test(rest[2]!)) {
        return { key: `hls/${trackId}/${rest.join("/")}`, isPlaylist: rest[2] === "playlist.m3u8", isMaster: false }
      }
      return undefined
    }

    /** Playlists: small, read whole, URIs rewritten when a signed link must carry through. */
    const sendPlaylist = (request: Request, response: Response, file: Resolved, source: CachedFile, link: { exp: string; sig: string } | undefined, cacheScope: string) => {
      // The rewritten text differs per link: so does its tag.
      const etag = link === undefined ? source.etag : `"${source.etag.replace(/"/g, "")}-${link.exp}"`
      response.setHeader("etag", etag)
      response.setHeader("cache-control", `${cacheScope}, ${file.isMaster ? "max-age=5" : IMMUTABLE}`)
      if (request.headers["if-none-match"] === etag) return void response.writeHead(304).end()
      let body: Buffer | string = source.body
      if (link !== undefined) {
        const query = `exp=${link.exp}&sig=${encodeURIComponent(link.sig)}`
        body = rewritePlaylistUris(source.body.toString("utf8"), (uri) => `${uri}${uri.includes("?") ? "&" : "?"}${query}`)
      }
      response.writeHead(200, { "content-type": PLAYLIST_TYPE, "content-length": Buffer.byteLength(body) })
      response.end(request.method === "HEAD" ? undefined : body)
    }

    /** A playlist from a backend without local files: one GET, read whole. */
    const readPlaylist = async (key: string): Promise<CachedFile | undefined> => {
      const body = await run(storage.get(key))
      if (Option.isNone(body)) return undefined
      const chunks: Array<Buffer> = []
      for await (const chunk of body.value.stream as Readable) chunks.push(chunk as Buffer)
      return { body: Buffer.concat(chunks), etag: body.value.etag }
    }

    /** Common headers of segments and init files; false when the answer is complete already. */
    const fileHeaders = (request: Request, response: Response, etag: string, size: number, range: OpenFile["range"], cacheScope: string) => {
      response.setHeader("etag", etag)
      response.setHeader("cache-control", `${cacheScope}, ${IMMUTABLE}`)
      response.setHeader("accept-ranges", "bytes")
      if (range === "unsatisfiable") {
        response.setHeader("content-range", `bytes */${size}`)
        fail(response, 416, "RANGE_NOT_SATISFIABLE", `the file has ${size} bytes`)
        return false
      }
      if (request.headers["if-none-match"] === etag) {
        response.writeHead(304).end()
        return false
      }
      const headers: Record<string, string | number> = {
        "content-type": "audio/mp4",
        "content-length": range === undefined ? size : range.end - range.start + 1
      }
      if (range !== undefined) headers["content-range"] = `bytes ${range.start}-${range.end}/${size}`
      response.writeHead(range === undefined ? 200 : 206, headers)
      return true
    }

    /** Segments and init files from memory, with ranges. */
    const sendCached = (request: Request, response: Response, cached: CachedFile, cacheScope: string) => {
      const size = cached.body.length
      const range = parseRange(request.headers["range"], size)
      if (!fileHeaders(request, response, cached.etag, size, range, cacheScope)) return
      if (request.method === "HEAD") return void response.end()
      response.end(typeof range === "object" ? cached.body.subarray(range.start, range.end + 1) : cached.body)
    }

    /** Segments and init files: streamed from storage, with ranges. */
    const sendFile = async (request: Request, response: Response, file: Resolved, cacheScope: string) => {
      const target = await openFile(file.key, request.headers["range"])
      if (target === undefined) return fail(response, 404, "NOT_FOUND", "no such HLS file")
      const { size, etag, range } = target
      if (range === "unsatisfiable" || request.headers["if-none-match"] === etag || request.method === "HEAD") target.discard()
      if (!fileHeaders(request, response, etag, size, range, cacheScope)) return
      if (request.method === "HEAD") return void response.end()
      const stream = await target.stream()
      stream.on("error", () => response.destroy())
      response.on("close", () => stream.destroy())
      stream.pipe(response)
    }

    /**
     * Every file under an attempt's prefix is immutable, the master playlist
     * included (each attempt writes its own): on the local backend they are
     * served from memory, and only files too large for it are streamed.
     */
    const send = async (request: Request, response: Response, file: Resolved, link: { exp: string; sig: string } | undefined, cacheScope: string) => {
      const local = storage.localPath(file.key)
      if (Option.isSome(local)) {
        const loaded = files.lookup(local.value, Date.now()) ?? (await files.fill(local.value))
        if (loaded === "missing") return fail(response, 404, "NOT_FOUND", "no such HLS file")
        if (loaded !== "too-large") {
          return file.isPlaylist ? sendPlaylist(request, response, file, loaded, link, cacheScope) : sendCached(request, response, loaded, cacheScope)
        }
      }
      if (!file.isPlaylist) return sendFile(request, response, file, cacheScope)
      const playlist = await readPlaylist(file.key)
      if (playlist === undefined) return fail(response, 404, "NOT_FOUND", "no such HLS file")
      sendPlaylist(request, response, file, playlist, link, cacheScope)
    }

    interface OpenFile {
      readonly size: number
      readonly etag: string
      readonly range: { start: number; end: number } | "unsatisfiable" | undefined
      readonly stream: () => Promise<Readable>
      /** Releases what was opened when no body will be sent. */
      readonly discard: () => void
    }

    /**
     * The local backend is read here directly — the same stat and read stream
     * the storage would make, without an effect per request. Elsewhere one GET
     * answers size, tag and bytes; only a Range request needs the size first.
     */
    const openFile = async (key: string, rangeHeader: string | undefined): Promise<OpenFile | undefined> => {
      const local = storage.localPath(key)
      if (Option.isSome(local)) {
        const stat = await NodeFs.promises.stat(local.value).catch(() => undefined)
        if (stat === undefined || !stat.isFile()) return undefined
        const range = parseRange(rangeHeader, stat.size)
        return {
          size: stat.size,
          etag: quotedEtag(stat.size, stat.mtimeMs),
          range,
          stream: () => Promise.resolve(NodeFs.createReadStream(local.value, typeof range === "object" ? range : {})),
          discard: () => {}
        }
      }
      let range: OpenFile["range"]
      if (rangeHeader !== undefined) {
        const info = await run(storage.head(key))
        if (Option.isNone(info)) return undefined
        range = parseRange(rangeHeader, info.value.size)
        if (range === "unsatisfiable") return { size: info.value.size, etag: info.value.etag, range, stream: () => Promise.reject(), discard: () => {} }
      }
      const body = await run(storage.get(key, typeof range === "object" ? range : undefined))
      if (Option.isNone(body)) return undefined
      return {
        size: body.value.size,
        etag: body.value.etag,
        range: body.value.range,
        stream: () => Promise.resolve(body.value.stream),
        discard: () => body.value.stream.destroy()
      }
    }

    const serve = async (request: Request, response: Response) => {
      const url = request.url ?? "/"
      const queryAt = url.indexOf("?")
      const path = queryAt === -1 ? url : url.slice(0, queryAt)
      const segments = path.split("/")
      const trackId = segments[2] ?? ""
      if (!isUuid(trackId)) return fail(response, 404, "NOT_FOUND", "no such track")
      const access = await lookupAccess(trackId)
      if (Option.isNone(access)) return fail(response, 404, "NOT_FOUND", "no such track")
      const query = queryAt === -1 ? undefined : new URLSearchParams(url.slice(queryAt + 1))
      const exp = query?.get("exp") ?? null
      const sig = query?.get("sig") ?? null
      const signed = exp !== null || sig !== null
      const linkValid = signed && links.verify(trackId, exp, sig)
      if (access.value.visibility !== "public" && !linkValid) {
        const header = request.headers["authorization"]
        const actor = header === undefined ? undefined : await lookupActor(header)
        if (!ownsOrAdmin(actor, access.value.creatorId)) {
          if (signed) return fail(response, 403, "LINK_EXPIRED", "the stream link is invalid or has expired; ask for a new one")
          if (access.value.visibility === "private") return fail(response, 404, "NOT_FOUND", "no such track")
          return fail(response, 403, "FORBIDDEN", "this track needs a signed link: GET /api/v1/tracks/:id/stream-url")
        }
      }
      const file = resolve(trackId, segments.slice(3), access.value)
      if (file === undefined) return fail(response, 404, "NOT_FOUND", "no such HLS file")
      const cacheScope = access.value.visibility === "public" ? "public" : "private"
      return send(request, response, file, linkValid ? { exp: exp!, sig: sig! } : undefined, cacheScope)
    }

    const route: FastRoute = {
      prefix: "/hls/",
      handle: (request, response) => {
        if (request.method !== "GET" && request.method !== "HEAD") {
          response.setHeader("allow", "GET, HEAD")
          return fail(response, 405, "METHOD_NOT_ALLOWED", "HLS files are read with GET or HEAD")
        }
        serve(request, response).catch(() => fail(response, 503, "STORAGE_UNAVAILABLE", "the stream could not be read, retry shortly"))
      }
    }
    return [route]
  })
)
