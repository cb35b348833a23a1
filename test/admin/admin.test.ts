import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { ChatClient, createRoom, newClientId } from "../support/chat.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type JsonResponse, type RunningServer, startServer, tempDataDir } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-admin-"))
const db = await freshDatabase("admin")
let server: RunningServer
let song: string
const clients: Array<ChatClient> = []

type User = Awaited<ReturnType<typeof registerUser>>
let admin: User
let creator: User
let member: User
let stranger: User

const api = <T = any>(method: string, path: string, who?: User | string, body?: unknown) =>
  http<T>(server.baseUrl, method, `/api/v1${path}`, {
    ...(who === undefined ? {} : { token: typeof who === "string" ? who : who.access_token }),
    ...(body === undefined ? {} : { body })
  })

/** The SPEC §4 error envelope, with this status and code, and nothing else. */
const expectError = (res: JsonResponse, status: number, code?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(Object.keys(res.body)).toEqual(["error"])
  expect(res.body.error).toMatchObject({ code: code ?? expect.any(String), message: expect.any(String) })
  for (const key of Object.keys(res.body.error)) expect(["code", "message", "details"]).toContain(key)
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(js|ts):\d+/)
}

const expectOk = <T = any>(res: JsonResponse<T>, status = 200) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  return res.body
}

const newTrack = async (who: User, title: string) => {
  const res = await uploadTrack(server.baseUrl, who.access_token, { path: song, type: "audio/mpeg" }, { title })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return waitForTrack(server.baseUrl, who.access_token, res.body.id)
}

const unique = (word: string) => `${word}${NodeCrypto.randomBytes(3).toString("hex")}`

const comment = async (who: User, trackId: string, content = "nice") => expectOk(await api("POST", `/tracks/${trackId}/comments`, who, { content }), 201)

const report = (who: User | undefined, body: Record<string, unknown>) => api("POST", "/reports", who, { reason: "spam", ...body })

const auditActions = async (filters: Record<string, string>) =>
  (expectOk(await api("GET", `/admin/audit/logs?${new URLSearchParams({ limit: "200", ...filters })}`, admin)).items as Array<any>).map((e) => e.action)

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), HLS_LADDER_KBPS: "64", TRANSCODE_CONCURRENCY: "2", JOB_POLL_INTERVAL_MS: "200" })
  song = await generateAudio(work, { seconds: 1, format: "mp3", name: "song.mp3" })
  ;[admin, creator, member, stranger] = await Promise.all([
    registerUser(server.baseUrl),
    registerUser(server.baseUrl, { account_type: "creator" }),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl)
  ])
  await query(db, "update users set role = 'admin' where id = $1", [admin.user.id])
}, 60_000)

afterAll(() => {
  for (const c of clients) c.ws.terminate()
  NodeFs.rmSync(work, { recursive: true, force: true })
})

const ID = "00000000-0000-4000-8000-000000000000"
const ADMIN_ROUTES: ReadonlyArray<[string, string, unknown?]> = [
  ["GET", "/admin/audit/logs"],
  ["GET", "/admin/audit/stats"],
  ["GET", "/admin/audit/suspicious"],
  ["GET", "/admin/reports"],
  ["GET", `/admin/reports/${ID}`],
  ["POST", `/admin/reports/${ID}/resolve`, {}],
  ["POST", `/admin/reports/${ID}/dismiss`, {}],
  ["GET", "/admin/actions"],
  ["POST", `/admin/tracks/${ID}/hide`, {}],
  ["POST", `/admin/tracks/${ID}/unhide`, {}],
  ["DELETE", `/admin/tracks/${ID}`],
  ["DELETE", `/admin/comments/${ID}`],
  ["DELETE", `/admin/chat/messages/${ID}`],
  ["POST", `/admin/users/${ID}/ban`, {}],
  ["POST", `/admin/users/${ID}/unban`, {}]
]

describe("access", () => {
  it("every admin route is 401 without a token and 403 ADMIN_ONLY for non-admins, creators included", async () => {
    for (const [method, path, body] of ADMIN_ROUTES) {
      expectError(await api(method, path, undefined, body), 401)
      expectError(await api(method, path, member, body), 403, "ADMIN_ONLY")
      expectError(await api(method, path, creator, body), 403, "ADMIN_ONLY")
    }
    expectError(await report(undefined, { target_type: "user", target_id: admin.user.id }), 401)
  })

  it("an admin's own unknown ids are 404s, not 500s", async () => {
    expectError(await api("GET", `/admin/reports/${ID}`, admin), 404, "REPORT_NOT_FOUND")
    expectError(await api("POST", `/admin/tracks/${ID}/hide`, admin), 404)
    expectError(await api("DELETE", `/admin/comments/${ID}`, admin), 404, "COMMENT_NOT_FOUND")
    expectError(await api("DELETE", `/admin/chat/messages/${ID}`, admin), 404, "MESSAGE_NOT_FOUND")
    expectError(await api("POST", `/admin/users/${ID}/ban`, admin), 404, "USER_NOT_FOUND")
    expectError(await api("POST", "/admin/tracks/not-a-uuid/hide", admin), 400)
  })
})

