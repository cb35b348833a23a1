import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { ChatClient, createRoom, newClientId } from "../support/chat.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer, tempDataDir } from "../support/server.js"
import { signToken, TEST_JWT_SECRET, unsignedToken } from "../support/tokens.js"
import { playlistUris, uploadTrack, waitForTrack } from "../support/tracks.js"

/**
 * The authorization matrix: one table, route (or WebSocket action) × actor →
 * the expected answer, run against real fixtures on a real server. Each row
 * has at least one actor who must be refused, so removing a check fails a
 * row. Detailed behaviour stays in the domain tests (test/tracks,
 * test/playlists, test/chat, test/market, test/auth); this is the one place
 * that says who may do what, everywhere.
 *
 * Actors, per resource:
 * - anonymous: no token;
 * - other: a signed-in user with no tie to anything here;
 * - member: member of the private room and the DM's other party, editor on
 *   the private collaborative playlist, buyer of the product, author of the comment;
 * - owner: owns the tracks, the room, the playlist, the product (the seller);
 * - moderator: moderator of the private room, viewer on the playlist,
 *   nothing more elsewhere;
 * - admin: the admin role.
 */

const ACTORS = ["anonymous", "other", "member", "owner", "moderator", "admin"] as const
type ActorName = (typeof ACTORS)[number]
type Expect = readonly [anonymous: Outcome, other: Outcome, member: Outcome, owner: Outcome, moderator: Outcome, admin: Outcome]
/** An HTTP status, or for WebSocket actions the reply's type (or its error code), or "closed 4001". */
type Outcome = number | string

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-authz-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

const db = await freshDatabase("authz")
let server: RunningServer
let song: string

type User = Awaited<ReturnType<typeof registerUser>>
const users = {} as Record<Exclude<ActorName, "anonymous">, User>

const F = {
  pub: "",
  unlisted: "",
  priv: "",
  hidden: "",
  comment: "",
  shareToken: "",
  signedMaster: "",
  privSegment: "",
  unlistedSegment: "",
  trackDownload: "",
  room: "",
  dm: "",
  memberMessage: "",
  playlist: "",
  product: "",
  license: "",
  order: "",
  productDownload: "",
  ownerNotification: ""
}

const api = (method: string, path: string, who?: User, body?: unknown, headers: Record<string, string> = {}) =>
  http(server.baseUrl, method, `/api/v1${path}`, {
    headers,
    ...(who === undefined ? {} : { token: who.access_token }),
    ...(body === undefined ? {} : { body })
  })

const ok = async (res: Promise<{ status: number; body: any }>, status: number) => {
  const r = await res
  expect(r.status, JSON.stringify(r.body)).toBe(status)
  return r.body
}

const newTrack = async (fields: Record<string, string>) => {
  const res = await uploadTrack(server.baseUrl, users.owner.access_token, { path: song, type: "audio/mpeg" }, fields)
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.id as string
}

/** The path of the first segment of a track's first rendition, as its owner sees it (no signature). */
const firstSegment = async (trackId: string) => {
  const headers = { authorization: `Bearer ${users.owner.access_token}` }
  const master = await fetch(`${server.baseUrl}/hls/${trackId}/master.m3u8`, { headers })
  const rendition = new URL(playlistUris(await master.text())[0]!, master.url)
  const media = await (await fetch(rendition, { headers })).text()
  const segment = new URL(playlistUris(media).at(-1)!, rendition)
  return segment.pathname
}

/** A signature as the server makes them, with the secret the test server runs with (to forge expired links). */
const forgeSignature = (purpose: string, subject: string, exp: number) => {
  const key = NodeCrypto.createHmac("sha256", TEST_JWT_SECRET).update(purpose).digest()
  return NodeCrypto.createHmac("sha256", key).update(`${subject}.${exp}`).digest("base64url")
}

/** Path and query of a link the server handed out (absolute or not). */
const rel = (url: string) => {
  const u = new URL(url, server.baseUrl)
  return u.pathname + u.search
}

const tamper = (url: string) => url.replace(/sig=([^&]+)/, (_, s: string) => `sig=${s.slice(0, -1)}${s.endsWith("A") ? "B" : "A"}`)

const freshUser = () => registerUser(server.baseUrl)

