import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { ChatClient, newClientId } from "../support/chat.js"
import { freshDatabase, query } from "../support/database.js"
import {
  asHeaderValue,
  expectEnvelope,
  fcParams,
  hostileJson,
  hostileUrlPart,
  INJECTIONS,
  PROTO_KEYS,
  rawJsonBody,
  rawRequest,
  type RawResponse,
  snapshotter,
  UNICODE_EDGES
} from "../support/fuzz.js"
import { http, type RunningServer, startServer, tempDataDir } from "../support/server.js"
import { signToken, TEST_JWT_SECRET, tokenFor, unsignedToken } from "../support/tokens.js"
import { playlistUris, uploadTrack, waitForTrack } from "../support/tracks.js"

/**
 * Every endpoint the server documents in its OpenAPI document, and the routes
 * outside it (/hls, /downloads, /rpc, the multipart uploads), fed hostile
 * paths, queries, headers and bodies. Whatever comes in: no 5xx, no stack,
 * the SPEC §4 envelope on every 4xx, an answer within the timeout, the server
 * still up, and no row changed by a request the server refused.
 */

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-fuzz-http-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

const db = await freshDatabase("fuzz_http")
let server: RunningServer
let snap: Awaited<ReturnType<typeof snapshotter>>
let baseline: Record<string, string>

type User = Awaited<ReturnType<typeof registerUser>>
let owner: User
let other: User
let admin: User
let victim: User

/** Real ids, so that fuzzed requests get past "not found" into the handlers. */
const fx = {
  users: [] as Array<string>,
  track: "",
  privateTrack: "",
  comment: "",
  shareToken: "",
  room: "",
  product: "",
  license: "",
  productFile: "",
  order: "",
  playlist: "",
  notification: "",
  report: "",
  message: "",
  hlsFile: [] as Array<string>
}

const allIds = () => [...fx.users, fx.track, fx.privateTrack, fx.comment, fx.room, fx.product, fx.license, fx.order, fx.playlist, fx.notification, fx.report, fx.message].filter((s) => s !== "")