describe("audit log", () => {
  it("lists entries newest first, filtered, page by page", async () => {
    const all = expectOk(await api("GET", `/admin/audit/logs?action=auth.register&limit=200`, admin)).items as Array<any>
    expect(all.length).toBeGreaterThanOrEqual(4)
    expect(all.every((e) => e.action === "auth.register")).toBe(true)
    const times = all.map((e) => Date.parse(e.created_at))
    expect([...times].sort((a, b) => b - a)).toEqual(times)

    const mine = expectOk(await api("GET", `/admin/audit/logs?actor_id=${member.user.id}&target_type=user&target_id=${member.user.id}`, admin)).items
    expect(mine).toEqual([
      expect.objectContaining({ actor_id: member.user.id, actor_username: member.user.username, action: "auth.register", target_type: "user", target_id: member.user.id, ip_address: expect.any(String), metadata: { role: "user" } })
    ])

    const seen: Array<string> = []
    let cursor: string | null = null
    do {
      const res: JsonResponse = await api("GET", `/admin/audit/logs?action=auth.register&limit=1${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`, admin)
      const body = expectOk(res)
      expect(body.items.length).toBeLessThanOrEqual(1)
      seen.push(...body.items.map((e: any) => e.id))
      cursor = body.next_cursor
    } while (cursor !== null)
    expect(seen).toEqual(all.map((e) => e.id))

    const future = new Date(Date.now() + 3600_000).toISOString()
    expect(expectOk(await api("GET", `/admin/audit/logs?since=${future}`, admin)).items).toEqual([])
    expect(expectOk(await api("GET", `/admin/audit/logs?until=2000-01-01T00:00:00Z`, admin)).items).toEqual([])
  })

  it("refuses bad filters with 400", async () => {
    for (const q of ["actor_id=nope", "target_id=123", "since=yesterday", "until=99999-01-01", "limit=0", "limit=201", "cursor=garbage", "action=a%00b"]) {
      expectError(await api("GET", `/admin/audit/logs?${q}`, admin), 400)
    }
    expectError(await api("GET", "/admin/audit/logs?cursor=garbage", admin), 400, "INVALID_CURSOR")
  })

  it("counts actions over a window", async () => {
    const stats = expectOk(await api("GET", "/admin/audit/stats", admin))
    expect(stats.by_action).toContainEqual({ action: "auth.register", count: expect.any(Number) })
    expect(stats.total).toBe(stats.by_action.reduce((n: number, a: any) => n + a.count, 0))
    expect(Date.parse(stats.until) - Date.parse(stats.since)).toBe(24 * 3600_000)
    expect(stats.login_attempts).toEqual({ succeeded: expect.any(Number), failed: expect.any(Number) })
    const empty = expectOk(await api("GET", "/admin/audit/stats?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z", admin))
    expect(empty).toMatchObject({ total: 0, by_action: [], login_attempts: { succeeded: 0, failed: 0 } })
    expectError(await api("GET", "/admin/audit/stats?since=2020-01-02T00:00:00Z&until=2020-01-01T00:00:00Z", admin), 400)
    expectError(await api("GET", "/admin/audit/stats?since=soon", admin), 400)
  })

  it("shows repeated failed logins by address and account, and refresh-token reuse", async () => {
    const victim = await registerUser(server.baseUrl)
    for (let i = 0; i < 3; i++) {
      expectError(await api("POST", "/auth/login", undefined, { email: victim.email, password: "wrong password!" }), 401)
    }
    const first = expectOk(await api("POST", "/auth/refresh", undefined, { refresh_token: victim.refresh_token }))
    expect(first.refresh_token).toBeDefined()
    expectError(await api("POST", "/auth/refresh", undefined, { refresh_token: victim.refresh_token }), 401, "REFRESH_TOKEN_REUSED")

    const report = expectOk(await api("GET", "/admin/audit/suspicious?min_failures=3", admin))
    expect(report.min_failures).toBe(3)
    expect(report.failed_logins_by_account).toContainEqual(
      expect.objectContaining({ identifier: victim.email, user_id: victim.user.id, failures: 3, addresses: 1 })
    )
    expect(report.failed_logins_by_address).toContainEqual(expect.objectContaining({ failures: expect.any(Number), accounts: expect.any(Number) }))
    expect(report.refresh_token_reuse).toContainEqual(expect.objectContaining({ actor_id: victim.user.id, action: "auth.refresh_token_reuse" }))

    const strict = expectOk(await api("GET", "/admin/audit/suspicious?min_failures=4", admin))
    expect(strict.failed_logins_by_account.map((a: any) => a.identifier)).not.toContain(victim.email)
    expectError(await api("GET", "/admin/audit/suspicious?min_failures=0", admin), 400)
    expectError(await api("GET", "/admin/audit/suspicious?since=-300000-01-01", admin), 400)
  })
})

