import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type JsonResponse, type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-library-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

const DEDUP_WINDOW_SECONDS = 2

const db = await freshDatabase("track_library")
const dataDir = tempDataDir()
let server: RunningServer
let song: string

type User = Awaited<ReturnType<typeof registerUser>>
let owner: User
let stranger: User
let listener: User
let admin: User

const api = <T = any>(method: string, path: string, who?: User, body?: unknown, headers?: Record<string, string>) =>
  http<T>(server.baseUrl, method, `/api/v1${path}`, {
    ...(who === undefined ? {} : { token: who.access_token }),
    ...(body === undefined ? {} : { body }),
    ...(headers === undefined ? {} : { headers })
  })

/** The SPEC §4 error envelope, with this status and code, and nothing else. */
const expectError = (res: JsonResponse, status: number, code?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(Object.keys(res.body)).toEqual(["error"])
  expect(res.body.error).toMatchObject({ code: code ?? expect.any(String), message: expect.any(String) })
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(js|ts):\d+/)
}

const expectOk = <T = any>(res: JsonResponse<T>, status = 200) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  return res.body
}

/** Uploads the test song and waits until it is ready. */
const newTrack = async (who: User, fields: Record<string, string> = {}) => {
  const res = await uploadTrack(server.baseUrl, who.access_token, { path: song, type: "audio/mpeg" }, fields)
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return waitForTrack(server.baseUrl, who.access_token, res.body.id)
}

const profileTrackCount = async (who: User) => expectOk(await api("GET", `/users/${who.user.id}`)).track_count as number