beforeAll(async () => {
  server = await startServer({
    DATABASE_URL: db,
    DATA_DIR: tempDataDir(),
    JWT_SECRET: TEST_JWT_SECRET,
    HLS_LADDER_KBPS: "64",
    HLS_SEGMENT_SECONDS: "2",
    TRANSCODE_CONCURRENCY: "1",
    JOB_POLL_INTERVAL_MS: "100",
    TRACK_PURGE_INTERVAL_MS: "100",
    // The fuzzer logs in with garbage thousands of times; the limits have their own tests.
    LOGIN_MAX_ATTEMPTS_PER_IP: "1000000",
    LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "1000000"
  })
  ;[owner, other, admin, victim] = await Promise.all([
    registerUser(server.baseUrl, { account_type: "producer" }),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl)
  ])
  await query(db, "update users set role = 'admin' where id = $1", [admin.user.id])
  fx.users = [owner.user.id, other.user.id, victim.user.id]
  const song = await generateAudio(work, { seconds: 2, format: "mp3" })
  const [pub, priv] = await Promise.all([
    uploadTrack(server.baseUrl, owner.access_token, { path: song, type: "audio/mpeg" }, { title: "fuzz public" }),
    uploadTrack(server.baseUrl, owner.access_token, { path: song, type: "audio/mpeg" }, { title: "fuzz private", visibility: "private" })
  ])
  const track = await waitForTrack(server.baseUrl, owner.access_token, pub.body.id)
  await waitForTrack(server.baseUrl, owner.access_token, priv.body.id)
  fx.track = track.id
  fx.privateTrack = priv.body.id
  const ok = async (res: Promise<{ status: number; body: any }>, status = 201) => {
    const r = await res
    expect(r.status, JSON.stringify(r.body)).toBe(status)
    return r.body
  }
  const as = (u: User) => ({ token: u.access_token })
  fx.comment = (await ok(http(server.baseUrl, "POST", `/api/v1/tracks/${fx.track}/comments`, { ...as(other), body: { content: "nice" } }))).id
  fx.shareToken = (await ok(http(server.baseUrl, "POST", `/api/v1/tracks/${fx.privateTrack}/share`, { ...as(owner), body: {} }))).token
  fx.room = (await ok(http(server.baseUrl, "POST", "/api/v1/chat/rooms", { ...as(owner), body: { name: "fuzz room", type: "private" } }))).id
  const product = await ok(
    http(server.baseUrl, "POST", "/api/v1/marketplace/products", {
      ...as(owner),
      body: { title: "fuzz beat", type: "beat", licenses: [{ type: "basic", price_cents: 100, currency: "EUR" }] }
    })
  )
  fx.product = product.id
  fx.license = product.licenses[0].id
  const form = new FormData()
  form.append("file", new Blob(["kit"], { type: "application/zip" }), "kit.zip")
  const file = await fetch(`${server.baseUrl}/api/v1/marketplace/products/${fx.product}/files`, { method: "POST", body: form, headers: { authorization: `Bearer ${owner.access_token}` } })
  expect(file.status).toBe(201)
  fx.productFile = ((await file.json()) as any).id
  fx.order = (
    await ok(http(server.baseUrl, "POST", "/api/v1/marketplace/orders", { ...as(other), body: { items: [{ product_id: fx.product, license_id: fx.license }] }, headers: { "idempotency-key": NodeCrypto.randomUUID() } }))
  ).id
  fx.playlist = (await ok(http(server.baseUrl, "POST", "/api/v1/playlists", { ...as(owner), body: { title: "fuzz list", collaborative: true } }))).id
  await ok(http(server.baseUrl, "POST", `/api/v1/playlists/${fx.playlist}/tracks`, { ...as(owner), body: { track_id: fx.track } }))
  await ok(http(server.baseUrl, "POST", `/api/v1/users/${owner.user.id}/follow`, as(other)), 204)
  const notes = await ok(http(server.baseUrl, "GET", "/api/v1/notifications", as(owner)), 200)
  fx.notification = notes.items[0]?.id ?? ""
  fx.report = (await ok(http(server.baseUrl, "POST", "/api/v1/reports", { ...as(other), body: { target_type: "track", target_id: fx.track, reason: "spam" } }))).id
  const chat = await ChatClient.connect(server.baseUrl, owner.access_token)
  expect((await chat.request({ type: "join", room_id: fx.room })).type).toBe("joined")
  const ack = await chat.request({ type: "send", room_id: fx.room, client_id: newClientId(), content: "hello" })
  fx.message = ack.message.id
  await chat.close()
  const master = await fetch(`${server.baseUrl}/hls/${fx.track}/master.m3u8`)
  const rendition = new URL(playlistUris(await master.text())[0]!, master.url)
  const media = await (await fetch(rendition)).text()
  fx.hlsFile = [rendition.pathname, ...playlistUris(media).map((u) => new URL(u, rendition).pathname)]
  snap = await snapshotter(db)
  baseline = await snap.take()
}, 120_000)

afterAll(async () => {
  await snap?.close()
})

// ---------------------------------------------------------------- actors and the one check every request gets

type Actor = "anonymous" | "owner" | "other" | "admin" | "garbage" | "forged"
const actorArb = fc.constantFrom<Actor>("anonymous", "owner", "owner", "owner", "other", "admin", "garbage", "forged")

/** Tokens minted from the database each time: a fuzzed logout-all or password change must not lock the fuzzer out. */
const authorization = async (actor: Actor, junk: string): Promise<Record<string, string>> => {
  switch (actor) {
    case "anonymous":
      return {}
    case "garbage":
      return { authorization: asHeaderValue(junk.length % 2 === 0 ? `Bearer ${junk}` : junk) }
    case "forged":
      return { authorization: `Bearer ${junk.length % 2 === 0 ? await unsignedToken({ sub: admin.user.id, role: "admin" }) : await signToken({ sub: admin.user.id, role: "admin" }, "not-the-server-secret-not-the-server-secret")}` }
    default: {
      const who = { owner, other, admin }[actor]
      return { authorization: `Bearer ${await tokenFor(db, who.user.id)}` }
    }
  }
}

interface FuzzRequest {
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: string | Buffer
  readonly actor: Actor
  /** Material for the garbage and forged tokens. */
  readonly junk: string
}

const describeRequest = (r: FuzzRequest) =>
  `${r.actor} ${r.method} ${r.path.slice(0, 300)} headers=${JSON.stringify(r.headers).slice(0, 300)} body(${r.body?.length ?? 0})=${String(r.body ?? "").slice(0, 300)}`

/** Counterexamples print as one readable line, not megabytes of body. */
const fuzzRequest = (r: FuzzRequest): FuzzRequest => Object.assign(r, { [fc.toStringMethod]: () => describeRequest(r) })