beforeAll(async () => {
  server = await startServer({
    DATABASE_URL: db,
    DATA_DIR: tempDataDir(),
    JWT_SECRET: TEST_JWT_SECRET,
    HLS_LADDER_KBPS: "64",
    HLS_SEGMENT_SECONDS: "2",
    TRANSCODE_CONCURRENCY: "1",
    JOB_POLL_INTERVAL_MS: "100",
    HLS_ACCESS_CACHE_MS: "1",
    CHAT_AUTH_TIMEOUT_MS: "1000"
  })
  song = await generateAudio(work, { seconds: 2, format: "mp3" })
  const [other, member, owner, moderator, admin] = await Promise.all([
    registerUser(server.baseUrl),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl, { account_type: "producer" }),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl)
  ])
  Object.assign(users, { other, member, owner, moderator, admin })
  await query(db, "update users set role = 'admin' where id = $1", [admin.user.id])

  // Tracks: public, unlisted, private, and a public one an admin hid.
  ;[F.pub, F.unlisted, F.priv, F.hidden] = await Promise.all([
    newTrack({ title: "pub" }),
    newTrack({ title: "unlisted", visibility: "unlisted" }),
    newTrack({ title: "priv", visibility: "private" }),
    newTrack({ title: "hidden" })
  ])
  for (const id of [F.pub, F.unlisted, F.priv, F.hidden]) await waitForTrack(server.baseUrl, owner.access_token, id)
  await ok(api("POST", `/admin/tracks/${F.hidden}/hide`, admin, { reason: "matrix" }), 200)
  F.comment = (await ok(api("POST", `/tracks/${F.pub}/comments`, member, { content: "hi" }), 201)).id
  F.shareToken = (await ok(api("POST", `/tracks/${F.priv}/share`, owner, {}), 201)).token
  F.signedMaster = (await ok(api("GET", `/tracks/${F.priv}/stream-url`, owner), 200)).url
  F.privSegment = await firstSegment(F.priv)
  F.unlistedSegment = await firstSegment(F.unlisted)
  F.trackDownload = (await ok(api("GET", `/tracks/${F.priv}/download`, owner), 200)).url

  // Chat: a private room (member, moderator), a DM between owner and member, a message by member.
  F.room = (await createRoom(server.baseUrl, owner.access_token, { type: "private" })).id
  for (const u of [member, moderator]) await ok(api("POST", `/chat/rooms/${F.room}/members`, owner, { user_id: u.user.id }), 204)
  await ok(api("PATCH", `/chat/rooms/${F.room}/members/${moderator.user.id}`, owner, { role: "moderator" }), 200)
  const chat = await ChatClient.connect(server.baseUrl, member.access_token)
  await chat.request({ type: "join", room_id: F.room })
  F.memberMessage = (await chat.request({ type: "send", room_id: F.room, client_id: newClientId(), content: "by member" })).message.id
  F.dm = (await chat.request({ type: "dm_open", user_id: owner.user.id })).room_id
  await chat.close()

  // A private collaborative playlist: member edits, moderator views.
  F.playlist = await privatePlaylist()

  // The marketplace: owner sells, member buys.
  const product = await ok(
    api("POST", "/marketplace/products", owner, { title: "beat", type: "beat", licenses: [{ type: "basic", price_cents: 100, currency: "EUR" }] }),
    201
  )
  F.product = product.id
  F.license = product.licenses[0].id
  await productFile(F.product)
  F.order = (await ok(api("POST", "/marketplace/orders", member, { items: [{ product_id: F.product, license_id: F.license }] }, { "idempotency-key": NodeCrypto.randomUUID() }), 201)).id
  F.productDownload = (await ok(api("GET", `/marketplace/download/${F.product}`, member), 200)).files[0].url

  await ok(api("POST", `/users/${owner.user.id}/follow`, member), 204)
  F.ownerNotification = (await ok(api("GET", "/notifications", owner), 200)).items[0].id
}, 120_000)

const privatePlaylist = async () => {
  const id = (await ok(api("POST", "/playlists", users.owner, { title: "secret", visibility: "private", collaborative: true }), 201)).id
  await ok(api("POST", `/playlists/${id}/collaborators`, users.owner, { user_id: users.member.user.id, role: "editor" }), 201)
  await ok(api("POST", `/playlists/${id}/collaborators`, users.owner, { user_id: users.moderator.user.id, role: "viewer" }), 201)
  return id as string
}