/** Every page of a list, following next_cursor. */
const allPages = async (path: string, who?: User) => {
  const items: Array<any> = []
  let cursor: string | null = null
  for (let guard = 0; guard < 100; guard++) {
    const sep = path.includes("?") ? "&" : "?"
    const body: any = expectOk(await api("GET", cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`, who))
    items.push(...body.items)
    cursor = body.next_cursor
    if (cursor === null) return items
  }
  throw new Error("pagination did not end")
}

beforeAll(async () => {
  server = await startServer({
    DATABASE_URL: db,
    DATA_DIR: dataDir,
    HLS_SEGMENT_SECONDS: "2",
    HLS_LADDER_KBPS: "64",
    TRANSCODE_CONCURRENCY: "2",
    JOB_POLL_INTERVAL_MS: "200",
    PLAY_DEDUP_WINDOW_SECONDS: String(DEDUP_WINDOW_SECONDS),
    TRACK_PURGE_INTERVAL_MS: "200"
  })
  song = await generateAudio(work, { seconds: 3, format: "mp3", name: "song.mp3" })
  ;[owner, stranger, listener, admin] = await Promise.all([
    registerUser(server.baseUrl, { account_type: "creator" }),
    registerUser(server.baseUrl, { account_type: "creator" }),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl)
  ])
  await query(db, "update users set role = 'admin' where id = $1", [admin.user.id])
}, 60_000)

describe("list", () => {
  let pub: any
  let priv: any
  let unlisted: any
  let strangers: any
  beforeAll(async () => {
    ;[pub, priv, unlisted, strangers] = await Promise.all([
      newTrack(owner, { title: "Morning Dew" }),
      newTrack(owner, { title: "Secret sketch", visibility: "private" }),
      newTrack(owner, { title: "Unlisted demo", visibility: "unlisted" }),
      newTrack(stranger, { title: "Other song" })
    ])
  }, 60_000)

  it("shows public tracks to everyone, and private and unlisted ones only to their owner and admins", async () => {
    const ids = (items: Array<any>) => items.map((t) => t.id)
    const anonymous = ids(await allPages(`/tracks?user_id=${owner.user.id}`))
    expect(anonymous).toContain(pub.id)
    expect(anonymous).not.toContain(priv.id)
    expect(anonymous).not.toContain(unlisted.id)
    const other = ids(await allPages(`/tracks?user_id=${owner.user.id}`, stranger))
    expect(other).toEqual(anonymous)
    expect(ids(await allPages(`/tracks?user_id=${owner.user.id}&visibility=private`, stranger))).toEqual([])
    expect(ids(await allPages("/tracks?visibility=private", listener))).toEqual([])

    const own = ids(await allPages(`/tracks?user_id=${owner.user.id}`, owner))
    expect(own).toEqual(expect.arrayContaining([pub.id, priv.id, unlisted.id]))
    expect(ids(await allPages("/tracks?visibility=private", owner))).toEqual([priv.id])
    expect(ids(await allPages("/tracks?visibility=private", admin))).toEqual(expect.arrayContaining([priv.id]))
    // Everyone's public tracks, newest first.
    const everything = await allPages("/tracks", listener)
    expect(ids(everything)).toEqual(expect.arrayContaining([pub.id, strangers.id]))
    const times = everything.map((t) => Date.parse(t.created_at))
    expect([...times].sort((a, b) => b - a)).toEqual(times)
  })

  it("pages with a cursor through every track once", async () => {
    const one = await allPages(`/tracks?user_id=${owner.user.id}&limit=1`, owner)
    const all = await allPages(`/tracks?user_id=${owner.user.id}&limit=100`, owner)
    expect(one.map((t) => t.id)).toEqual(all.map((t) => t.id))
    expect(new Set(one.map((t) => t.id)).size).toBe(one.length)
    const first = expectOk(await api("GET", `/tracks?user_id=${owner.user.id}&limit=1`, owner))
    expect(first.items).toHaveLength(1)
    expect(first.next_cursor).toEqual(expect.any(String))
  })

  it("filters by genre, tags (any of), title prefix and creation time", async () => {
    expectOk(await api("PATCH", `/tracks/${pub.id}`, owner, { genre: "Ambient", tags: ["Chill", "Morning"] }))
    expectOk(await api("PATCH", `/tracks/${strangers.id}`, stranger, { genre: "techno", tags: ["dark"] }))
    const ids = async (q: string) => (await allPages(`/tracks?${q}`, listener)).map((t) => t.id)
    expect(await ids("genre=ambient")).toEqual([pub.id])
    expect(await ids("genre=AMBIENT")).toEqual([pub.id])
    expect(await ids("tags=chill")).toEqual([pub.id])
    expect((await ids("tags=dark,morning")).sort()).toEqual([pub.id, strangers.id].sort())
    expect(await ids("tags=nothing")).toEqual([])
    expect(await ids("q=morn")).toEqual([pub.id])
    expect(await ids("q=%25")).toEqual([])
    const created = Date.parse(pub.created_at)
    expect(await ids(`created_after=${new Date(created + 60_000).toISOString()}`)).toEqual([])
    expect(await ids(`created_before=${new Date(created - 60_000).toISOString()}`)).toEqual([])
    expect(await ids(`genre=ambient&created_after=${new Date(created - 60_000).toISOString()}&created_before=${new Date(created + 60_000).toISOString()}`)).toEqual([pub.id])
  })

  it("lists by tags what each viewer may see, each track once, newest first, as tracks are edited", async () => {
    const [a, b, mine] = await Promise.all([
      newTrack(owner, { title: "Tag walk one" }),
      newTrack(owner, { title: "Tag walk two" }),
      newTrack(owner, { title: "Tag walk three", visibility: "private" })
    ])
    expectOk(await api("PATCH", `/tracks/${a.id}`, owner, { tags: ["walk-x", "walk-y"] }))
    expectOk(await api("PATCH", `/tracks/${b.id}`, owner, { tags: ["walk-y"] }))
    expectOk(await api("PATCH", `/tracks/${mine.id}`, owner, { tags: ["walk-x"] }))
    const list = (q: string, who?: User) => allPages(`/tracks?${q}`, who)
    const ids = async (q: string, who?: User) => (await list(q, who)).map((t) => t.id)

    const both = await list("tags=walk-x,walk-y")
    expect(both.map((t) => t.id).sort()).toEqual([a.id, b.id].sort())
    const times = both.map((t) => Date.parse(t.created_at))
    expect([...times].sort((x, y) => y - x)).toEqual(times)
    expect(await ids("tags=walk-x,walk-y&limit=1", listener)).toEqual(both.map((t) => t.id))
    // The owner's private track is theirs alone to list (and admins').
    expect(await ids("tags=walk-x", stranger)).toEqual([a.id])
    expect((await ids("tags=walk-x", owner)).sort()).toEqual([a.id, mine.id].sort())
    expect((await ids("tags=walk-x,walk-y&limit=1", owner)).sort()).toEqual([a.id, b.id, mine.id].sort())
    expect((await ids("tags=walk-x", admin)).sort()).toEqual([a.id, mine.id].sort())
    expect(await ids(`tags=walk-y&created_after=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([])

    // Edits move tracks in and out of their tags' lists.
    expectOk(await api("PATCH", `/tracks/${a.id}`, owner, { tags: ["walk-z"] }))
    expect(await ids("tags=walk-x")).toEqual([])
    expect(await ids("tags=walk-z")).toEqual([a.id])
    expectOk(await api("PATCH", `/tracks/${b.id}`, owner, { visibility: "private" }))
    expect(await ids("tags=walk-y")).toEqual([])
    expect(await ids("tags=walk-y", owner)).toEqual([b.id])
    expectOk(await api("PATCH", `/tracks/${b.id}`, owner, { visibility: "public" }))
    expect(await ids("tags=walk-y")).toEqual([b.id])
    expect((await api("DELETE", `/tracks/${a.id}`, owner)).status).toBe(204)
    expect(await ids("tags=walk-z")).toEqual([])
    expect(await ids("tags=walk-z", owner)).toEqual([])
  })

  it("rejects bad parameters with 400", async () => {
    expectError(await api("GET", "/tracks?cursor=nonsense"), 400, "INVALID_CURSOR")
    const forged = Buffer.from(JSON.stringify(["99999-01-01T00:00:00.000000Z", pub.id])).toString("base64url")
    expectError(await api("GET", `/tracks?cursor=${forged}`), 400, "INVALID_CURSOR")
    expectError(await api("GET", "/tracks?limit=0"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks?limit=abc"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks?user_id=not-a-uuid"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks?visibility=secret"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks?created_after=yesterday"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks?tags=a,,b"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks?q=%00"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks?genre=%00"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", `/tracks?q=${"x".repeat(256)}`), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks", undefined, undefined, { authorization: "Bearer nope" }), 401)
  })
})

describe("metadata", () => {
  it("the owner updates metadata with PATCH or PUT; null clears a field; tags are normalised", async () => {
    const track = await newTrack(owner)
    const patched = expectOk(
      await api("PATCH", `/tracks/${track.id}`, owner, {
        title: "  Renamed  ",
        description: "liner notes",
        artist: "The Owner",
        album: "First",
        genre: "House",
        tags: [" Deep ", "deep", "Vocal"],
        is_downloadable: true
      })
    )
    expect(patched).toMatchObject({
      id: track.id,
      title: "Renamed",
      description: "liner notes",
      artist: "The Owner",
      album: "First",
      genre: "House",
      tags: ["deep", "vocal"],
      is_downloadable: true,
      visibility: "public"
    })
    expect(Date.parse(patched.updated_at)).toBeGreaterThan(Date.parse(track.updated_at))
    const put = expectOk(await api("PUT", `/tracks/${track.id}`, owner, { album: null, description: "  ", visibility: "unlisted" }))
    expect(put).toMatchObject({ title: "Renamed", album: null, description: null, visibility: "unlisted", artist: "The Owner" })
    expect(expectOk(await api("GET", `/tracks/${track.id}`))).toMatchObject({ album: null, visibility: "unlisted" })
    // Admins may edit anyone's track.
    expect(expectOk(await api("PATCH", `/tracks/${track.id}`, admin, { title: "Moderated" })).title).toBe("Moderated")
  }, 60_000)

  it("refuses others: 403 on a track they can see, 404 on a private one, 401 without a token", async () => {
    const [pub, priv] = await Promise.all([newTrack(owner), newTrack(owner, { visibility: "private" })])
    for (const method of ["PATCH", "PUT"]) {
      expectError(await api(method, `/tracks/${pub.id}`, stranger, { title: "mine now" }), 403, "FORBIDDEN")
      expectError(await api(method, `/tracks/${priv.id}`, stranger, { title: "mine now" }), 404, "NOT_FOUND")
      expectError(await api(method, `/tracks/${pub.id}`, undefined, { title: "mine now" }), 401)
    }
    expect(expectOk(await api("GET", `/tracks/${pub.id}`)).title).toBe(pub.title)
    expectError(await api("GET", `/tracks/${priv.id}`, stranger), 404, "NOT_FOUND")
  }, 60_000)

  it("rejects bad metadata with 400", async () => {
    const track = await newTrack(owner)
    const bad = [
      { title: "   " },
      { title: "x".repeat(256) },
      { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) },
      { tags: ["a,b"] },
      { tags: [""] },
      { visibility: "secret" },
      { is_downloadable: "yes" },
      { genre: "g".repeat(101) },
      { description: "nul\u0000" }
    ]
    for (const body of bad) expectError(await api("PATCH", `/tracks/${track.id}`, owner, body), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", `/tracks/${track.id}`, owner, undefined, { "content-type": "application/json" }), 400)
    const broken = await http(server.baseUrl, "PATCH", `/api/v1/tracks/${track.id}`, { token: owner.access_token, raw: "{", headers: { "content-type": "application/json" } })
    expectError(broken, 400)
    expectError(await api("PATCH", "/tracks/not-a-uuid", owner, { title: "x" }), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", "/tracks/00000000-0000-4000-8000-000000000000", owner, { title: "x" }), 404, "NOT_FOUND")
  }, 60_000)

  it("keeps private tracks out of the creator's public track_count", async () => {
    const before = await profileTrackCount(stranger)
    const track = await newTrack(stranger, { visibility: "private" })
    expect(await profileTrackCount(stranger)).toBe(before)
    expectOk(await api("PATCH", `/tracks/${track.id}`, stranger, { visibility: "public" }))
    expect(await profileTrackCount(stranger)).toBe(before + 1)
    expectOk(await api("PATCH", `/tracks/${track.id}`, stranger, { visibility: "private" }))
    expect(await profileTrackCount(stranger)).toBe(before)
  }, 60_000)
})

describe("likes", () => {
  it("like and unlike are idempotent and the track shows like_count and liked_by_me", async () => {
    const track = await newTrack(owner)
    expect(expectOk(await api("POST", `/tracks/${track.id}/like`, listener))).toEqual({ track_id: track.id, liked: true, like_count: 1 })
    expect(expectOk(await api("POST", `/tracks/${track.id}/like`, listener))).toEqual({ track_id: track.id, liked: true, like_count: 1 })
    expect(expectOk(await api("GET", `/tracks/${track.id}`, listener))).toMatchObject({ like_count: 1, liked_by_me: true })
    expect(expectOk(await api("GET", `/tracks/${track.id}`, stranger))).toMatchObject({ like_count: 1, liked_by_me: false })
    expect(expectOk(await api("DELETE", `/tracks/${track.id}/like`, listener))).toEqual({ track_id: track.id, liked: false, like_count: 0 })
    expect(expectOk(await api("DELETE", `/tracks/${track.id}/like`, listener))).toEqual({ track_id: track.id, liked: false, like_count: 0 })
    expectError(await api("POST", `/tracks/${track.id}/like`), 401)
    expectError(await api("POST", "/tracks/00000000-0000-4000-8000-000000000000/like", listener), 404, "NOT_FOUND")
  }, 60_000)

  it("a private track cannot be liked by others (404)", async () => {
    const track = await newTrack(owner, { visibility: "private" })
    expectError(await api("POST", `/tracks/${track.id}/like`, stranger), 404, "NOT_FOUND")
    expectError(await api("DELETE", `/tracks/${track.id}/like`, stranger), 404, "NOT_FOUND")
    expect(expectOk(await api("POST", `/tracks/${track.id}/like`, owner)).like_count).toBe(1)
  }, 60_000)

  it("concurrent likes and unlikes keep the count exact", async () => {
    const track = await newTrack(owner)
    const fans = await Promise.all(Array.from({ length: 12 }, () => registerUser(server.baseUrl)))
    // Each fan likes three times and unlikes once, all at once: whatever the order, the count matches the rows.
    const mixed = await Promise.all(
      fans.flatMap((fan) => ["POST", "POST", "DELETE", "POST"].map((method) => api(method, `/tracks/${track.id}/like`, fan)))
    )
    expect(mixed.every((r) => r.status === 200)).toBe(true)
    const [{ n }] = await query<{ n: number }>(db, "select count(*)::int as n from track_likes where track_id = $1", [track.id])
    const shown = expectOk(await api("GET", `/tracks/${track.id}`)).like_count
    expect(shown).toBe(n)
    // Then every fan likes at once: exactly one like each.
    await Promise.all(fans.map((fan) => api("POST", `/tracks/${track.id}/like`, fan)))
    expect(expectOk(await api("GET", `/tracks/${track.id}`)).like_count).toBe(fans.length)
    await Promise.all(fans.flatMap((fan) => [api("DELETE", `/tracks/${track.id}/like`, fan), api("DELETE", `/tracks/${track.id}/like`, fan)]))
    expect(expectOk(await api("GET", `/tracks/${track.id}`)).like_count).toBe(0)
  }, 60_000)
})

describe("comments", () => {
  let track: any
  beforeAll(async () => {
    track = await newTrack(owner)
  }, 60_000)

  it("posts timestamped comments within the track and one-level replies; comment_count follows", async () => {
    const top = expectOk(await api("POST", `/tracks/${track.id}/comments`, listener, { content: "love this drop", position_ms: 1500 }), 201)
    expect(top).toMatchObject({ track_id: track.id, user_id: listener.user.id, username: listener.user.username, position_ms: 1500, parent_id: null, content: "love this drop", edited_at: null })
    const general = expectOk(await api("POST", `/tracks/${track.id}/comments`, stranger, { content: "nice" }), 201)
    expect(general.position_ms).toBeNull()
    const reply = expectOk(await api("POST", `/tracks/${track.id}/comments`, owner, { content: "thanks!", parent_id: top.id }), 201)
    expect(reply.parent_id).toBe(top.id)
    expect(expectOk(await api("GET", `/tracks/${track.id}`)).comment_count).toBe(3)

    expectError(await api("POST", `/tracks/${track.id}/comments`, listener, { content: "deeper", parent_id: reply.id }), 422, "THREAD_TOO_DEEP")
    expectError(await api("POST", `/tracks/${track.id}/comments`, listener, { content: "late", position_ms: track.duration_ms + 1 }), 422, "POSITION_OUT_OF_RANGE")
    expect(expectOk(await api("POST", `/tracks/${track.id}/comments`, listener, { content: "the end", position_ms: track.duration_ms }), 201).position_ms).toBe(track.duration_ms)
    const other = await newTrack(stranger)
    expectError(await api("POST", `/tracks/${other.id}/comments`, listener, { content: "x", parent_id: top.id }), 422, "INVALID_PARENT")
    expectError(await api("POST", `/tracks/${track.id}/comments`, listener, { content: "x", parent_id: "00000000-0000-4000-8000-000000000000" }), 422, "INVALID_PARENT")
    for (const body of [{ content: "" }, { content: "   " }, { content: "x".repeat(2001) }, { content: "ok", position_ms: -1 }, { content: "ok", position_ms: 1.5 }, {}, { content: "ok", parent_id: "nope" }]) {
      expectError(await api("POST", `/tracks/${track.id}/comments`, listener, body), 400, "VALIDATION_ERROR")
    }
    expectError(await api("POST", `/tracks/${track.id}/comments`, undefined, { content: "anon" }), 401)
  }, 60_000)

  it("lists comments oldest first, paginated, to anyone who sees the track", async () => {
    const fresh = await newTrack(owner)
    for (let i = 0; i < 5; i++) expectOk(await api("POST", `/tracks/${fresh.id}/comments`, listener, { content: `c${i}` }), 201)
    const paged = await allPages(`/tracks/${fresh.id}/comments?limit=2`)
    expect(paged.map((c) => c.content)).toEqual(["c0", "c1", "c2", "c3", "c4"])
    expectError(await api("GET", `/tracks/${fresh.id}/comments?cursor=zzz`), 400, "INVALID_CURSOR")
    expectError(await api("GET", `/tracks/${fresh.id}/comments?limit=101`), 400, "VALIDATION_ERROR")
  }, 60_000)

  it("the author edits; the author, the track's owner or an admin deletes; others get 403", async () => {
    const mine = expectOk(await api("POST", `/tracks/${track.id}/comments`, listener, { content: "first take" }), 201)
    const reply = expectOk(await api("POST", `/tracks/${track.id}/comments`, stranger, { content: "agreed", parent_id: mine.id }), 201)
    const edited = expectOk(await api("PATCH", `/tracks/${track.id}/comments/${mine.id}`, listener, { content: "second take" }))
    expect(edited).toMatchObject({ id: mine.id, content: "second take", edited_at: expect.any(String) })
    expectError(await api("PATCH", `/tracks/${track.id}/comments/${mine.id}`, stranger, { content: "hijack" }), 403, "FORBIDDEN")
    expectError(await api("PATCH", `/tracks/${track.id}/comments/${mine.id}`, owner, { content: "hijack" }), 403, "FORBIDDEN")
    expectError(await api("PATCH", `/tracks/${track.id}/comments/${mine.id}`, listener, { content: "" }), 400, "VALIDATION_ERROR")
    expectError(await api("DELETE", `/tracks/${track.id}/comments/${mine.id}`, stranger), 403, "FORBIDDEN")
    const other = await newTrack(stranger)
    expectError(await api("PATCH", `/tracks/${other.id}/comments/${mine.id}`, listener, { content: "wrong track" }), 404, "COMMENT_NOT_FOUND")

    const before = expectOk(await api("GET", `/tracks/${track.id}`)).comment_count
    // Deleting a top-level comment takes its replies along.
    expect((await api("DELETE", `/tracks/${track.id}/comments/${mine.id}`, owner)).status).toBe(204)
    expect(expectOk(await api("GET", `/tracks/${track.id}`)).comment_count).toBe(before - 2)
    expectError(await api("DELETE", `/tracks/${track.id}/comments/${mine.id}`, listener), 404, "COMMENT_NOT_FOUND")
    expectError(await api("PATCH", `/tracks/${track.id}/comments/${reply.id}`, stranger, { content: "gone?" }), 404, "COMMENT_NOT_FOUND")
    const own = expectOk(await api("POST", `/tracks/${track.id}/comments`, stranger, { content: "mine" }), 201)
    expect((await api("DELETE", `/tracks/${track.id}/comments/${own.id}`, stranger)).status).toBe(204)
    const byAdmin = expectOk(await api("POST", `/tracks/${track.id}/comments`, stranger, { content: "spam" }), 201)
    expect((await api("DELETE", `/tracks/${track.id}/comments/${byAdmin.id}`, admin)).status).toBe(204)
    const listed = await allPages(`/tracks/${track.id}/comments`)
    expect(listed.map((c) => c.id)).not.toContain(mine.id)
    expect(listed.map((c) => c.id)).not.toContain(reply.id)
  }, 60_000)

  it("a private track's comments do not exist for others", async () => {
    const priv = await newTrack(owner, { visibility: "private" })
    const c = expectOk(await api("POST", `/tracks/${priv.id}/comments`, owner, { content: "note to self" }), 201)
    expectError(await api("GET", `/tracks/${priv.id}/comments`), 404, "NOT_FOUND")
    expectError(await api("GET", `/tracks/${priv.id}/comments`, stranger), 404, "NOT_FOUND")
    expectError(await api("POST", `/tracks/${priv.id}/comments`, stranger, { content: "hi" }), 404, "NOT_FOUND")
    expectError(await api("PATCH", `/tracks/${priv.id}/comments/${c.id}`, stranger, { content: "x" }), 404, "NOT_FOUND")
    expectError(await api("DELETE", `/tracks/${priv.id}/comments/${c.id}`, stranger), 404, "NOT_FOUND")
    expect(expectOk(await api("GET", `/tracks/${priv.id}/comments`, admin)).items).toHaveLength(1)
  }, 60_000)
})

describe("plays, stats and history", () => {
  it("counts a listener's play once per window, anonymous listeners by address; stats and history follow", async () => {
    const track = await newTrack(owner)
    expect(expectOk(await api("POST", `/tracks/${track.id}/plays`, listener, { played_ms: 2000, source: "profile" }))).toEqual({ counted: true, play_count: 1 })
    // The body may be left out.
    expect(expectOk(await api("POST", `/tracks/${track.id}/plays`, listener))).toEqual({ counted: false, play_count: 1 })
    expect(expectOk(await api("POST", `/tracks/${track.id}/plays`, undefined, {}))).toEqual({ counted: true, play_count: 2 })
    expect(expectOk(await api("POST", `/tracks/${track.id}/plays`, undefined, {}))).toEqual({ counted: false, play_count: 2 })
    // Concurrent plays of one listener count once.
    const burst = await Promise.all(Array.from({ length: 8 }, () => api("POST", `/tracks/${track.id}/plays`, stranger, {})))
    expect(burst.filter((r) => r.body.counted)).toHaveLength(1)
    expect(expectOk(await api("GET", `/tracks/${track.id}/stats`))).toEqual({ track_id: track.id, play_count: 3, unique_listeners: 3, like_count: 0, comment_count: 0 })

    await new Promise((r) => setTimeout(r, DEDUP_WINDOW_SECONDS * 1000 + 200))
    expect(expectOk(await api("POST", `/tracks/${track.id}/plays`, listener, {})).counted).toBe(true)
    expect(expectOk(await api("GET", `/tracks/${track.id}/stats`, listener))).toMatchObject({ play_count: 4, unique_listeners: 3 })
    expect(expectOk(await api("GET", `/tracks/${track.id}`)).play_count).toBe(4)

    const history = await allPages("/me/history?limit=1", listener)
    expect(history).toHaveLength(2)
    expect(history.map((h) => h.track.id)).toEqual([track.id, track.id])
    expect(history[1]).toMatchObject({ played_ms: 2000, source: "profile" })
    expect(Date.parse(history[0].played_at)).toBeGreaterThan(Date.parse(history[1].played_at))
    expectError(await api("GET", "/me/history"), 401)
    expectError(await api("GET", "/me/history?cursor=bad", listener), 400, "INVALID_CURSOR")
    for (const body of [{ played_ms: -5 }, { played_ms: "long" }, { source: "s".repeat(51) }]) {
      expectError(await api("POST", `/tracks/${track.id}/plays`, listener, body), 400, "VALIDATION_ERROR")
    }
  }, 60_000)

  it("a private track's plays and stats are 404 for others, and it leaves their history when it turns private", async () => {
    const track = await newTrack(owner)
    expectOk(await api("POST", `/tracks/${track.id}/plays`, stranger, {}))
    expect((await allPages("/me/history", stranger)).map((h) => h.track.id)).toContain(track.id)
    expectOk(await api("PATCH", `/tracks/${track.id}`, owner, { visibility: "private" }))
    expectError(await api("POST", `/tracks/${track.id}/plays`, stranger, {}), 404, "NOT_FOUND")
    expectError(await api("POST", `/tracks/${track.id}/plays`, undefined, {}), 404, "NOT_FOUND")
    expectError(await api("GET", `/tracks/${track.id}/stats`, stranger), 404, "NOT_FOUND")
    expect((await allPages("/me/history", stranger)).map((h) => h.track.id)).not.toContain(track.id)
    expect(expectOk(await api("GET", `/tracks/${track.id}/stats`, owner)).play_count).toBe(1)
  }, 60_000)
})

describe("share links", () => {
  it("the owner shares a private track; the link opens it and its stream until revoked", async () => {
    const track = await newTrack(owner, { visibility: "private" })
    const link = expectOk(await api("POST", `/tracks/${track.id}/share`, owner), 201)
    expect(link).toMatchObject({ token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_at: null })
    expect(link.url).toMatch(new RegExp(`/api/v1/tracks/shared/${link.token}$`))
    const shared = expectOk(await api("GET", `/tracks/shared/${link.token}`))
    expect(shared.track).toMatchObject({ id: track.id, visibility: "private" })
    expect(shared.track.transcode).toBeUndefined()
    const master = await fetch(`${server.baseUrl}${new URL(shared.stream.url, server.baseUrl).pathname}${new URL(shared.stream.url, server.baseUrl).search}`)
    expect(master.status).toBe(200)
    // The track itself stays private.
    expectError(await api("GET", `/tracks/${track.id}`), 404, "NOT_FOUND")

    expectError(await api("POST", `/tracks/${track.id}/share`, stranger, {}), 404, "NOT_FOUND")
    expectError(await api("DELETE", `/tracks/${track.id}/share/${link.token}`, stranger), 404, "NOT_FOUND")
    expect((await api("DELETE", `/tracks/${track.id}/share/${link.token}`, owner)).status).toBe(204)
    expectError(await api("GET", `/tracks/shared/${link.token}`), 404, "SHARE_NOT_FOUND")
    expectError(await api("DELETE", `/tracks/${track.id}/share/${link.token}`, owner), 404, "SHARE_NOT_FOUND")
  }, 60_000)

  it("others cannot share or revoke a public track (403); bad input is 400; expired links are gone", async () => {
    const track = await newTrack(owner)
    expectError(await api("POST", `/tracks/${track.id}/share`, stranger, {}), 403, "FORBIDDEN")
    const link = expectOk(await api("POST", `/tracks/${track.id}/share`, owner, { expires_in_seconds: 60 }), 201)
    expect(Date.parse(link.expires_at)).toBeGreaterThan(Date.now())
    expectError(await api("DELETE", `/tracks/${track.id}/share/${link.token}`, stranger), 403, "FORBIDDEN")
    expectError(await api("POST", `/tracks/${track.id}/share`, owner, { expires_in_seconds: 5 }), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/tracks/shared/short"), 400, "VALIDATION_ERROR")
    expectError(await api("GET", `/tracks/shared/${"A".repeat(43)}`), 404, "SHARE_NOT_FOUND")
    await query(db, "update track_share_links set expires_at = created_at + interval '1 millisecond' where track_id = $1", [track.id])
    expectError(await api("GET", `/tracks/shared/${link.token}`), 404, "SHARE_NOT_FOUND")
    // An admin shares anyone's track.
    expectOk(await api("POST", `/tracks/${track.id}/share`, admin, {}), 201)
  }, 60_000)
})

describe("downloads", () => {
  const download = async (url: string) => {
    const res = await fetch(new URL(url, server.baseUrl))
    return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) }
  }

  it("the owner downloads the original through a signed link; others only when downloads are allowed", async () => {
    const track = await newTrack(owner)
    const link = expectOk(await api("GET", `/tracks/${track.id}/download`, owner))
    expect(Date.parse(link.expires_at)).toBeGreaterThan(Date.now())
    const file = await download(link.url)
    expect(file.status).toBe(200)
    expect(file.bytes.equals(NodeFs.readFileSync(song))).toBe(true)
    expect(file.headers.get("content-type")).toBe("audio/mpeg")
    expect(file.headers.get("content-disposition")).toContain("attachment")

    expectError(await api("GET", `/tracks/${track.id}/download`, stranger), 403, "NOT_DOWNLOADABLE")
    expectError(await api("GET", `/tracks/${track.id}/download`), 403, "NOT_DOWNLOADABLE")
    expectOk(await api("GET", `/tracks/${track.id}/download`, admin))
    expectOk(await api("PATCH", `/tracks/${track.id}`, owner, { is_downloadable: true }))
    const anyone = expectOk(await api("GET", `/tracks/${track.id}/download`))
    expect((await download(anyone.url)).status).toBe(200)

    // A tampered or expired link is refused.
    const tampered = new URL(anyone.url, server.baseUrl)
    tampered.searchParams.set("exp", String(Number(tampered.searchParams.get("exp")) + 1000))
    expect((await download(tampered.toString())).status).toBe(403)
    const expired = new URL(anyone.url, server.baseUrl)
    expired.searchParams.set("exp", "1")
    expect((await download(expired.toString())).status).toBe(403)
    expect((await download(`/downloads/tracks/not-a-uuid?exp=1&sig=x`)).status).toBe(403)
  }, 60_000)

  it("a listener's link stops once the track turns private, is hidden or is no longer downloadable; the owner's keeps working", async () => {
    const track = await newTrack(owner)
    expectOk(await api("PATCH", `/tracks/${track.id}`, owner, { is_downloadable: true }))
    const ownersLink = expectOk(await api("GET", `/tracks/${track.id}/download`, owner)).url
    const listenersLink = () => api("GET", `/tracks/${track.id}/download`, stranger).then((res) => expectOk(res).url as string)
    const changes: Array<[Record<string, unknown> | "hide", Record<string, unknown> | "unhide"]> = [
      [{ visibility: "private" }, { visibility: "public" }],
      [{ is_downloadable: false }, { is_downloadable: true }],
      ["hide", "unhide"]
    ]
    for (const [change, undo] of changes) {
      const link = await listenersLink()
      expect((await download(link)).status).toBe(200)
      // The link's scope is signed: dropping it does not make a listener's link an owner's.
      const unscoped = new URL(link, server.baseUrl)
      unscoped.searchParams.delete("for")
      expect((await download(unscoped.toString())).status).toBe(403)
      if (change === "hide") expectOk(await api("POST", `/admin/tracks/${track.id}/hide`, admin, { reason: "test" }))
      else expectOk(await api("PATCH", `/tracks/${track.id}`, owner, change))
      const refused = await download(link)
      expect(refused.status, JSON.stringify(change)).toBe(404)
      expect(JSON.parse(refused.bytes.toString()).error.code).toBe("NOT_FOUND")
      expect((await download(ownersLink)).status).toBe(200)
      if (undo === "unhide") expectOk(await api("POST", `/admin/tracks/${track.id}/unhide`, admin))
      else expectOk(await api("PATCH", `/tracks/${track.id}`, owner, undo))
      expect((await download(link)).status).toBe(200)
    }
  }, 60_000)

  it("a private track cannot be downloaded by others, even when downloadable (404)", async () => {
    const track = await newTrack(owner, { visibility: "private" })
    expectOk(await api("PATCH", `/tracks/${track.id}`, owner, { is_downloadable: true }))
    expectError(await api("GET", `/tracks/${track.id}/download`, stranger), 404, "NOT_FOUND")
    expectError(await api("GET", `/tracks/${track.id}/download`), 404, "NOT_FOUND")
  }, 60_000)
})

describe("delete", () => {
  const stored = (prefix: string) => {
    // The purge may remove the folder while it is being read.
    try {
      return NodeFs.readdirSync(NodePath.join(dataDir, "storage", prefix), { recursive: true }).length
    } catch {
      return 0
    }
  }

  it("only the owner or an admin deletes; the track disappears and its files are removed afterwards", async () => {
    const before = await profileTrackCount(owner)
    const [track, priv, byAdmin] = await Promise.all([newTrack(owner), newTrack(owner, { visibility: "private" }), newTrack(owner)])
    expect(await profileTrackCount(owner)).toBe(before + 2)
    expect(stored(`tracks/${track.id}`)).toBeGreaterThan(0)
    expect(stored(`hls/${track.id}`)).toBeGreaterThan(0)
    const link = expectOk(await api("GET", `/tracks/${track.id}/download`, owner))

    expectError(await api("DELETE", `/tracks/${track.id}`, stranger), 403, "FORBIDDEN")
    expectError(await api("DELETE", `/tracks/${priv.id}`, stranger), 404, "NOT_FOUND")
    expectError(await api("DELETE", `/tracks/${track.id}`), 401)
    expect((await api("DELETE", `/tracks/${track.id}`, owner)).status).toBe(204)
    expectError(await api("DELETE", `/tracks/${track.id}`, owner), 404, "NOT_FOUND")
    expectError(await api("GET", `/tracks/${track.id}`, owner), 404, "NOT_FOUND")
    expectError(await api("POST", `/tracks/${track.id}/like`, listener), 404, "NOT_FOUND")
    expect((await allPages(`/tracks?user_id=${owner.user.id}`, owner)).map((t) => t.id)).not.toContain(track.id)
    expect(await profileTrackCount(owner)).toBe(before + 1)
    expect((await fetch(new URL(link.url, server.baseUrl))).status).toBe(404)
    await waitUntil("the deleted track's files to be removed", () => stored(`tracks/${track.id}`) === 0 && stored(`hls/${track.id}`) === 0, 15_000)
    await waitUntil("the purge queue to empty", async () => (await query(db, "select 1 from track_storage_purges")).length === 0, 15_000)

    expect((await api("DELETE", `/tracks/${byAdmin.id}`, admin)).status).toBe(204)
    expect((await api("DELETE", `/tracks/${priv.id}`, owner)).status).toBe(204)
    expect(await profileTrackCount(owner)).toBe(before)
    await waitUntil("the other files to be removed", () => stored(`tracks/${byAdmin.id}`) + stored(`hls/${priv.id}`) === 0, 15_000)
  }, 60_000)

  it("a failed removal stays queued and is retried", async () => {
    const track = await newTrack(owner)
    // Storage refuses the key: the row records the failure and stays for a later sweep. The key is
    // spoilt before the removal is queued, so the sweep cannot take the row while it is still good.
    await query(db, "update tracks set storage_key = '../escape' where id = $1", [track.id])
    expect((await api("DELETE", `/tracks/${track.id}`, owner)).status).toBe(204)
    await waitUntil(
      "the failure to be recorded",
      async () => (await query<any>(db, "select attempts from track_storage_purges where track_id = $1", [track.id]))[0]?.attempts >= 1,
      15_000
    )
    const [row] = await query<any>(db, "select last_error, run_after > now() as later from track_storage_purges where track_id = $1", [track.id])
    expect(row.later).toBe(true)
    expect(row.last_error).toEqual(expect.any(String))
    await query(db, "update track_storage_purges set original_key = $2, run_after = now() where track_id = $1", [track.id, `tracks/${track.id}/original`])
    await waitUntil("the retried removal", () => stored(`tracks/${track.id}`) + stored(`hls/${track.id}`) === 0, 15_000)
  }, 60_000)
})