/** What the server logged about a failed request (found by the request id in the answer), for the failure message. */
const serverErrors = (res: RawResponse) => {
  const id = /request ([0-9a-f-]{36})/.exec(res.text)?.[1] ?? res.headers["x-request-id"]
  return server.logs
    .filter((l) => l.logLevel === "ERROR" && (id === undefined || l.annotations["request_id"] === id))
    .map((l) => String(l.annotations["cause"] ?? l.message).slice(0, 1500))
    .join("\n")
}

/**
 * Sends the request and checks it: an answer below 500 within the timeout,
 * the envelope on 4xx, and (when refused) no row changed anywhere.
 */
const check = async (r: FuzzRequest): Promise<RawResponse> => {
  const what = describeRequest(r)
  const headers = { ...r.headers, ...(await authorization(r.actor, r.junk)) }
  const res = await rawRequest(server.baseUrl, r.method, r.path, headers, r.body)
  expect(res.status, `${what} -> ${res.text.slice(0, 500)} ${serverErrors(res)}`).toBeLessThan(500)
  expectEnvelope(res, what)
  const after = await snap.take()
  if (res.status >= 400) expect(snap.diff(baseline, after), `${what} -> ${res.status} yet changed rows`).toEqual([])
  baseline = res.status < 300 && r.method !== "GET" ? await settled() : after
  return res
}

/**
 * A write that succeeded may have set background work going (a re-transcode,
 * a purge); the next request's "nothing changed" needs a database at rest.
 */
const settled = async () => {
  const deadline = Date.now() + 30_000
  let last = await snap.take()
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    // A sweep holding a purge row commits its removal only once the files are gone: under load that outlasts one
    // quiet interval, so a due purge still counts as work in progress.
    const [busy] = await query<{ n: number }>(
      db,
      `select ((select count(*) from transcode_jobs where status in ('queued', 'running'))
             + (select count(*) from track_storage_purges where run_after <= now()))::int as n`
    )
    const now = await snap.take()
    if (busy!.n === 0 && snap.diff(last, now).length === 0) return now
    last = now
  }
  throw new Error("the database did not come to rest within 30 s")
}

const expectAlive = async () => {
  expect(server.process.exitCode, "server exited").toBeNull()
  const res = await rawRequest(server.baseUrl, "GET", "/healthz", {}, undefined, 5_000)
  expect(res.status).toBe(200)
}

// ---------------------------------------------------------------- OpenAPI-driven requests

type JsonSchema = Record<string, any>
let doc: { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, JsonSchema> } }

const resolve = (s: JsonSchema): JsonSchema => (typeof s?.["$ref"] === "string" ? resolve({ ...doc.components.schemas[s["$ref"].split("/").pop()!], ...s, $ref: undefined }) : s)

/** Values of the right shape (so that a request can get past decoding), hostile where the schema lets them be. */
const plausible = (raw: JsonSchema, depth = 0): fc.Arbitrary<unknown> => {
  const s = resolve(raw)
  if (Array.isArray(s["anyOf"])) return fc.oneof(...s["anyOf"].map((m: JsonSchema) => plausible(m, depth)))
  if (Array.isArray(s["enum"])) return fc.constantFrom(...s["enum"])
  switch (s["type"]) {
    case "string": {
      if (s["format"] === "uuid") return fc.oneof(fc.constantFrom(...allIds()), fc.uuid())
      if (s["pattern"] === "^[A-Z]{3}$") return fc.constantFrom("EUR", "USD", "XXX")
      if (typeof s["pattern"] === "string" && s["pattern"].includes("https?")) return fc.constantFrom("https://example.com/a.png", "http://x", "https://x/<script>")
      const max: number = s["maxLength"] ?? 60
      const min: number = s["minLength"] ?? 0
      return fc
        .oneof(fc.string({ minLength: min, maxLength: Math.min(max, 30) }), fc.constantFrom(...INJECTIONS, ...UNICODE_EDGES), fc.constantFrom(`fuzz${NodeCrypto.randomBytes(3).toString("hex")}@example.com`))
        .filter((v) => v.length >= min && v.length <= max)
    }
    case "integer":
      return fc.integer({ min: s["minimum"] ?? -1000, max: s["maximum"] ?? 1_000_000 })
    case "number":
      return fc.double({ min: s["minimum"] ?? -1e6, max: s["maximum"] ?? 1e6, noNaN: true })
    case "boolean":
      return fc.boolean()
    case "array":
      return depth > 3 ? fc.constant([]) : fc.array(plausible(s["items"] ?? {}, depth + 1), { minLength: s["minItems"] ?? 0, maxLength: Math.min(s["maxItems"] ?? 3, 3) })
    case "object": {
      if (depth > 3) return fc.constant({})
      const props: Record<string, JsonSchema> = s["properties"] ?? {}
      const model = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, plausible(v, depth + 1)]))
      return fc.record(model, { requiredKeys: (s["required"] ?? []).filter((k: string) => k in props) })
    }
    default:
      return hostileJson
  }
}

