import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeZlib from "node:zlib"
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Config, Effect } from "effect"
import { errorBody } from "./api-errors.js"

/**
 * The built web client (`vite build` → `web/dist`), served at `/` by the api
 * role. Vite names everything under `assets/` by content hash, so those files
 * never change under their name and are cached for a year; `index.html` and
 * the other unhashed files are revalidated on every load (`no-cache` + ETag),
 * so a deploy is picked up at once. Any other GET outside the server's own
 * prefixes gets `index.html` (the client routes it); a missing file with an
 * extension is a plain 404 rather than HTML a script tag would choke on.
 */

/** Paths the client never owns: a miss under these is the API's 404, not the app. */
const SERVER_PREFIXES = ["/api/", "/hls/", "/ws", "/rpc", "/docs", "/healthz", "/health", "/readyz", "/metrics"]

/**
 * What the client's page may do: its own scripts and styles only (Vite emits
 * no inline code), API and WebSocket calls to this origin, media through
 * MediaSource (`blob:`) and hls.js's transmuxing worker (`blob:`). Everything
 * else — other origins, plugins, framing — is refused. The front gives every
 * other answer a policy that allows nothing; this header replaces it.
 */
export const WEB_PAGE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'"
].join("; ")

const IMMUTABLE = "public, max-age=31536000, immutable"
const REVALIDATE = "no-cache"

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webmanifest": "application/manifest+json",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8"
}

interface Asset {
  readonly body: Uint8Array
  /** Gzipped once at start-up for text types worth it; browsers always accept gzip. */
  readonly gzip: Uint8Array | undefined
  readonly contentType: string
  readonly etag: string
  readonly cacheControl: string
}

const walk = (dir: string, base = ""): Array<string> =>
  NodeFs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(NodePath.join(dir, entry.name), `${base}/${entry.name}`) : [`${base}/${entry.name}`]
  )

/** Reads the whole build into memory: it is a few hundred KB and changes only with a deploy. */
export const loadAssets = (dir: string): ReadonlyMap<string, Asset> => {
  const assets = new Map<string, Asset>()
  for (const path of walk(dir)) {
    const body = NodeFs.readFileSync(NodePath.join(dir, path))
    const contentType = CONTENT_TYPES[NodePath.extname(path)] ?? "application/octet-stream"
    const compressible = /^(text\/|application\/json|image\/svg)/.test(contentType) && body.length > 1024
    assets.set(path, {
      body,
      gzip: compressible ? NodeZlib.gzipSync(body, { level: 9 }) : undefined,
      contentType,
      etag: `"${NodeCrypto.createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
      cacheControl: path.startsWith("/assets/") ? IMMUTABLE : REVALIDATE
    })
  }
  return assets
}

const notFound = (message: string) => HttpServerResponse.unsafeJson(errorBody("NOT_FOUND", message), { status: 404 })

const respond = (request: HttpServerRequest.HttpServerRequest, asset: Asset) => {
  const headers: Record<string, string> = { "cache-control": asset.cacheControl, etag: asset.etag, vary: "Origin, Accept-Encoding" }
  if (asset.contentType.startsWith("text/html")) headers["content-security-policy"] = WEB_PAGE_POLICY
  if (request.headers["if-none-match"] === asset.etag) return HttpServerResponse.empty({ status: 304, headers })
  const gzip = asset.gzip !== undefined && /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")
  return HttpServerResponse.uint8Array(gzip ? asset.gzip! : asset.body, {
    contentType: asset.contentType,
    headers: gzip ? { ...headers, "content-encoding": "gzip" } : headers
  })
}

export const WEB_DIST_DIR = Config.string("WEB_DIST_DIR").pipe(Config.withDefault("web/dist"))

/** `GET /*`: the routes registered by the API win; this is what is left. */
export const WebAssetRoutes = HttpLayerRouter.use((router) =>
  Effect.gen(function* () {
    const dir = NodePath.resolve(yield* WEB_DIST_DIR)
    const assets = NodeFs.existsSync(NodePath.join(dir, "index.html")) ? loadAssets(dir) : undefined
    if (assets === undefined) yield* Effect.logWarning("no web client build, / will answer 404 (npm run build makes it)").pipe(Effect.annotateLogs({ dir }))
    else yield* Effect.logInfo("serving the web client").pipe(Effect.annotateLogs({ dir, files: assets.size }))
    yield* router.add("GET", "/*", (request) =>
      Effect.sync(() => {
        const path = decodeURIComponent(new URL(request.url, "http://x").pathname)
        if (SERVER_PREFIXES.some((prefix) => path === prefix.replace(/\/$/, "") || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`))) {
          return notFound(`no route for GET ${path}`)
        }
        if (assets === undefined) return notFound("the web client is not built: run npm run build")
        const asset = assets.get(path === "/" ? "/index.html" : path)
        if (asset !== undefined) return respond(request, asset)
        if (/\.[A-Za-z0-9]+$/.test(path)) return notFound(`no file ${path}`)
        return respond(request, assets.get("/index.html")!)
      }).pipe(Effect.catchAllDefect(() => Effect.succeed(notFound("malformed path"))))
    )
  })
)