describe("reports", () => {
  let track: any
  let privateTrackId: string
  beforeAll(async () => {
    track = await newTrack(creator, unique("reportable"))
    const priv = await newTrack(creator, unique("secret"))
    expectOk(await api("PATCH", `/tracks/${priv.id}`, creator, { visibility: "private" }))
    privateTrackId = priv.id
  }, 60_000)

  it("a signed-in user reports a track, once while it is open", async () => {
    const created = expectOk(await report(member, { target_type: "track", target_id: track.id, reason: "copyright", details: "my song" }), 201)
    expect(created).toMatchObject({
      reporter_id: member.user.id,
      target_type: "track",
      target_id: track.id,
      target_owner_id: creator.user.id,
      reason: "copyright",
      details: "my song",
      status: "open",
      resolved_by: null,
      action: null
    })
    expectError(await report(member, { target_type: "track", target_id: track.id }), 409, "ALREADY_REPORTED")
    // Another reporter has a report of their own.
    expectOk(await report(stranger, { target_type: "track", target_id: track.id }), 201)
  })

  it("reports comments, messages and users", async () => {
    const c = await comment(creator, track.id, "buy followers at example.com")
    expect(expectOk(await report(member, { target_type: "comment", target_id: c.id }), 201)).toMatchObject({ target_owner_id: creator.user.id })
    expect(expectOk(await report(member, { target_type: "user", target_id: creator.user.id, reason: "impersonation" }), 201)).toMatchObject({
      target_owner_id: creator.user.id
    })
    const room = await createRoom(server.baseUrl, creator.access_token, { name: unique("room"), type: "public" })
    const ws = await ChatClient.connect(server.baseUrl, creator.access_token)
    clients.push(ws)
    expect((await ws.request({ type: "join", room_id: room.id })).type).toBe("joined")
    const ack = await ws.request({ type: "send", room_id: room.id, client_id: newClientId(), content: "spam spam" })
    expectOk(await api("POST", `/chat/rooms/${room.id}/join`, member))
    expect(expectOk(await report(member, { target_type: "message", target_id: ack.message.id, reason: "spam" }), 201)).toMatchObject({
      target_type: "message",
      target_owner_id: creator.user.id
    })
  })

  it("what the reporter cannot see is 404; their own things are 422; bad bodies are 400", async () => {
    expectError(await report(member, { target_type: "track", target_id: privateTrackId }), 404)
    expectError(await report(member, { target_type: "comment", target_id: ID }), 404, "COMMENT_NOT_FOUND")
    expectError(await report(member, { target_type: "user", target_id: ID }), 404, "USER_NOT_FOUND")
    const privateRoom = await createRoom(server.baseUrl, creator.access_token, { name: unique("private"), type: "private" })
    const ws = await ChatClient.connect(server.baseUrl, creator.access_token)
    clients.push(ws)
    expect((await ws.request({ type: "join", room_id: privateRoom.id })).type).toBe("joined")
    const ack = await ws.request({ type: "send", room_id: privateRoom.id, client_id: newClientId(), content: "members only" })
    expectError(await report(member, { target_type: "message", target_id: ack.message.id }), 404, "MESSAGE_NOT_FOUND")

    expectError(await report(member, { target_type: "user", target_id: member.user.id }), 422, "CANNOT_REPORT_OWN")
    expectError(await report(creator, { target_type: "track", target_id: track.id }), 422, "CANNOT_REPORT_OWN")

    expectError(await report(member, { target_type: "playlist", target_id: track.id }), 400)
    expectError(await report(member, { target_type: "track", target_id: "nope" }), 400)
    expectError(await report(member, { target_type: "track", target_id: track.id, reason: "meh" }), 400)
    expectError(await report(member, { target_type: "track", target_id: track.id, details: "x".repeat(2001) }), 400)
    expectError(await report(member, { target_type: "track", target_id: track.id, details: "a\u0000b" }), 400)
    expectError(await http(server.baseUrl, "POST", "/api/v1/reports", { token: member.access_token, raw: "{not json", headers: { "content-type": "application/json" } }), 400)
  })

  it("admins list and filter the queue, page by page", async () => {
    const open = expectOk(await api("GET", `/admin/reports?status=open&target_type=track&target_id=${track.id}`, admin)).items as Array<any>
    expect(open.map((r) => r.reporter_id).sort()).toEqual([member.user.id, stranger.user.id].sort())
    const byReporter = expectOk(await api("GET", `/admin/reports?reporter_id=${stranger.user.id}`, admin)).items
    expect(byReporter).toHaveLength(1)
    const against = expectOk(await api("GET", `/admin/reports?target_owner_id=${creator.user.id}&limit=2`, admin))
    expect(against.items).toHaveLength(2)
    expect(against.next_cursor).toEqual(expect.any(String))
    const rest = expectOk(await api("GET", `/admin/reports?target_owner_id=${creator.user.id}&limit=100&cursor=${encodeURIComponent(against.next_cursor)}`, admin))
    expect(rest.items.length).toBeGreaterThanOrEqual(3)
    expect(rest.items.map((r: any) => r.id)).not.toContain(against.items[0].id)
    expect(expectOk(await api("GET", `/admin/reports/${open[0].id}`, admin))).toEqual(open[0])
    expectError(await api("GET", "/admin/reports?status=closed", admin), 400)
    expectError(await api("GET", "/admin/reports?limit=500", admin), 400)
    expectError(await api("GET", "/admin/reports/abc", admin), 400)
  })

  it("dismissing closes one report; it can be reported again", async () => {
    const mine = expectOk(await api("GET", `/admin/reports?reporter_id=${stranger.user.id}&status=open`, admin)).items[0]
    const dismissed = expectOk(await api("POST", `/admin/reports/${mine.id}/dismiss`, admin, { note: "not infringing" }))
    expect(dismissed).toMatchObject({ status: "dismissed", resolved_by: admin.user.id, resolution_note: "not infringing", action: null, resolved_at: expect.any(String) })
    expectError(await api("POST", `/admin/reports/${mine.id}/dismiss`, admin), 409, "REPORT_NOT_OPEN")
    expectError(await api("POST", `/admin/reports/${mine.id}/resolve`, admin), 409, "REPORT_NOT_OPEN")
    expectOk(await report(stranger, { target_type: "track", target_id: track.id }), 201)
    expect(await auditActions({ target_type: "moderation_report", target_id: mine.id })).toEqual(["admin.report_dismissed"])
  })

  it("resolving with an action applies it and closes every open report of that target", async () => {
    const c = await comment(creator, track.id, "offensive words")
    const first = expectOk(await report(member, { target_type: "comment", target_id: c.id, reason: "harassment" }), 201)
    const second = expectOk(await report(stranger, { target_type: "comment", target_id: c.id, reason: "hate" }), 201)
    expectError(await api("POST", `/admin/reports/${first.id}/resolve`, admin, { action: "hide_track" }), 422, "ACTION_NOT_APPLICABLE")
    expectError(await api("POST", `/admin/reports/${first.id}/resolve`, admin, { action: "nuke" }), 400)
    const resolved = expectOk(await api("POST", `/admin/reports/${first.id}/resolve`, admin, { action: "delete_comment", note: "abuse" }))
    expect(resolved).toMatchObject({ status: "resolved", action: "delete_comment", resolved_by: admin.user.id, resolution_note: "abuse" })
    expect(expectOk(await api("GET", `/admin/reports/${second.id}`, admin))).toMatchObject({ status: "resolved", resolved_by: admin.user.id })
    const comments = expectOk(await api("GET", `/tracks/${track.id}/comments`, member)).items.map((x: any) => x.id)
    expect(comments).not.toContain(c.id)
    expect(await auditActions({ target_id: c.id })).toEqual(["admin.delete_comment"])
    const actions = expectOk(await api("GET", `/admin/actions?target_id=${c.id}`, admin)).items
    expect(actions).toEqual([expect.objectContaining({ action: "delete_comment", target_type: "comment", report_id: first.id, moderator_id: admin.user.id, reason: "abuse" })])
  })

  it("resolving without an action only closes the report", async () => {
    const open = expectOk(await api("GET", `/admin/reports?reporter_id=${stranger.user.id}&status=open&target_type=track`, admin)).items[0]
    expect(expectOk(await api("POST", `/admin/reports/${open.id}/resolve`, admin))).toMatchObject({ status: "resolved", action: null, resolution_note: null })
    expect(expectOk(await api("GET", `/admin/reports?target_id=${track.id}&status=open`, admin)).items.map((r: any) => r.reporter_id)).toEqual([member.user.id])
  })
})