const productFile = async (productId: string) => {
  const form = new FormData()
  form.append("file", new Blob(["kit"], { type: "application/zip" }), "kit.zip")
  const res = await fetch(`${server.baseUrl}/api/v1/marketplace/products/${productId}/files`, { method: "POST", body: form, headers: { authorization: `Bearer ${users.owner.access_token}` } })
  expect(res.status).toBe(201)
}

// ---------------------------------------------------------------- the table

interface HttpRow {
  readonly name: string
  readonly method: string
  /** Built per actor, after `fresh` (if any) made this actor's own copy of a resource the call consumes. */
  readonly path: (fresh: string) => string
  readonly body?: (fresh: string) => unknown
  /** false: the URL alone is the credential; no bearer token is sent. */
  readonly bearer?: boolean
  readonly fresh?: () => Promise<string>
  readonly expect: Expect
  /** Open to everyone on purpose (public reads, valid links): the only rows allowed to refuse nobody. */
  readonly open?: true
}

interface WsRow {
  readonly name: string
  readonly ws: (fresh: string) => Record<string, unknown>
  readonly fresh?: () => Promise<string>
  readonly expect: Expect
}

const e = (...x: Expect): Expect => x
const uid = (a: Exclude<ActorName, "anonymous">) => users[a].user.id
/** A message by member in the private room, for actions that consume it. */
const freshMemberMessage = async () => {
  const c = await ChatClient.connect(server.baseUrl, users.member.access_token)
  await c.request({ type: "join", room_id: F.room })
  const id = (await c.request({ type: "send", room_id: F.room, client_id: newClientId(), content: "to be acted on" })).message.id as string
  await c.close()
  return id
}
/** A fresh plain member of the private room, as a target of moderation. */
const freshRoomMember = async () => {
  const u = await freshUser()
  await ok(api("POST", `/chat/rooms/${F.room}/members`, users.owner, { user_id: u.user.id }), 204)
  return u.user.id
}