/** A plausible body with some fields (or extra keys: prototype pollution, unknown names) swapped for hostile values. */
const hostileBody = (schema: JsonSchema): fc.Arbitrary<unknown> => {
  const s = resolve(schema)
  const keys = Object.keys(resolve(s["anyOf"]?.[0] ?? s)["properties"] ?? {})
  return fc.tuple(plausible(schema), fc.array(fc.tuple(fc.constantFrom(...keys, ...PROTO_KEYS, "extra_field"), hostileJson), { maxLength: 3 })).map(([value, swaps]) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return value
    const copy: Record<string, unknown> = { ...value }
    for (const [k, v] of swaps) Object.defineProperty(copy, k, { value: v, enumerable: true, configurable: true, writable: true })
    return copy
  })
}

/** Which real ids a path parameter can take. */
const fixtureIds = (path: string, name: string): Array<string> => {
  if (name === "username") return [owner.user.username, other.user.username]
  if (name === "token") return [fx.shareToken]
  if (name === "comment_id") return [fx.comment]
  if (name === "file_id") return [fx.productFile]
  if (name === "product_id") return [fx.product]
  if (name === "track_id") return [fx.track, fx.privateTrack]
  if (name === "user_id") return fx.users
  if (path.startsWith("/api/v1/admin/users/")) return [victim.user.id]
  if (path.startsWith("/api/v1/admin/comments/")) return [fx.comment]
  if (path.startsWith("/api/v1/admin/chat/")) return [fx.message]
  if (path.startsWith("/api/v1/admin/reports/")) return [fx.report]
  if (path.startsWith("/api/v1/users/")) return fx.users
  if (path.startsWith("/api/v1/tracks/") || path.startsWith("/api/v1/admin/tracks/")) return [fx.track, fx.privateTrack]
  if (path.startsWith("/api/v1/chat/rooms/")) return [fx.room]
  if (path.startsWith("/api/v1/marketplace/products/")) return [fx.product]
  if (path.startsWith("/api/v1/marketplace/orders/")) return [fx.order]
  if (path.startsWith("/api/v1/playlists/")) return [fx.playlist]
  if (path.startsWith("/api/v1/notifications/")) return [fx.notification]
  return []
}

const pathValue = (path: string, name: string) => {
  const ids = fixtureIds(path, name).filter((s) => s !== "")
  return fc.oneof(
    { weight: ids.length > 0 ? 3 : 0, arbitrary: ids.length > 0 ? fc.constantFrom(...ids) : fc.constant("x") },
    { weight: 2, arbitrary: hostileUrlPart },
    { weight: 1, arbitrary: fc.uuid() }
  )
}

const queryValue = (schema: JsonSchema) =>
  fc.oneof(
    { weight: 2, arbitrary: plausible(schema).map((v) => encodeURIComponent(typeof v === "string" ? toUrlSafe(v) : JSON.stringify(v) ?? "")) },
    { weight: 2, arbitrary: hostileUrlPart }
  )

const toUrlSafe = (s: string) => s.replace(/[\uD800-\uDFFF]/g, "\uFFFD")

const MULTIPART_ROUTES = new Set(["POST /api/v1/tracks", "POST /api/v1/marketplace/products/{id}/files"])