describe("moderation actions", () => {
  it("a hidden track is 404 to others and gone from lists, search and the profile count; owner and admins still see it", async () => {
    const title = unique("hideme")
    const track = await newTrack(creator, title)
    const countBefore = expectOk(await api("GET", `/users/${creator.user.id}`)).track_count
    const action = expectOk(await api("POST", `/admin/tracks/${track.id}/hide`, admin, { reason: "leaked album" }))
    expect(action).toMatchObject({ action: "hide_track", target_type: "track", target_id: track.id, moderator_id: admin.user.id, reason: "leaked album", report_id: null })
    expectError(await api("POST", `/admin/tracks/${track.id}/hide`, admin), 409, "ALREADY_HIDDEN")

    expectError(await api("GET", `/tracks/${track.id}`, member), 404)
    expectError(await api("GET", `/tracks/${track.id}`), 404)
    expectError(await api("POST", `/tracks/${track.id}/like`, member), 404)
    expectError(await report(member, { target_type: "track", target_id: track.id }), 404)
    expect(expectOk(await api("GET", `/tracks/${track.id}`, creator)).hidden_at).toEqual(expect.any(String))
    expect(expectOk(await api("GET", `/tracks/${track.id}`, admin)).hidden_at).toEqual(expect.any(String))
    expect(expectOk(await api("GET", `/tracks?user_id=${creator.user.id}&limit=100`, member)).items.map((t: any) => t.id)).not.toContain(track.id)
    expect(expectOk(await api("GET", `/tracks?user_id=${creator.user.id}&limit=100`)).items.map((t: any) => t.id)).not.toContain(track.id)
    expect(expectOk(await api("GET", `/tracks?user_id=${creator.user.id}&limit=100`, creator)).items.map((t: any) => t.id)).toContain(track.id)
    expect(expectOk(await api("GET", `/search?q=${title}`, member)).items).toEqual([])
    expect(expectOk(await api("GET", `/search?q=${title}`)).items).toEqual([])
    expect(expectOk(await api("GET", `/users/${creator.user.id}`)).track_count).toBe(countBefore - 1)
    const hls = await fetch(`${server.baseUrl}/hls/${track.id}/master.m3u8`)
    expect(hls.status).toBe(404)

    expect(expectOk(await api("POST", `/admin/tracks/${track.id}/unhide`, admin))).toMatchObject({ action: "unhide_track" })
    expectError(await api("POST", `/admin/tracks/${track.id}/unhide`, admin), 409, "NOT_HIDDEN")
    expect(expectOk(await api("GET", `/tracks/${track.id}`, member))).toMatchObject({ id: track.id, visibility: "public" })
    expect(expectOk(await api("GET", `/search?q=${title}`)).items.map((t: any) => t.id)).toEqual([track.id])
    expect(expectOk(await api("GET", `/users/${creator.user.id}`)).track_count).toBe(countBefore)
    expect(await auditActions({ target_id: track.id, target_type: "track" })).toEqual(["admin.unhide_track", "admin.hide_track"])
  })

  it("a deleted track is gone for everyone, its owner included", async () => {
    const track = await newTrack(creator, unique("deleteme"))
    expect(expectOk(await api("DELETE", `/admin/tracks/${track.id}?reason=${encodeURIComponent("malware in artwork")}`, admin))).toMatchObject({
      action: "delete_track",
      reason: "malware in artwork"
    })
    expectError(await api("GET", `/tracks/${track.id}`, creator), 404)
    expectError(await api("GET", `/tracks/${track.id}`, admin), 404)
    expectError(await api("DELETE", `/admin/tracks/${track.id}`, admin), 404)
    expectError(await api("DELETE", `/admin/tracks/${track.id}?reason=${"x".repeat(2001)}`, admin), 400)
    expect(await auditActions({ target_id: track.id })).toEqual(["admin.delete_track"])
  })

  it("deletes anyone's comment", async () => {
    const track = await newTrack(creator, unique("commented"))
    const c = await comment(member, track.id, "rude")
    expect(expectOk(await api("DELETE", `/admin/comments/${c.id}`, admin))).toMatchObject({ action: "delete_comment", target_id: c.id })
    expect(expectOk(await api("GET", `/tracks/${track.id}/comments`)).items).toEqual([])
    expectError(await api("DELETE", `/admin/comments/${c.id}`, admin), 404, "COMMENT_NOT_FOUND")
    const entry = expectOk(await api("GET", `/admin/audit/logs?target_id=${c.id}`, admin)).items[0]
    expect(entry).toMatchObject({ action: "admin.delete_comment", actor_id: admin.user.id, metadata: { track_id: track.id, author_id: member.user.id } })
  })

  it("deletes a chat message: connected clients get message_deleted and history loses it", async () => {
    const room = await createRoom(server.baseUrl, creator.access_token, { name: unique("mod"), type: "public" })
    const sender = await ChatClient.connect(server.baseUrl, member.access_token)
    const watcher = await ChatClient.connect(server.baseUrl, creator.access_token)
    clients.push(sender, watcher)
    expect((await watcher.request({ type: "join", room_id: room.id })).type).toBe("joined")
    expect((await sender.request({ type: "join", room_id: room.id })).type).toBe("joined")
    const ack = await sender.request({ type: "send", room_id: room.id, client_id: newClientId(), content: "scam link" })
    expect(ack.type).toBe("ack")
    await watcher.next((f) => f.type === "message" && f.message.id === ack.message.id)

    expect(expectOk(await api("DELETE", `/admin/chat/messages/${ack.message.id}`, admin))).toMatchObject({ action: "delete_message", target_type: "message" })
    expect(await watcher.next((f) => f.type === "message_deleted")).toMatchObject({ room_id: room.id, message_id: ack.message.id, deleted_by: admin.user.id })
    expect(await sender.next((f) => f.type === "message_deleted")).toMatchObject({ message_id: ack.message.id })
    expect(expectOk(await api("GET", `/chat/rooms/${room.id}/messages`, creator)).items.map((m: any) => m.id)).not.toContain(ack.message.id)
    expectError(await api("DELETE", `/admin/chat/messages/${ack.message.id}`, admin), 404, "MESSAGE_NOT_FOUND")
    expect((await api("GET", `/admin/audit/logs?target_id=${ack.message.id}`, admin)).body.items[0]).toMatchObject({
      action: "admin.delete_message",
      metadata: { room_id: room.id, sender_id: member.user.id }
    })
  })

  it("a ban ends the user's sessions at once; unbanning lets them sign in again", async () => {
    const target = await registerUser(server.baseUrl)
    const chatToken = expectOk(await api("POST", "/chat/token", target)).token
    const connected = await ChatClient.connect(server.baseUrl, target.access_token)
    clients.push(connected)
    expect(expectOk(await api("POST", `/admin/users/${target.user.id}/ban`, admin, { reason: "spam bot" }))).toMatchObject({ action: "ban_user", target_type: "user", target_id: target.user.id })
    // A chat connection opened before the ban is closed by it.
    expect((await connected.closed).code).toBe(4003)
    expectError(await api("GET", "/auth/me", target), 401, "INVALID_TOKEN")
    expectError(await api("POST", "/auth/refresh", undefined, { refresh_token: target.refresh_token }), 401)
    expectError(await api("POST", "/auth/login", undefined, { email: target.email, password: target.password }), 403, "ACCOUNT_DISABLED")
    const ws = ChatClient.open(server.baseUrl, { query: `token=${chatToken}` })
    clients.push(ws)
    expect((await ws.closed).code).not.toBe(1000)
    expectError(await api("POST", `/admin/users/${target.user.id}/ban`, admin), 409, "ALREADY_BANNED")
    expectError(await api("POST", `/admin/users/${admin.user.id}/ban`, admin), 422, "CANNOT_BAN_SELF")

    expect(expectOk(await api("POST", `/admin/users/${target.user.id}/unban`, admin))).toMatchObject({ action: "unban_user" })
    expectError(await api("POST", `/admin/users/${target.user.id}/unban`, admin), 409, "NOT_BANNED")
    // The old session stays ended; a new login works.
    expectError(await api("GET", "/auth/me", target), 401)
    const again = expectOk(await api("POST", "/auth/login", undefined, { email: target.email, password: target.password }))
    expect(expectOk(await api("GET", "/auth/me", again.access_token)).id).toBe(target.user.id)
    expect(await auditActions({ target_id: target.user.id, actor_id: admin.user.id })).toEqual(["admin.unban_user", "admin.ban_user"])
    const entry = expectOk(await api("GET", `/admin/audit/logs?action=admin.ban_user&target_id=${target.user.id}`, admin)).items[0]
    expect(entry.metadata).toMatchObject({ reason: "spam bot", moderation_action_id: expect.any(String) })
  })

  it("a ban hides the account's tracks from everyone but admins; lifting it shows again those the ban hid", async () => {
    const spammer = await registerUser(server.baseUrl, { account_type: "creator" })
    const word = unique("banned")
    const [first, second] = [await newTrack(spammer, `${word} one`), await newTrack(spammer, `${word} two`)]
    const fan = await registerUser(server.baseUrl)
    const product = expectOk(
      await api("POST", "/marketplace/products", spammer, { title: `${word} beat`, type: "beat", track_id: second.id, licenses: [{ type: "basic", price_cents: 500, currency: "EUR" }] }),
      201
    )
    const order = (who: User) =>
      http(server.baseUrl, "POST", "/api/v1/marketplace/orders", {
        token: who.access_token,
        headers: { "idempotency-key": unique("ban") },
        body: { items: [{ product_id: product.id, license_id: product.licenses[0].id }] }
      })
    const buyer = await registerUser(server.baseUrl)
    expect(expectOk(await order(buyer), 201).status).toBe("paid")
    const visibleTo = async (who?: User) => {
      const listed = expectOk(await api("GET", `/tracks?user_id=${spammer.user.id}`, who)).items.map((t: any) => t.id)
      const found = expectOk(await api("GET", `/search?type=tracks&q=${word}`, who)).items.map((t: any) => t.id)
      const got = await Promise.all([first, second].map(async (t) => (await api("GET", `/tracks/${t.id}`, who)).status))
      return { listed: listed.sort(), found: found.sort(), got }
    }
    const all = [first.id, second.id].sort()
    expect(await visibleTo(fan)).toEqual({ listed: all, found: all, got: [200, 200] })
    // A moderator hides one track before the ban: the ban does not take it over.
    expectOk(await api("POST", `/admin/tracks/${first.id}/hide`, admin, { reason: "claim" }))
    expectOk(await api("POST", `/admin/users/${spammer.user.id}/ban`, admin, { reason: "spam" }))
    for (const who of [fan, undefined]) expect(await visibleTo(who)).toEqual({ listed: [], found: [], got: [404, 404] })
    expect(expectOk(await api("GET", `/users/${spammer.user.id}`)).track_count).toBe(0)
    expect((await visibleTo(admin)).got).toEqual([200, 200])
    // Nothing of theirs is shown or sold in the marketplace meanwhile; what was bought stays the buyer's.
    expect(expectOk(await api("GET", `/marketplace/products?seller_id=${spammer.user.id}`, fan)).items).toEqual([])
    expectError(await api("GET", `/marketplace/products/${product.id}`, fan), 404, "PRODUCT_NOT_FOUND")
    expectError(await api("POST", "/marketplace/cart/items", fan, { product_id: product.id, license_id: product.licenses[0].id }), 404, "PRODUCT_NOT_FOUND")
    expectError(await order(fan), 409, "NOT_ON_SALE")
    const bought = expectOk(await api("GET", `/marketplace/download/${product.id}`, buyer))
    expect(bought.files.map((f: any) => f.id)).toEqual(["track"])
    expect((await fetch(server.baseUrl + bought.url)).status).toBe(200)
    // A moderator's unhide while the ban lasts leaves the track to the ban: hidden until it is lifted.
    expectOk(await api("POST", `/admin/tracks/${second.id}/unhide`, admin))
    expect((await api("GET", `/tracks/${second.id}`, fan)).status).toBe(404)
    expectOk(await api("POST", `/admin/users/${spammer.user.id}/unban`, admin))
    expect(expectOk(await api("GET", `/marketplace/products?seller_id=${spammer.user.id}`, fan)).items.map((p: any) => p.id)).toEqual([product.id])
    expect(await visibleTo(fan)).toEqual({ listed: [second.id], found: [second.id], got: [404, 200] })
    expect(expectOk(await api("GET", `/users/${spammer.user.id}`)).track_count).toBe(1)
  }, 60_000)

  it("a reported user is banned by resolving the report", async () => {
    const target = await registerUser(server.baseUrl)
    const r = expectOk(await report(member, { target_type: "user", target_id: target.user.id, reason: "harassment" }), 201)
    const connected = await ChatClient.connect(server.baseUrl, target.access_token)
    clients.push(connected)
    expect(expectOk(await api("POST", `/admin/reports/${r.id}/resolve`, admin, { action: "ban_user" }))).toMatchObject({ status: "resolved", action: "ban_user" })
    expectError(await api("GET", "/auth/me", target), 401)
    expect((await connected.closed).code).toBe(4003)
  })

  it("every action is listed, newest first, with filters", async () => {
    const all = expectOk(await api("GET", "/admin/actions?limit=100", admin)).items as Array<any>
    expect(new Set(all.map((a) => a.action))).toEqual(new Set(["hide_track", "unhide_track", "delete_track", "delete_comment", "delete_message", "ban_user", "unban_user"]))
    const bans = expectOk(await api("GET", `/admin/actions?action=ban_user&moderator_id=${admin.user.id}`, admin)).items
    expect(bans.length).toBe(all.filter((a) => a.action === "ban_user").length)
    expect(bans.length).toBeGreaterThanOrEqual(2)
    const paged = expectOk(await api("GET", "/admin/actions?limit=1", admin))
    expect(paged.items).toEqual([all[0]])
    const next = expectOk(await api("GET", `/admin/actions?limit=1&cursor=${encodeURIComponent(paged.next_cursor)}`, admin))
    expect(next.items).toEqual([all[1]])
    expectError(await api("GET", "/admin/actions?action=explode", admin), 400)
    // Every recorded action has its audit entry.
    const audited = await auditActions({ actor_id: admin.user.id })
    for (const a of all) expect(audited).toContain(`admin.${a.action}`)
  })
})

