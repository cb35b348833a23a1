import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer, tempDataDir } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

// The longest TTL allowed: a write whose invalidation were missing would show for seconds, not by luck for a few ms.
const TTL_MS = 5000

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-read-cache-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

const db = await freshDatabase("public_read_cache")
let server: RunningServer
let song: string

type User = Awaited<ReturnType<typeof registerUser>>
let owner: User
let listener: User
let admin: User

const api = async (method: string, path: string, who?: User, body?: unknown) => {
  const res = await http<any>(server.baseUrl, method, `/api/v1${path}`, {
    ...(who === undefined ? {} : { token: who.access_token }),
    ...(body === undefined ? {} : { body })
  })
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300)
  return res.body
}
const status = async (path: string) => (await http(server.baseUrl, "GET", `/api/v1${path}`)).status
const listed = async (path: string, who?: User) => ((await api("GET", path, who)).items as Array<any>).map((t) => t.id)

const newTrack = async (fields: Record<string, string>) => {
  const res = await uploadTrack(server.baseUrl, owner.access_token, { path: song, type: "audio/mpeg" }, fields)
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return waitForTrack(server.baseUrl, owner.access_token, res.body.id)
}

beforeAll(async () => {
  server = await startServer({
    DATABASE_URL: db,
    DATA_DIR: tempDataDir(),
    HLS_SEGMENT_SECONDS: "2",
    HLS_LADDER_KBPS: "64",
    JOB_POLL_INTERVAL_MS: "200",
    PUBLIC_READ_CACHE_MS: String(TTL_MS)
  })
  song = await generateAudio(work, { seconds: 2, format: "mp3", name: "song.mp3" })
  ;[owner, listener, admin] = await Promise.all([registerUser(server.baseUrl, { account_type: "creator" }), registerUser(server.baseUrl), registerUser(server.baseUrl)])
  await query(db, "update users set role = 'admin' where id = $1", [admin.user.id])
}, 60_000)

afterAll(() => server?.stop())

describe("anonymous reads are cached", () => {
  it("a row changed behind the server's back shows to anonymous callers only once the entry expires; callers with a token read it at once", async () => {
    const track = await newTrack({ title: "Quartz Harbour" })
    const path = `/tracks?user_id=${owner.user.id}`
    expect((await api("GET", `/tracks/${track.id}`)).title).toBe("Quartz Harbour")
    expect((await api("GET", path)).items[0].title).toBe("Quartz Harbour")
    expect((await api("GET", "/search?q=quartz")).items.map((h: any) => h.id)).toEqual([track.id])
    await query(db, "update tracks set title = 'Basalt Harbour' where id = $1", [track.id])

    expect((await api("GET", `/tracks/${track.id}`)).title).toBe("Quartz Harbour")
    expect((await api("GET", path)).items[0].title).toBe("Quartz Harbour")
    expect((await api("GET", "/search?q=quartz")).items.map((h: any) => h.id)).toEqual([track.id])
    expect((await api("GET", `/tracks/${track.id}`, listener)).title).toBe("Basalt Harbour")
    expect((await api("GET", path, listener)).items[0].title).toBe("Basalt Harbour")
    expect((await api("GET", "/search?q=quartz", listener)).items).toEqual([])

    await expect.poll(async () => (await api("GET", `/tracks/${track.id}`)).title, { timeout: TTL_MS + 2000, interval: 200 }).toBe("Basalt Harbour")
    // The same bytes a cached answer has: one more read within the TTL.
    expect((await api("GET", `/tracks/${track.id}`)).title).toBe("Basalt Harbour")
    await api("DELETE", `/tracks/${track.id}`, owner)
  })
})

describe("a cached answer", () => {
  it("is the uncached answer byte for byte, headers included", async () => {
    const track = await newTrack({ title: "Mirror Pool" })
    const raw = async (path: string) => {
      const res = await fetch(`${server.baseUrl}/api/v1${path}`)
      return { status: res.status, type: res.headers.get("content-type"), length: res.headers.get("content-length"), body: await res.text() }
    }
    for (const path of [`/tracks/${track.id}`, `/tracks?user_id=${owner.user.id}&limit=5`, "/search?q=mirror"]) {
      const first = await raw(path)
      expect(first.status).toBe(200)
      expect(await raw(path)).toEqual(first)
      // With a token the answer is built afresh: the same bytes for what an anonymous caller may see too.
      const fresh = await fetch(`${server.baseUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${listener.access_token}` } })
      expect(await fresh.text()).toBe(first.body)
    }
    await api("DELETE", `/tracks/${track.id}`, owner)
  })
})