/** Everything hostile about one request to one documented operation. */
const requestFor = (method: string, template: string, op: any): fc.Arbitrary<FuzzRequest> => {
  const params: Array<any> = op.parameters ?? []
  const pathParams = params.filter((p) => p.in === "path")
  const queryParams = params.filter((p) => p.in === "query")
  const headerParams = params.filter((p) => p.in === "header")
  const json = op.requestBody?.content?.["application/json"]?.schema as JsonSchema | undefined
  const path = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, pathValue(template, p.name)])))
  const queryArb = fc.tuple(
    fc.record(Object.fromEntries(queryParams.map((p) => [p.name, queryValue(p.schema)])), { requiredKeys: [] }),
    fc.array(fc.tuple(fc.constantFrom(...queryParams.map((p) => p.name), "__proto__", "constructor[prototype][polluted]", "__proto__[role]", "a[]"), hostileUrlPart), { maxLength: 2 })
  )
  const headers = fc.record(
    {
      ...Object.fromEntries(headerParams.map((p) => [p.name, fc.oneof(fc.uuid(), fc.string({ maxLength: 300 }), fc.constantFrom(...INJECTIONS, ...UNICODE_EDGES)).map(asHeaderValue)])),
      "x-request-id": fc.constantFrom(...INJECTIONS, ...UNICODE_EDGES, "a".repeat(5000)).map(asHeaderValue),
      "x-forwarded-for": fc.constantFrom("1.2.3.4, 5.6.7.8", "::1", "not an ip", "999.999.999.999", "'; drop table login_attempts; --"),
      "accept-language": fc.constantFrom("*", "en-US,en;q=0.5", "zz;q=abc")
    },
    { requiredKeys: [] }
  )
  const body: fc.Arbitrary<{ text?: string | Buffer; contentType?: string }> =
    json !== undefined
      ? fc.oneof(
          { weight: 4, arbitrary: hostileBody(json).map((v) => ({ text: JSON.stringify(v), contentType: "application/json" })) },
          { weight: 1, arbitrary: hostileJson.map((v) => ({ text: JSON.stringify(v) ?? "null", contentType: "application/json" })) },
          { weight: 2, arbitrary: fc.tuple(plausible(json), fc.boolean()).chain(([v]) => rawJsonBody(v)).map((text) => ({ text, contentType: "application/json" })) },
          {
            weight: 1,
            arbitrary: fc.tuple(plausible(json), fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/json; charset=utf-16", "application/xml", "")).map(([v, ct]) => ({
              text: JSON.stringify(v) ?? "",
              contentType: ct
            }))
          }
        )
      : MULTIPART_ROUTES.has(`${method.toUpperCase()} ${template}`)
        ? multipartBody
        : fc.oneof(fc.constant({}), hostileJson.map((v) => ({ text: JSON.stringify(v) ?? "", contentType: "application/json" })))
  return fc.record({ actor: actorArb, junk: fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom(...INJECTIONS)), path, query: queryArb, headers, body }).map((g) => {
    let url = template.replace(/\{(\w+)\}/g, (_, name: string) => (g.path as Record<string, string>)[name] ?? "x")
    const pairs = [...Object.entries(g.query[0]), ...g.query[1]].map(([k, v]) => `${k.includes("[") ? k : encodeURIComponent(k)}=${v}`)
    if (pairs.length > 0) url += `?${pairs.join("&")}`
    const headerValues: Record<string, string> = { ...g.headers }
    if (g.body.contentType !== undefined && g.body.contentType !== "") headerValues["content-type"] = g.body.contentType
    return fuzzRequest({ method: method.toUpperCase(), path: url, headers: headerValues, actor: g.actor, junk: g.junk, ...(g.body.text === undefined ? {} : { body: g.body.text }) })
  })
}