const HTTP_ROWS: ReadonlyArray<HttpRow> = [
  // Tracks (test/tracks/library.test.ts has the details)
  { name: "GET public track", open: true, method: "GET", path: () => `/tracks/${F.pub}`, expect: e(200, 200, 200, 200, 200, 200) },
  { name: "GET unlisted track", open: true, method: "GET", path: () => `/tracks/${F.unlisted}`, expect: e(200, 200, 200, 200, 200, 200) },
  { name: "GET private track", method: "GET", path: () => `/tracks/${F.priv}`, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "GET hidden track", method: "GET", path: () => `/tracks/${F.hidden}`, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "PATCH public track", method: "PATCH", path: () => `/tracks/${F.pub}`, body: () => ({ title: "renamed" }), expect: e(401, 403, 403, 200, 403, 200) },
  { name: "PATCH private track", method: "PATCH", path: () => `/tracks/${F.priv}`, body: () => ({ title: "renamed" }), expect: e(401, 404, 404, 200, 404, 200) },
  { name: "DELETE track", method: "DELETE", path: (t) => `/tracks/${t}`, fresh: () => newTrack({ title: "doomed" }), expect: e(401, 403, 403, 204, 403, 204) },
  { name: "stream-url of private track", method: "GET", path: () => `/tracks/${F.priv}/stream-url`, expect: e(401, 404, 404, 200, 404, 200) },
  { name: "download link of private track", method: "GET", path: () => `/tracks/${F.priv}/download`, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "download link of public, not downloadable track", method: "GET", path: () => `/tracks/${F.pub}/download`, expect: e(403, 403, 403, 200, 403, 200) },
  { name: "like private track", method: "POST", path: () => `/tracks/${F.priv}/like`, expect: e(401, 404, 404, 200, 404, 200) },
  { name: "comment on private track", method: "POST", path: () => `/tracks/${F.priv}/comments`, body: () => ({ content: "x" }), expect: e(401, 404, 404, 201, 404, 201) },
  { name: "comments of private track", method: "GET", path: () => `/tracks/${F.priv}/comments`, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "stats of private track", method: "GET", path: () => `/tracks/${F.priv}/stats`, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "edit member's comment", method: "PATCH", path: () => `/tracks/${F.pub}/comments/${F.comment}`, body: () => ({ content: "edited" }), expect: e(401, 403, 200, 403, 403, 403) },
  {
    name: "delete member's comment",
    method: "DELETE",
    path: (c) => `/tracks/${F.pub}/comments/${c}`,
    fresh: async () => (await ok(api("POST", `/tracks/${F.pub}/comments`, users.member, { content: "doomed" }), 201)).id,
    expect: e(401, 403, 204, 204, 403, 204)
  },
  { name: "share private track", method: "POST", path: () => `/tracks/${F.priv}/share`, body: () => ({}), expect: e(401, 404, 404, 201, 404, 201) },
  { name: "open a share link (the link is the permission)", open: true, method: "GET", path: () => `/tracks/shared/${F.shareToken}`, expect: e(200, 200, 200, 200, 200, 200) },
  { name: "upload (creator-side accounts only)", method: "POST", path: () => "/tracks", body: () => "not multipart", expect: e(401, 403, 403, 415, 403, 415) },

  // HLS (test/hls/playback.test.ts, test/tracks/streaming.test.ts)
  { name: "HLS master of public track", open: true, method: "GET", path: () => `/hls/${F.pub}/master.m3u8`, expect: e(200, 200, 200, 200, 200, 200) },
  { name: "HLS master of private track, bearer", method: "GET", path: () => `/hls/${F.priv}/master.m3u8`, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "HLS master of hidden track, bearer", method: "GET", path: () => `/hls/${F.hidden}/master.m3u8`, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "HLS guessed segment of private track", method: "GET", path: () => F.privSegment, expect: e(404, 404, 404, 200, 404, 200) },
  { name: "HLS guessed segment of unlisted track", method: "GET", path: () => F.unlistedSegment, expect: e(403, 403, 403, 200, 403, 200) },
  { name: "HLS signed link, no bearer", open: true, method: "GET", bearer: false, path: () => rel(F.signedMaster), expect: e(200, 200, 200, 200, 200, 200) },
  {
    name: "HLS signed segment of private track, no bearer", open: true,
    method: "GET",
    bearer: false,
    path: () => `${F.privSegment}${new URL(F.signedMaster, server.baseUrl).search}`,
    expect: e(200, 200, 200, 200, 200, 200)
  },
  { name: "HLS tampered signature", method: "GET", path: () => rel(tamper(F.signedMaster)), expect: e(403, 403, 403, 200, 403, 200) },
  {
    name: "HLS expired signature (correctly signed)",
    method: "GET",
    path: () => {
      const exp = Math.floor(Date.now() / 1000) - 10
      return `/hls/${F.priv}/master.m3u8?exp=${exp}&sig=${forgeSignature("veza/hls-links/v1", F.priv, exp)}`
    },
    expect: e(403, 403, 403, 200, 403, 200)
  },
  {
    name: "HLS another track's signature",
    method: "GET",
    path: () => {
      const exp = Math.floor(Date.now() / 1000) + 600
      return `/hls/${F.priv}/master.m3u8?exp=${exp}&sig=${forgeSignature("veza/hls-links/v1", F.unlisted, exp)}`
    },
    expect: e(403, 403, 403, 200, 403, 200)
  },
  { name: "original download link, no bearer", open: true, method: "GET", bearer: false, path: () => rel(F.trackDownload), expect: e(200, 200, 200, 200, 200, 200) },
  { name: "original download link tampered", method: "GET", path: () => rel(tamper(F.trackDownload)), expect: e(403, 403, 403, 403, 403, 403) },

  // Playlists (test/playlists/playlists.test.ts)
  { name: "GET private playlist", method: "GET", path: () => `/playlists/${F.playlist}`, expect: e(404, 404, 200, 200, 200, 200) },
  { name: "GET private playlist's tracks", method: "GET", path: () => `/playlists/${F.playlist}/tracks`, expect: e(404, 404, 200, 200, 200, 200) },
  { name: "PATCH private playlist", method: "PATCH", path: () => `/playlists/${F.playlist}`, body: () => ({ title: "renamed" }), expect: e(401, 404, 403, 200, 403, 200) },
  {
    name: "add a track to the collaborative playlist",
    method: "POST",
    path: (p) => `/playlists/${p}/tracks`,
    body: () => ({ track_id: F.pub }),
    fresh: privatePlaylist,
    expect: e(401, 404, 201, 201, 403, 201)
  },
  {
    name: "invite a collaborator",
    method: "POST",
    path: (p) => `/playlists/${p}/collaborators`,
    body: () => ({ user_id: uid("other") }),
    fresh: privatePlaylist,
    expect: e(401, 404, 403, 201, 403, 201)
  },
  { name: "DELETE private playlist", method: "DELETE", path: (p) => `/playlists/${p}`, fresh: privatePlaylist, expect: e(401, 404, 403, 204, 403, 204) },

  // Chat REST (test/chat/rest.test.ts)
  { name: "GET private room", method: "GET", path: () => `/chat/rooms/${F.room}`, expect: e(401, 404, 200, 200, 200, 200) },
  { name: "members of private room", method: "GET", path: () => `/chat/rooms/${F.room}/members`, expect: e(401, 404, 200, 200, 200, 200) },
  { name: "history of private room", method: "GET", path: () => `/chat/rooms/${F.room}/messages`, expect: e(401, 404, 200, 200, 200, 200) },
  { name: "history of a DM", method: "GET", path: () => `/chat/rooms/${F.dm}/messages`, expect: e(401, 404, 200, 200, 404, 200) },
  { name: "invite into private room", method: "POST", path: () => `/chat/rooms/${F.room}/members`, body: (u) => ({ user_id: u }), fresh: async () => (await freshUser()).user.id, expect: e(401, 404, 403, 204, 204, 204) },
  { name: "mute a member", method: "PATCH", path: (u) => `/chat/rooms/${F.room}/members/${u}`, body: () => ({ muted: true }), fresh: freshRoomMember, expect: e(401, 404, 403, 200, 200, 200) },
  { name: "make a member moderator", method: "PATCH", path: (u) => `/chat/rooms/${F.room}/members/${u}`, body: () => ({ role: "moderator" }), fresh: freshRoomMember, expect: e(401, 404, 403, 200, 403, 200) },
  { name: "kick a member", method: "DELETE", path: (u) => `/chat/rooms/${F.room}/members/${u}`, fresh: freshRoomMember, expect: e(401, 404, 403, 204, 204, 204) },
  { name: "join a private room uninvited", method: "POST", path: () => `/chat/rooms/${F.room}/join`, expect: e(401, 404, 200, 200, 200, 200) },

  // Marketplace (test/market/market.test.ts)
  { name: "GET an order", method: "GET", path: () => `/marketplace/orders/${F.order}`, expect: e(401, 404, 200, 404, 404, 200) },
  { name: "download a bought product", method: "GET", path: () => `/marketplace/download/${F.product}`, expect: e(401, 403, 200, 200, 403, 200) },
  { name: "product download link, no bearer", open: true, method: "GET", bearer: false, path: () => rel(F.productDownload), expect: e(200, 200, 200, 200, 200, 200) },
  { name: "product download link tampered", method: "GET", path: () => rel(tamper(F.productDownload)), expect: e(403, 403, 403, 403, 403, 403) },
  { name: "PATCH a product", method: "PATCH", path: () => `/marketplace/products/${F.product}`, body: () => ({ title: "renamed" }), expect: e(401, 403, 403, 200, 403, 200) },
  { name: "review a product", method: "POST", path: () => `/marketplace/products/${F.product}/reviews`, body: () => ({ rating: 5 }), expect: e(401, 403, 201, 403, 403, 403) },

  // Users, social, notifications, admin (test/users, test/social, test/admin)
  { name: "PUT a profile", method: "PUT", path: () => `/users/${uid("owner")}`, body: () => ({ tagline: "x" }), expect: e(401, 403, 403, 200, 403, 200) },
  { name: "read someone's notification", method: "POST", path: () => `/notifications/${F.ownerNotification}/read`, expect: e(401, 404, 404, 204, 404, 404) },
  { name: "listening history", method: "GET", path: () => "/me/history", expect: e(401, 200, 200, 200, 200, 200) },
  { name: "audit log", method: "GET", path: () => "/admin/audit/logs", expect: e(401, 403, 403, 403, 403, 200) },
  { name: "report queue", method: "GET", path: () => "/admin/reports", expect: e(401, 403, 403, 403, 403, 200) },
  { name: "hide a track", method: "POST", path: (t) => `/admin/tracks/${t}/hide`, body: () => ({ reason: "x" }), fresh: async () => F.pub, expect: e(401, 403, 403, 403, 403, 200) },
  { name: "ban a user", method: "POST", path: (u) => `/admin/users/${u}/ban`, body: () => ({ reason: "x" }), fresh: async () => (await freshUser()).user.id, expect: e(401, 403, 403, 403, 403, 200) }
]