describe("writes on this node reach the next anonymous read", () => {
  // Each test has its own track (and search word), so one failing leaves the others' answers alone.
  const byOwner = () => `/tracks?user_id=${owner.user.id}`

  /** Fills the cache with the anonymous answers that hold the track. */
  const warm = async (track: any, word: string) => {
    expect(await listed(byOwner())).toContain(track.id)
    expect(await status(`/tracks/${track.id}`)).toBe(200)
    expect((await api("GET", `/search?q=${word}`)).items.map((h: any) => h.id)).toEqual([track.id])
  }

  it("made private: gone from the next list, get and search; public again: back", async () => {
    const track = await newTrack({ title: "Cinder Lantern" })
    await warm(track, "cinder")
    await api("PATCH", `/tracks/${track.id}`, owner, { visibility: "private" })
    expect(await listed(byOwner())).not.toContain(track.id)
    expect(await status(`/tracks/${track.id}`)).toBe(404)
    expect((await api("GET", "/search?q=cinder")).items).toEqual([])
    // The owner's token is never answered from the anonymous entry.
    expect(await listed(byOwner(), owner)).toContain(track.id)

    await api("PATCH", `/tracks/${track.id}`, owner, { visibility: "public" })
    await warm(track, "cinder")
  })

  it("a title edit is what the next get, list and search show", async () => {
    const track = await newTrack({ title: "Opal Ferry" })
    await warm(track, "opal")
    await api("PATCH", `/tracks/${track.id}`, owner, { title: "Opal Ferry Reprise" })
    expect((await api("GET", `/tracks/${track.id}`)).title).toBe("Opal Ferry Reprise")
    expect((await api("GET", byOwner())).items.find((t: any) => t.id === track.id).title).toBe("Opal Ferry Reprise")
    expect((await api("GET", "/search?q=reprise")).items.map((h: any) => h.id)).toEqual([track.id])
  })

  it("a like and an unlike move like_count at once; liked_by_me stays the caller's own", async () => {
    const track = await newTrack({ title: "Amber Kite" })
    await warm(track, "amber")
    const anonymousLikes = async () => ({
      get: (await api("GET", `/tracks/${track.id}`)).like_count,
      list: (await api("GET", byOwner())).items.find((t: any) => t.id === track.id).like_count
    })
    expect(await anonymousLikes()).toEqual({ get: 0, list: 0 })
    await api("POST", `/tracks/${track.id}/like`, listener)
    expect(await anonymousLikes()).toEqual({ get: 1, list: 1 })
    expect((await api("GET", `/tracks/${track.id}`)).liked_by_me).toBe(false)
    expect((await api("GET", `/tracks/${track.id}`, listener)).liked_by_me).toBe(true)
    await api("DELETE", `/tracks/${track.id}/like`, listener)
    expect(await anonymousLikes()).toEqual({ get: 0, list: 0 })
  })

  it("a comment moves comment_count at once, and so does its deletion", async () => {
    const track = await newTrack({ title: "Slate Choir" })
    await warm(track, "slate")
    const comment = await api("POST", `/tracks/${track.id}/comments`, listener, { content: "warm" })
    expect((await api("GET", `/tracks/${track.id}`)).comment_count).toBe(1)
    await api("DELETE", `/tracks/${track.id}/comments/${comment.id}`, listener)
    expect((await api("GET", `/tracks/${track.id}`)).comment_count).toBe(0)
  })

  it("a moderator's hide removes it from the next anonymous read; unhide brings it back", async () => {
    const track = await newTrack({ title: "Velvet Dune" })
    await warm(track, "velvet")
    await api("POST", `/admin/tracks/${track.id}/hide`, admin, {})
    expect(await listed(byOwner())).not.toContain(track.id)
    expect(await status(`/tracks/${track.id}`)).toBe(404)
    expect((await api("GET", "/search?q=velvet")).items).toEqual([])
    await api("POST", `/admin/tracks/${track.id}/unhide`, admin, {})
    await warm(track, "velvet")
  })

  it("a publication lists the new track at once", async () => {
    // A page key of its own, cached while the track is still processing, and read again once it is ready: that read
    // tells only if the entry has not expired meanwhile, so a transcode slower than the TTL tries again.
    for (let attempt = 1; ; attempt++) {
      const res = await uploadTrack(server.baseUrl, owner.access_token, { path: song, type: "audio/mpeg" }, { title: `Fresh Ember ${attempt}` })
      expect(res.status).toBe(201)
      const page = `/tracks?user_id=${owner.user.id}&limit=${30 + attempt}`
      const cachedAt = Date.now()
      expect(await listed(page)).not.toContain(res.body.id)
      await waitForTrack(server.baseUrl, owner.access_token, res.body.id)
      const listedNow = await listed(page)
      if (Date.now() - cachedAt >= TTL_MS - 500) {
        if (attempt < 3) continue
        throw new Error("transcodes took longer than the cache TTL three times: the check could not be made")
      }
      expect(listedNow).toContain(res.body.id)
      expect((await api("GET", `/tracks/${res.body.id}`)).status).toBe("ready")
      return
    }
  }, 60_000)

  it("deleted: gone from the next list, get and search", async () => {
    const track = await newTrack({ title: "Ivory Gate" })
    await warm(track, "ivory")
    await api("DELETE", `/tracks/${track.id}`, owner)
    expect(await listed(byOwner())).not.toContain(track.id)
    expect(await status(`/tracks/${track.id}`)).toBe(404)
    expect((await api("GET", "/search?q=ivory")).items).toEqual([])
  })
})