/** Multipart bodies a browser would never send: odd names and filenames, junk bytes, several files, broken framing. */
const multipartBody: fc.Arbitrary<{ text: Buffer; contentType: string }> = fc
  .record({
    boundary: fc.constantFrom("fuzzboundary", "x", "a".repeat(70), "----WebKitFormBoundary7MA4YWxkTrZu0gW"),
    parts: fc.array(
      fc.record({
        name: fc.constantFrom("file", "file", "title", "visibility", "__proto__", "", "file\"; filename=\"x.mp3"),
        filename: fc.option(fc.constantFrom("a.mp3", "../../../etc/passwd", "x\u0000.mp3", "ü🎵.wav", "a".repeat(2000) + ".mp3", "", ".", "CON", "%2e%2e%2fx.mp3"), { nil: undefined }),
        type: fc.constantFrom("audio/mpeg", "application/octet-stream", "text/html", "", "audio/mpeg; charset=\"\u00ff\""),
        data: fc.oneof(
          fc.uint8Array({ maxLength: 4000 }).map((a) => Buffer.from(a)),
          fc.constantFrom(...INJECTIONS, ...UNICODE_EDGES, "public", "private").map((s) => Buffer.from(s)),
          fc.constant(Buffer.concat([Buffer.from("ID3\x03\x00\x00\x00\x00\x00\x00"), Buffer.alloc(2000, 0xff)]))
        )
      }),
      { maxLength: 4 }
    ),
    damage: fc.constantFrom("none", "none", "truncate", "no-closing", "wrong-boundary", "no-boundary-param")
  })
  .map(({ boundary, parts, damage }) => {
    const chunks: Array<Buffer> = []
    for (const p of parts) {
      const disposition = `form-data; name="${p.name}"${p.filename === undefined ? "" : `; filename="${p.filename}"`}`
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.type === "" ? "" : `Content-Type: ${p.type}\r\n`}\r\n`, "latin1"), p.data, Buffer.from("\r\n"))
    }
    if (damage !== "no-closing") chunks.push(Buffer.from(`--${boundary}--\r\n`))
    let text = Buffer.concat(chunks)
    if (damage === "truncate") text = text.subarray(0, Math.floor(text.length / 2))
    const contentType =
      damage === "wrong-boundary" ? "multipart/form-data; boundary=somethingelse" : damage === "no-boundary-param" ? "multipart/form-data" : `multipart/form-data; boundary=${boundary}`
    return { text, contentType }
  })

/** Destructive calls go last, so that the earlier ones still find their fixtures. */
const order = (method: string, path: string) => (method === "delete" ? 2 : path.startsWith("/api/v1/admin/") ? 1 : 0)

describe("routes outside the OpenAPI document", () => {
  const pathPart = (real: string) => fc.oneof({ weight: 2, arbitrary: fc.constant(real) }, { weight: 1, arbitrary: hostileUrlPart })
  const signature = fc.record(
    {
      exp: fc.oneof(fc.constant(String(Math.floor(Date.now() / 1000) + 600)), hostileUrlPart),
      sig: fc.oneof(fc.constant("A".repeat(43)), hostileUrlPart)
    },
    { requiredKeys: [] }
  )
  const query = (q: { exp?: string; sig?: string }) => {
    const pairs = Object.entries(q).map(([k, v]) => `${k}=${v}`)
    return pairs.length === 0 ? "" : `?${pairs.join("&")}`
  }
  const rangeHeaders = fc.record(
    {
      range: fc.constantFrom("bytes=0-0", "bytes=999999999999-", "bytes=-0", "bytes=5-1", "bytes=0-1,2-3", "items=0-1", "bytes=abc", "bytes=-99999999999999999999", "bytes= 1 - 2"),
      "if-none-match": fc.constantFrom('"x"', "*", "W/\"\u00ff\"", ""),
      "if-modified-since": fc.constantFrom("yesterday", "Thu, 01 Jan 1970 00:00:00 GMT")
    },
    { requiredKeys: [] }
  )

  it("HLS playlists and segments: hostile ids, paths, signatures and ranges", async () => {
    const [, , attempt, rendition] = fx.hlsFile[0]!.split("/")
    const files = fx.hlsFile.map((p) => p.split("/").pop()!)
    const request = fc
      .record({
        actor: actorArb,
        junk: fc.string({ maxLength: 50 }),
        track: pathPart(fx.track).chain((t) => fc.constantFrom(t, fx.privateTrack)),
        master: fc.boolean(),
        attempt: pathPart(attempt!),
        rendition: pathPart(rendition!),
        file: fc.constantFrom(...files).chain(pathPart),
        signature,
        headers: rangeHeaders
      })
      .map((g) =>
        fuzzRequest({
          method: "GET",
          path: `${g.master ? `/hls/${g.track}/master.m3u8` : `/hls/${g.track}/${g.attempt}/${g.rendition}/${g.file}`}${query(g.signature)}`,
          headers: g.headers,
          actor: g.actor,
          junk: g.junk
        })
      )
    await fc.assert(fc.asyncProperty(request, async (r) => void (await check(r))), fcParams(60))
    await expectAlive()
  })

  it("signed downloads of tracks and products", async () => {
    const request = fc
      .record({
        actor: actorArb,
        junk: fc.string({ maxLength: 50 }),
        product: fc.boolean(),
        id: pathPart(fx.track).chain((t) => fc.constantFrom(t, fx.privateTrack, fx.product)),
        file: pathPart(fx.productFile),
        signature,
        headers: rangeHeaders
      })
      .map((g) =>
        fuzzRequest({
          method: "GET",
          path: `${g.product ? `/downloads/products/${g.id}/${g.file}` : `/downloads/tracks/${g.id}`}${query(g.signature)}`,
          headers: g.headers,
          actor: g.actor,
          junk: g.junk
        })
      )
    await fc.assert(fc.asyncProperty(request, async (r) => void (await check(r))), fcParams(40))
    await expectAlive()
  })

  it("/rpc over HTTP: hostile NDJSON messages get a protocol answer, never a 5xx or a stack", async () => {
    const TAGS = ["users.get", "users.getByUsername", "users.update", "auth.register", "auth.login", "auth.refresh", "auth.logout", "auth.logoutAll", "auth.me", "auth.resetPassword"]
    const message = fc.record(
      {
        _tag: fc.oneof({ weight: 4, arbitrary: fc.constant<unknown>("Request") }, { weight: 1, arbitrary: fc.constantFrom<unknown>("Ack", "Interrupt", "Eof", "Ping", "Exit") }, { weight: 1, arbitrary: hostileJson }),
        id: fc.oneof(fc.constant<unknown>("1"), hostileJson),
        tag: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>(...TAGS) }, { weight: 1, arbitrary: hostileJson }),
        payload: fc.oneof(fc.dictionary(fc.constantFrom("id", "email", "password", "username", "refresh_token", "profile", ...PROTO_KEYS), hostileJson, { maxKeys: 4 }), hostileJson),
        headers: fc.oneof(fc.constant<unknown>([]), fc.array(fc.tuple(fc.constantFrom("authorization", "x-veza-client-ip", "__proto__"), fc.string({ maxLength: 80 })), { maxLength: 2 }), hostileJson)
      },
      { requiredKeys: ["_tag"] }
    )
    const request = fc
      .record({
        actor: actorArb,
        junk: fc.string({ maxLength: 50 }),
        lines: fc.array(fc.oneof({ weight: 4, arbitrary: message.map((m) => JSON.stringify(m)) }, { weight: 1, arbitrary: rawJsonBody({ _tag: "Request", id: "1", tag: "auth.me", payload: {}, headers: [] }) }), { minLength: 1, maxLength: 3 }),
        contentType: fc.constantFrom("application/ndjson", "application/json", "text/plain", "")
      })
      .map((g) =>
        fuzzRequest({
          method: "POST",
          path: "/rpc",
          headers: g.contentType === "" ? {} : { "content-type": g.contentType },
          body: g.lines.join("\n") + "\n",
          actor: g.actor,
          junk: g.junk
        })
      )
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const res = await check(r)
        // The RPC protocol answers 200 with Exit/Defect messages; a refused call must not have changed anything either.
        if (res.status === 200 && !res.text.includes('"_tag":"Success"')) expect(snap.diff(baseline, await snap.take())).toEqual([])
      }),
      fcParams(40)
    )
    await expectAlive()
  })
})

describe("inputs the fuzzer found (fixed in src/)", () => {
  const post = async (path: string, headers: Record<string, string>, body: string | Buffer, who: User | undefined = owner) => {
    const auth = who === undefined ? {} : { authorization: `Bearer ${await tokenFor(db, who.user.id)}` }
    const started = Date.now()
    const res = await rawRequest(server.baseUrl, "POST", path, { ...headers, ...auth }, body, 10_000)
    expectEnvelope(res, path)
    return { ...res, ms: Date.now() - started, code: JSON.parse(res.text).error?.code as string | undefined }
  }

  it("JSON nested thousands of levels deep is a 400, not a stack overflow (500)", async () => {
    for (const body of ["[".repeat(5000) + "]".repeat(5000), '{"a":'.repeat(5000) + "1" + "}".repeat(5000)]) {
      const res = await post("/api/v1/auth/register", { "content-type": "application/json" }, body, undefined)
      expect([res.status, res.code]).toEqual([400, "MALFORMED_BODY"])
    }
    // Shallow nesting inside strings does not count.
    const res = await post("/api/v1/auth/register", { "content-type": "application/json" }, JSON.stringify({ email: "[".repeat(200), username: "{".repeat(200), password: "x" }), undefined)
    expect([res.status, res.code]).toEqual([400, "VALIDATION_ERROR"])
  })

  it("schema errors quote at most a few hundred characters of the input", async () => {
    const res = await post("/api/v1/auth/register", { "content-type": "application/json" }, JSON.stringify({ email: ["x".repeat(500_000)] }), undefined)
    expect(res.status).toBe(400)
    expect(res.text.length).toBeLessThan(5_000)
  })

  it("a multipart content type without a usable boundary is a 400, not a 500", async () => {
    for (const ct of ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=a b"]) {
      const res = await post("/api/v1/auth/register", { "content-type": ct }, '{"email":"a"}', undefined)
      expect([ct, res.status, res.code]).toEqual([ct, 400, "MALFORMED_BODY"])
    }
  })

  it("uploads whose body ends before the closing delimiter are a 400 within seconds, not a request that never ends", async () => {
    // Each case waits out the two seconds the server allows after the body; one of each kind, spread over both routes.
    const cases: Array<[string, string]> = [
      ["/api/v1/tracks", ""],
      ["/api/v1/tracks", '--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\nContent-Type: audio/mpeg\r\n\r\nID3 0000000000'],
      [`/api/v1/marketplace/products/${fx.product}/files`, "--b\r\n"],
      [`/api/v1/marketplace/products/${fx.product}/files`, '--b\r\nContent-Disposition: form-data; name="file"; filename="k.zip"\r\n\r\nPK']
    ]
    for (const [path, body] of cases) {
      const res = await post(path, { "content-type": "multipart/form-data; boundary=b" }, body)
      expect([path, body, res.status, res.code]).toEqual([path, body, 400, "MALFORMED_BODY"])
      expect(res.ms).toBeLessThan(8_000)
    }
    expect(snap.diff(baseline, await snap.take())).toEqual([])
  })

  it("/rpc requests whose headers are not [name, value] pairs, or missing, get a protocol answer, not a 500", async () => {
    for (const headers of [5, [5], [[1, 2]], { a: 1 }]) {
      const line = JSON.stringify({ _tag: "Request", id: "1", tag: "auth.me", payload: {}, headers })
      const res = await rawRequest(server.baseUrl, "POST", "/rpc", { "content-type": "application/ndjson" }, `${line}\n`)
      expect([JSON.stringify(headers), res.status]).toEqual([JSON.stringify(headers), 200])
      expect(JSON.parse(res.text)).toMatchObject({ _tag: "Defect" })
    }
    // Without headers at all: an ordinary call (here refused for want of a token), not a 500.
    const bare = await rawRequest(server.baseUrl, "POST", "/rpc", {}, `${JSON.stringify({ _tag: "Request", id: "1", tag: "auth.me", payload: {} })}\n`)
    expect(bare.status).toBe(200)
    expect(JSON.parse(bare.text)).toMatchObject({ _tag: "Exit", exit: { _tag: "Failure" } })
  })

  it("a request line past Node's limit gets the envelope (431), not a bare status line", async () => {
    const res = await rawRequest(server.baseUrl, "GET", `/api/v1/tracks?genre=${"x".repeat(40_000)}`)
    expect(res.status).toBe(431)
    expectEnvelope(res, "long request line")
  })
})

describe("every documented endpoint", () => {
  let operations: Array<{ method: string; path: string; op: any }> = []

  beforeAll(async () => {
    const res = await rawRequest(server.baseUrl, "GET", "/api/v1/openapi.json")
    doc = JSON.parse(res.text)
    operations = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path, op })))
      .sort((a, b) => order(a.method, a.path) - order(b.method, b.path))
  })

  it("the OpenAPI document lists the endpoints the fuzzer walks", () => {
    // Guards the enumeration itself: an empty or half-read document would make every property below vacuous.
    expect(operations.length).toBeGreaterThan(100)
    expect(operations.some((o) => o.path === "/api/v1/marketplace/orders" && o.method === "post")).toBe(true)
  })

  it("answers hostile requests to each of them with a documented 4xx or a success, and refusals change nothing", async () => {
    const counts: Record<string, number> = {}
    for (const { method, path, op } of operations) {
      const label = `${method.toUpperCase()} ${path}`
      await fc.assert(
        fc.asyncProperty(requestFor(method, path, op), async (r) => {
          const res = await check(r)
          counts[`${Math.floor(res.status / 100)}xx`] = (counts[`${Math.floor(res.status / 100)}xx`] ?? 0) + 1
        }),
        fcParams(5)
      ).catch((e: Error) => {
        throw new Error(`${label}: ${e.message}`)
      })
      await expectAlive()
    }
    console.log(`fuzzed ${operations.length} operations: ${JSON.stringify(counts)}`)
  }, 600_000)
})