const WS_ROWS: ReadonlyArray<WsRow> = [
  { name: "ws join private room", ws: () => ({ type: "join", room_id: F.room }), expect: e("closed 4001", "ROOM_NOT_FOUND", "joined", "joined", "joined", "joined") },
  { name: "ws history of private room", ws: () => ({ type: "history", room_id: F.room }), expect: e("closed 4001", "ROOM_NOT_FOUND", "history", "history", "history", "history") },
  { name: "ws send in private room", ws: () => ({ type: "send", room_id: F.room, client_id: newClientId(), content: "hi" }), expect: e("closed 4001", "ROOM_NOT_FOUND", "ack", "ack", "ack", "ROOM_NOT_FOUND") },
  // Over REST an admin may read a DM's history; joining it live is for its two members only.
  { name: "ws join a DM", ws: () => ({ type: "join", room_id: F.dm }), expect: e("closed 4001", "ROOM_NOT_FOUND", "joined", "joined", "ROOM_NOT_FOUND", "ROOM_NOT_FOUND") },
  { name: "ws edit member's message", ws: (m) => ({ type: "edit", message_id: m, content: "edited" }), fresh: freshMemberMessage, expect: e("closed 4001", "MESSAGE_NOT_FOUND", "message_edited", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN") },
  { name: "ws delete member's message", ws: (m) => ({ type: "delete", message_id: m }), fresh: freshMemberMessage, expect: e("closed 4001", "MESSAGE_NOT_FOUND", "message_deleted", "message_deleted", "message_deleted", "message_deleted") },
  { name: "ws react to a message in private room", ws: () => ({ type: "react", message_id: F.memberMessage, emoji: "👍" }), expect: e("closed 4001", "MESSAGE_NOT_FOUND", "reaction_added", "reaction_added", "reaction_added", "NOT_A_MEMBER") }
]

// ---------------------------------------------------------------- running it

const bearerOf = (actor: ActorName) => (actor === "anonymous" ? {} : { authorization: `Bearer ${users[actor].access_token}` })

const runHttp = async (row: HttpRow, actor: ActorName): Promise<Outcome> => {
  const fresh = row.fresh === undefined ? "" : await row.fresh()
  let path = row.path(fresh)
  if (!path.startsWith("/hls") && !path.startsWith("/downloads")) path = `/api/v1${path}`
  const body = row.body?.(fresh)
  const res = await fetch(server.baseUrl + path, {
    method: row.method,
    headers: { ...(row.bearer === false ? {} : bearerOf(actor)), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
  })
  const text = await res.text()
  if (res.status >= 400) expect(Object.keys(JSON.parse(text)), `${row.name} as ${actor}: ${text}`).toEqual(["error"])
  return res.status
}

const runWs = async (row: WsRow, actor: ActorName): Promise<Outcome> => {
  const fresh = row.fresh === undefined ? "" : await row.fresh()
  if (actor === "anonymous") {
    const c = ChatClient.open(server.baseUrl)
    c.ws.on("open", () => c.send({ ...row.ws(fresh), ref: "a" }))
    const { code } = await c.closed
    // Frames before authentication end the connection: 4001 (or 4029, whichever the server sees first).
    return code === 4029 ? "closed 4001" : `closed ${code}`
  }
  const c = await ChatClient.connect(server.baseUrl, users[actor].access_token)
  try {
    const frame = row.ws(fresh)
    // Actions on messages need the room joined first, where the actor may.
    if (frame["type"] !== "join" && frame["type"] !== "history") await c.request({ type: "join", room_id: F.room })
    const reply = await c.request(frame)
    return reply.type === "error" ? String(reply.code) : reply.type
  } finally {
    await c.close()
  }
}

describe("authorization matrix: route × actor", () => {
  it.each(HTTP_ROWS.map((r) => [r.name, r] as const))("%s", async (_, row) => {
    const got: Array<Outcome> = []
    for (const actor of ACTORS) got.push(await runHttp(row, actor))
    expect(Object.fromEntries(ACTORS.map((a, i) => [a, got[i]]))).toEqual(Object.fromEntries(ACTORS.map((a, i) => [a, row.expect[i]])))
  })

  it.each(WS_ROWS.map((r) => [r.name, r] as const))("%s", async (_, row) => {
    const got: Array<Outcome> = []
    for (const actor of ACTORS) got.push(await runWs(row, actor))
    expect(Object.fromEntries(ACTORS.map((a, i) => [a, got[i]]))).toEqual(Object.fromEntries(ACTORS.map((a, i) => [a, row.expect[i]])))
  })

  it("every row refuses someone, so that a removed check fails a row", () => {
    for (const row of [...HTTP_ROWS, ...WS_ROWS]) {
      const refused = row.expect.some((o) => (typeof o === "number" ? o >= 400 : /^[A-Z_]+$|^closed/.test(o)))
      if (!("open" in row && row.open === true)) expect(refused, row.name).toBe(true)
    }
  })
})

describe("tokens", () => {
  const now = () => Math.floor(Date.now() / 1000)
  const variants = () => {
    const sub = users.other.user.id
    return {
      expired: signToken({ sub, exp: now() - 5 }),
      "wrong aud": signToken({ sub, aud: "somebody-else" }),
      "chat audience on the API": signToken({ sub, aud: "veza-app:chat" }),
      "wrong iss": signToken({ sub, iss: "evil" }),
      "bad signature": signToken({ sub }, "not-the-server-secret-not-the-server-secret"),
      "alg none": unsignedToken({ sub }),
      "admin role claimed": signToken({ sub, role: "admin" }, "not-the-server-secret-not-the-server-secret"),
      "stale token_version": signToken({ sub, token_version: 7 }),
      "unknown user": signToken({ sub: NodeCrypto.randomUUID() })
    }
  }

  it.each(["expired", "wrong aud", "chat audience on the API", "wrong iss", "bad signature", "alg none", "admin role claimed", "stale token_version", "unknown user"])(
    "%s: 401 on reads and writes, refused on /ws and /hls, nothing written",
    async (name) => {
      const token = await (variants() as Record<string, Promise<string> | string>)[name]!
      const headers = { authorization: `Bearer ${token}` }
      const before = await query(db, "select count(*)::int as n from playlists")
      const me = await fetch(`${server.baseUrl}/api/v1/auth/me`, { headers })
      const write = await fetch(`${server.baseUrl}/api/v1/playlists`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ title: "x" }) })
      const admin = await fetch(`${server.baseUrl}/api/v1/admin/audit/logs`, { headers })
      const hls = await fetch(`${server.baseUrl}/hls/${F.priv}/master.m3u8`, { headers })
      expect([me.status, write.status, admin.status, hls.status]).toEqual([401, 401, 401, 404])
      expect(await query(db, "select count(*)::int as n from playlists")).toEqual(before)
      if (name === "chat audience on the API") {
        // The chat token's audience is for /ws, where it is the credential by design.
        const c = await ChatClient.connect(server.baseUrl, token)
        await c.close()
        return
      }
      const c = ChatClient.open(server.baseUrl, { token })
      expect([1006, 4001]).toContain((await c.closed).code)
    }
  )

  it("a valid token of a user who logged out everywhere (token_version bumped) is refused", async () => {
    const u = await freshUser()
    expect((await api("GET", "/auth/me", u)).status).toBe(200)
    expect((await api("POST", "/auth/logout-all", u)).status).toBe(204)
    expect((await api("GET", "/auth/me", u)).status).toBe(401)
  })

  it("a revoked refresh family: re-using a rotated token revokes the family, the newest token included", async () => {
    const u = await freshUser()
    const first = await ok(api("POST", "/auth/refresh", undefined, { refresh_token: u.refresh_token }), 200)
    expect((await api("POST", "/auth/refresh", undefined, { refresh_token: u.refresh_token })).status).toBe(401)
    expect((await api("POST", "/auth/refresh", undefined, { refresh_token: first.refresh_token })).status).toBe(401)
  })
})