describe("admin changes through the owners' endpoints", () => {
  it("are audited with who, what and which fields; owners' own changes are not admin actions", async () => {
    const track = await newTrack(creator, unique("owned"))
    const remark = await comment(member, track.id, "off topic")
    const playlist = expectOk(await api("POST", "/playlists", creator, { title: "Creator's mix" }), 201)
    const product = expectOk(
      await api("POST", "/marketplace/products", creator, { title: unique("Beat"), type: "beat", licenses: [{ type: "basic", price_cents: 999, currency: "EUR" }] }),
      201
    )
    // The owner's own edits: not admin actions.
    expectOk(await api("PATCH", `/tracks/${track.id}`, creator, { genre: "House" }))
    const mine = expectOk(await api("POST", "/playlists", admin, { title: "Admin's own" }), 201)
    expectOk(await api("PATCH", `/playlists/${mine.id}`, admin, { title: "Admin's own, renamed" }))
    expect(await auditActions({ target_id: track.id })).toEqual([])
    expect(await auditActions({ target_id: mine.id })).toEqual([])

    expectOk(await api("PATCH", `/tracks/${track.id}`, admin, { title: "Renamed by an admin", tags: ["x"] }))
    expect(expectOk(await api("DELETE", `/tracks/${track.id}/comments/${remark.id}`, admin), 204)).toBeFalsy()
    expectOk(await api("PATCH", `/playlists/${playlist.id}`, admin, { description: "edited" }))
    expectOk(await api("PATCH", `/marketplace/products/${product.id}`, admin, { title: "Renamed beat" }))
    for (const path of [`/playlists/${playlist.id}`, `/marketplace/products/${product.id}`, `/tracks/${track.id}`]) {
      expect((await api("DELETE", path, admin)).status, path).toBeLessThan(300)
    }
    expect(await auditActions({ target_id: track.id, actor_id: admin.user.id })).toEqual(["admin.track_deleted", "admin.track_updated"])
    expect(await auditActions({ target_id: remark.id })).toEqual(["admin.comment_deleted"])
    expect(await auditActions({ target_id: playlist.id })).toEqual(["admin.playlist_deleted", "admin.playlist_updated"])
    expect(await auditActions({ target_id: product.id })).toEqual(["admin.product_deleted", "admin.product_updated"])
    const edit = expectOk(await api("GET", `/admin/audit/logs?action=admin.track_updated&target_id=${track.id}`, admin)).items[0]
    expect(edit).toMatchObject({ actor_id: admin.user.id, target_type: "track", metadata: { fields: ["title", "tags"] } })
    // A delete of what is already gone changes nothing and records nothing.
    expectError(await api("DELETE", `/tracks/${track.id}`, admin), 404)
    expect(await auditActions({ target_id: track.id })).toHaveLength(2)
  })
})
