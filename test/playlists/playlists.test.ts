import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type JsonResponse, type RunningServer, startServer } from "../support/server.js"
import { uploadTrack } from "../support/tracks.js"

const db = await freshDatabase("playlists")
let server: RunningServer
type User = Awaited<ReturnType<typeof registerUser>>

let owner: User // a creator, owner of the playlists under test
let other: User // a creator with a private track of their own
let editor: User
let viewer: User
let admin: User
/** The owner's public tracks, and one private track each. */
let tracks: Array<{ id: string; duration_ms: number }> = []
let ownerPrivateTrack: string
let otherPrivateTrack: string

const api = <T = any>(method: string, path: string, who?: User, body?: unknown) =>
  http<T>(server.baseUrl, method, `/api/v1${path}`, { ...(who === undefined ? {} : { token: who.access_token }), ...(body === undefined ? {} : { body }) })

const expectError = (res: JsonResponse, status: number, code?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(Object.keys(res.body)).toEqual(["error"])
  expect(res.body.error).toMatchObject({ code: code ?? expect.any(String), message: expect.any(String) })
}

const upload = async (who: User, dir: string, visibility: string, title: string) => {
  const path = await generateAudio(dir, { seconds: 1, format: "wav" })
  const res = await uploadTrack(server.baseUrl, who.access_token, { path }, { title, visibility })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body as { id: string; duration_ms: number }
}

const createPlaylist = async (who: User, body: Record<string, unknown> = {}) => {
  const res = await api("POST", "/playlists", who, { title: "Mix", ...body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

const add = async (who: User, playlist: string, track: string, position?: number) => {
  const res = await api("POST", `/playlists/${playlist}/tracks`, who, position === undefined ? { track_id: track } : { track_id: track, position })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

/** Track ids in playlist order, as `who` sees them, following every cursor. */
const order = async (playlist: string, who: User = owner, limit = 3) => {
  const ids: Array<string> = []
  let cursor: string | null = null
  do {
    const res: JsonResponse = await api("GET", `/playlists/${playlist}/tracks?limit=${limit}${cursor === null ? "" : `&cursor=${cursor}`}`, who)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    ids.push(...res.body.items.map((i: any) => i.track.id))
    cursor = res.body.next_cursor
  } while (cursor !== null)
  return ids
}

/** Positions straight from the database: 1..n, each track once. */
const storedPositions = async (playlist: string) =>
  (await query<{ track_id: string; position: number }>(db, "select track_id, position from playlist_tracks where playlist_id = $1 order by position", [playlist]))

const profileCount = async (who: User) => (await api("GET", `/users/${who.user.id}`)).body.playlist_count

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: db, VEZA_ROLES: "api,chat" })
  ;[owner, other, editor, viewer, admin] = await Promise.all([
    registerUser(server.baseUrl, { account_type: "creator" }),
    registerUser(server.baseUrl, { account_type: "creator" }),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl),
    registerUser(server.baseUrl)
  ])
  await query(db, "update users set role = 'admin' where id = $1", [admin.user.id])
  const dir = NodePath.join(NodeOs.tmpdir(), `veza-playlists-${process.pid}`)
  for (let i = 0; i < 12; i++) tracks.push(await upload(owner, dir, "public", `track ${i}`))
  ownerPrivateTrack = (await upload(owner, dir, "private", "owner secret")).id
  otherPrivateTrack = (await upload(other, dir, "private", "other secret")).id
}, 120_000)

describe("playlists", () => {
  it("creates with defaults, counts on the owner's profile, and refuses bad input", async () => {
    const before = await profileCount(owner)
    const p = await createPlaylist(owner, { title: "  Night drive  ", description: "late" })
    expect(p).toMatchObject({
      title: "Night drive",
      description: "late",
      owner_id: owner.user.id,
      visibility: "public",
      collaborative: false,
      track_count: 0,
      total_duration_ms: 0,
      follower_count: 0,
      my_role: "owner",
      following: false
    })
    expect(await profileCount(owner)).toBe(before + 1)
    // Only public playlists are counted: the count is what anyone may list on the profile.
    const hidden = await createPlaylist(owner, { visibility: "private" })
    await createPlaylist(owner, { visibility: "unlisted" })
    expect(await profileCount(owner)).toBe(before + 1)
    expect((await api("PATCH", `/playlists/${hidden.id}`, owner, { visibility: "public" })).status).toBe(200)
    expect(await profileCount(owner)).toBe(before + 2)
    expect((await api("PATCH", `/playlists/${hidden.id}`, owner, { visibility: "unlisted" })).status).toBe(200)
    expect(await profileCount(owner)).toBe(before + 1)

    expectError(await api("POST", "/playlists", owner, { title: "   " }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", "/playlists", owner, { title: "x".repeat(256) }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", "/playlists", owner, { title: "ok", visibility: "secret" }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", "/playlists", owner, { title: "ok", collaborative: "yes" }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", "/playlists", owner, { title: "nul\u0000" }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", "/playlists", owner, {}), 400, "VALIDATION_ERROR")
    expectError(await http(server.baseUrl, "POST", "/api/v1/playlists", { token: owner.access_token, raw: "{", headers: { "content-type": "application/json" } }), 400)
    expectError(await api("POST", "/playlists", undefined, { title: "anon" }), 401)
    expectError(await api("GET", "/playlists/not-a-uuid"), 400, "VALIDATION_ERROR")
  })

  it("shows public and unlisted playlists to anyone, private ones only to owner, collaborators and admins", async () => {
    const pub = await createPlaylist(owner, { title: "pub" })
    const unlisted = await createPlaylist(owner, { title: "unlisted", visibility: "unlisted" })
    const priv = await createPlaylist(owner, { title: "priv", visibility: "private" })
    await add(owner, priv.id, tracks[0]!.id)

    expect((await api("GET", `/playlists/${pub.id}`)).status).toBe(200)
    expect((await api("GET", `/playlists/${unlisted.id}`, other)).status).toBe(200)
    expect((await api("GET", `/playlists/${priv.id}`, owner)).body.my_role).toBe("owner")
    expect((await api("GET", `/playlists/${priv.id}`, admin)).status).toBe(200)
    for (const who of [other, undefined]) {
      expectError(await api("GET", `/playlists/${priv.id}`, who), 404, "PLAYLIST_NOT_FOUND")
      expectError(await api("GET", `/playlists/${priv.id}/tracks`, who), 404, "PLAYLIST_NOT_FOUND")
      expectError(await api("GET", `/playlists/${priv.id}/collaborators`, who), 404, "PLAYLIST_NOT_FOUND")
    }
    expectError(await api("GET", `/playlists/${pub.id}`, { ...other, access_token: "nope" }), 401)

    // Others list only public playlists; the owner and admins list all of them.
    const listed = async (who?: User) => {
      const res = await api("GET", `/users/${owner.user.id}/playlists?limit=100`, who)
      expect(res.status).toBe(200)
      return res.body.items.map((p: any) => p.id)
    }
    for (const who of [other, undefined]) {
      const ids = await listed(who)
      expect(ids).toContain(pub.id)
      expect(ids).not.toContain(unlisted.id)
      expect(ids).not.toContain(priv.id)
    }
    for (const who of [owner, admin]) expect(await listed(who)).toEqual(expect.arrayContaining([pub.id, unlisted.id, priv.id]))
    expectError(await api("GET", `/users/00000000-0000-4000-8000-000000000000/playlists`), 404, "USER_NOT_FOUND")
    expectError(await api("GET", `/users/${owner.user.id}/playlists?cursor=garbage`), 400, "INVALID_CURSOR")
    expectError(await api("GET", `/users/${owner.user.id}/playlists?limit=0`), 400, "VALIDATION_ERROR")
  })

  it("pages a user's playlists newest first without gaps or repeats", async () => {
    const user = await registerUser(server.baseUrl)
    const made: Array<string> = []
    for (let i = 0; i < 5; i++) made.push((await createPlaylist(user, { title: `p${i}` })).id)
    const seen: Array<string> = []
    let cursor: string | null = null
    do {
      const res: JsonResponse = await api("GET", `/users/${user.user.id}/playlists?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`)
      seen.push(...res.body.items.map((p: any) => p.id))
      cursor = res.body.next_cursor
    } while (cursor !== null)
    expect(seen).toEqual([...made].reverse())
  })

  it("lets only the owner (or an admin) change or delete a playlist: others get 403, or 404 when it is private", async () => {
    const pub = await createPlaylist(owner, { title: "mine" })
    const priv = await createPlaylist(owner, { title: "hidden", visibility: "private" })
    for (const [p, status] of [[pub, 403], [priv, 404]] as const) {
      expectError(await api("PATCH", `/playlists/${p.id}`, other, { title: "taken" }), status)
      expectError(await api("DELETE", `/playlists/${p.id}`, other), status)
    }
    expectError(await api("PATCH", `/playlists/${pub.id}`, undefined, { title: "anon" }), 401)

    const patched = await api("PATCH", `/playlists/${pub.id}`, owner, { title: "renamed", description: null, visibility: "unlisted", collaborative: true })
    await api("PATCH", `/playlists/${pub.id}`, owner, { visibility: "public" })
    expect(patched.status, JSON.stringify(patched.body)).toBe(200)
    expect(patched.body).toMatchObject({ title: "renamed", description: null, visibility: "unlisted", collaborative: true })
    expectError(await api("PATCH", `/playlists/${pub.id}`, owner, { title: "" }), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", `/playlists/${pub.id}`, owner, { visibility: 3 }), 400, "VALIDATION_ERROR")
    expect((await api("PATCH", `/playlists/${priv.id}`, admin, { title: "moderated" })).body.title).toBe("moderated")

    const before = await profileCount(owner)
    expect((await api("DELETE", `/playlists/${pub.id}`, owner)).status).toBe(204)
    expect(await profileCount(owner)).toBe(before - 1)
    expectError(await api("GET", `/playlists/${pub.id}`, owner), 404, "PLAYLIST_NOT_FOUND")
    expectError(await api("DELETE", `/playlists/${pub.id}`, owner), 404, "PLAYLIST_NOT_FOUND")
    expect((await api("DELETE", `/playlists/${priv.id}`, admin)).status).toBe(204)
  })

  it("adds, moves and removes tracks with dense positions, counts and total duration", async () => {
    const p = await createPlaylist(owner)
    const [a, b, c, d] = tracks
    const first = await add(owner, p.id, a!.id)
    expect(first).toMatchObject({ position: 1, added_by: owner.user.id, track: { id: a!.id, title: "track 0", creator_id: owner.user.id } })
    await add(owner, p.id, b!.id)
    expect((await add(owner, p.id, c!.id, 1)).position).toBe(1)
    expect((await add(owner, p.id, d!.id, 99)).position).toBe(4) // past the end appends
    expect(await order(p.id)).toEqual([c!.id, a!.id, b!.id, d!.id])

    const moved = await api("PATCH", `/playlists/${p.id}/tracks/${d!.id}`, owner, { position: 2 })
    expect(moved.status, JSON.stringify(moved.body)).toBe(200)
    expect(moved.body.position).toBe(2)
    expect(await order(p.id)).toEqual([c!.id, d!.id, a!.id, b!.id])
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${c!.id}`, owner, { position: 50 })).body.position).toBe(4)
    expect(await order(p.id)).toEqual([d!.id, a!.id, b!.id, c!.id])

    let got = (await api("GET", `/playlists/${p.id}`, owner)).body
    expect(got.track_count).toBe(4)
    expect(got.total_duration_ms).toBe(a!.duration_ms + b!.duration_ms + c!.duration_ms + d!.duration_ms)

    expect((await api("DELETE", `/playlists/${p.id}/tracks/${a!.id}`, owner)).status).toBe(204)
    expect(await order(p.id)).toEqual([d!.id, b!.id, c!.id])
    expect((await storedPositions(p.id)).map((r) => r.position)).toEqual([1, 2, 3])
    got = (await api("GET", `/playlists/${p.id}`, owner)).body
    expect(got.track_count).toBe(3)
    expect(got.total_duration_ms).toBe(b!.duration_ms + c!.duration_ms + d!.duration_ms)

    expectError(await api("DELETE", `/playlists/${p.id}/tracks/${a!.id}`, owner), 404, "TRACK_NOT_IN_PLAYLIST")
    expectError(await api("PATCH", `/playlists/${p.id}/tracks/${a!.id}`, owner, { position: 1 }), 404, "TRACK_NOT_IN_PLAYLIST")
    expectError(await api("POST", `/playlists/${p.id}/tracks`, owner, { track_id: b!.id }), 409, "TRACK_ALREADY_IN_PLAYLIST")
    expectError(await api("POST", `/playlists/${p.id}/tracks`, owner, { track_id: otherPrivateTrack }), 404, "TRACK_NOT_FOUND")
    expectError(await api("POST", `/playlists/${p.id}/tracks`, owner, { track_id: "00000000-0000-4000-8000-000000000000" }), 404, "TRACK_NOT_FOUND")
    expectError(await api("POST", `/playlists/${p.id}/tracks`, owner, { track_id: "nope" }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", `/playlists/${p.id}/tracks`, owner, { track_id: b!.id, position: 0 }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", `/playlists/${p.id}/tracks`, owner, { track_id: b!.id, position: 1.5 }), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", `/playlists/${p.id}/tracks/${b!.id}`, owner, { position: -1 }), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", `/playlists/${p.id}/tracks/${b!.id}`, owner, {}), 400, "VALIDATION_ERROR")
    expectError(await api("GET", `/playlists/${p.id}/tracks?cursor=%%%`), 400, "INVALID_CURSOR")
    const tooFar = Buffer.from(JSON.stringify([2 ** 40])).toString("base64url")
    expectError(await api("GET", `/playlists/${p.id}/tracks?cursor=${tooFar}`), 400, "INVALID_CURSOR")
    // A position far beyond any integer column still just means "last".
    const last = await api("PATCH", `/playlists/${p.id}/tracks/${b!.id}`, owner, { position: 2 ** 40 })
    expect(last.status, JSON.stringify(last.body)).toBe(200)
    expect(last.body.position).toBe(3)
    expectError(await api("GET", `/playlists/${p.id}/tracks?limit=501`), 400, "VALIDATION_ERROR")
  })

  it("hides someone's private track in their playlist from others, and drops a deleted track from every playlist", async () => {
    const p = await createPlaylist(owner)
    await add(owner, p.id, tracks[0]!.id)
    await add(owner, p.id, ownerPrivateTrack)
    await add(owner, p.id, tracks[1]!.id)
    expect(await order(p.id, owner)).toEqual([tracks[0]!.id, ownerPrivateTrack, tracks[1]!.id])
    expect(await order(p.id, other)).toEqual([tracks[0]!.id, tracks[1]!.id])

    // Deleting a track (a soft delete, as the tracks API does) takes it out, and the rest close up.
    const doomed = await upload(owner, NodePath.join(NodeOs.tmpdir(), `veza-playlists-${process.pid}`), "public", "doomed")
    await add(owner, p.id, doomed.id, 1)
    await query(db, "update tracks set deleted_at = now() where id = $1", [doomed.id])
    expect((await storedPositions(p.id)).map((r) => [r.track_id, r.position])).toEqual([
      [tracks[0]!.id, 1],
      [ownerPrivateTrack, 2],
      [tracks[1]!.id, 3]
    ])
    expect((await api("GET", `/playlists/${p.id}`, owner)).body.track_count).toBe(3)
  })

  it("leaves tracks concealed from the reader out of counts, durations and numbering; editors place tracks among what they see", async () => {
    const dir = NodePath.join(NodeOs.tmpdir(), `veza-playlists-${process.pid}`)
    const [guest, helper] = await Promise.all([registerUser(server.baseUrl, { account_type: "creator" }), registerUser(server.baseUrl)])
    const guestTrack = await upload(guest, dir, "public", "guest turning private")
    const title = `concealed ${process.pid}`
    const p = await createPlaylist(owner, { title, collaborative: true })
    expect((await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: helper.user.id })).status).toBe(201)
    expect((await api("POST", `/playlists/${p.id}/follow`, guest)).status).toBe(204)
    const [t0, t1, t2, t3] = tracks
    const ownerSecretDuration = (await api("GET", `/tracks/${ownerPrivateTrack}`, owner)).body.duration_ms as number
    for (const id of [t0!.id, ownerPrivateTrack, guestTrack.id, t1!.id, t2!.id]) await add(owner, p.id, id)
    expect((await api("PATCH", `/tracks/${guestTrack.id}`, guest, { visibility: "private" })).status).toBe(200)

    /** [track, position] as `who` pages through the entries one at a time. */
    const numbered = async (who?: User) => {
      const seen: Array<[string, number]> = []
      let cursor: string | null = null
      do {
        const res: JsonResponse = await api("GET", `/playlists/${p.id}/tracks?limit=1${cursor === null ? "" : `&cursor=${cursor}`}`, who)
        expect(res.status, JSON.stringify(res.body)).toBe(200)
        seen.push(...res.body.items.map((i: any): [string, number] => [i.track.id, i.position]))
        cursor = res.body.next_cursor
        // The cursor holds the position the reader sees, not one that would count the concealed entries before it.
        if (cursor !== null) expect(JSON.parse(Buffer.from(cursor, "base64url").toString())).toEqual([seen.length])
      } while (cursor !== null)
      return seen
    }
    const totals = async (who?: User) => {
      const body = (await api("GET", `/playlists/${p.id}`, who)).body
      return [body.track_count, body.total_duration_ms]
    }
    const sum = (...durations: Array<number>) => durations.reduce((a, b) => a + b, 0)
    const publicOnes = sum(t0!.duration_ms, t1!.duration_ms, t2!.duration_ms)

    expect(await totals(undefined)).toEqual([3, publicOnes])
    expect(await totals(helper)).toEqual([3, publicOnes])
    expect(await totals(owner)).toEqual([4, publicOnes + ownerSecretDuration])
    expect(await totals(guest)).toEqual([4, publicOnes + guestTrack.duration_ms])
    expect(await totals(admin)).toEqual([5, publicOnes + ownerSecretDuration + guestTrack.duration_ms])
    expect(await numbered(undefined)).toEqual([[t0!.id, 1], [t1!.id, 2], [t2!.id, 3]])
    expect(await numbered(guest)).toEqual([[t0!.id, 1], [guestTrack.id, 2], [t1!.id, 3], [t2!.id, 4]])
    expect(await numbered(admin)).toEqual([[t0!.id, 1], [ownerPrivateTrack, 2], [guestTrack.id, 3], [t1!.id, 4], [t2!.id, 5]])

    // Every way of listing playlists counts the same way.
    const countIn = (items: Array<any>) => items.find((x) => x.id === p.id)?.track_count
    expect(countIn((await api("GET", `/users/${owner.user.id}/playlists?limit=100`)).body.items)).toBe(3)
    expect(countIn((await api("GET", `/users/${owner.user.id}/playlists?limit=100`, owner)).body.items)).toBe(4)
    expect(countIn((await api("GET", "/playlists/shared", helper)).body.items)).toBe(3)
    expect(countIn((await api("GET", "/playlists/followed", guest)).body.items)).toBe(4)
    const searched = async (who?: User) =>
      countIn((await http(server.baseUrl, "GET", `/api/v1/search?${new URLSearchParams({ q: title, type: "playlists" })}`, who === undefined ? {} : { token: who.access_token })).body.items)
    expect(await searched(undefined)).toBe(3)
    expect(await searched(guest)).toBe(4)
    expect(await searched(admin)).toBe(5)

    // The editor's positions are the ones they see: 2 lands between their first and second entries.
    expect((await add(helper, p.id, t3!.id, 2)).position).toBe(2)
    expect(await numbered(helper)).toEqual([[t0!.id, 1], [t3!.id, 2], [t1!.id, 3], [t2!.id, 4]])
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${t2!.id}`, helper, { position: 1 })).body.position).toBe(1)
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${t0!.id}`, helper, { position: 99 })).body.position).toBe(4)
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${t1!.id}`, helper, { position: 3 })).body.position).toBe(3)
    expect(await numbered(helper)).toEqual([[t2!.id, 1], [t3!.id, 2], [t1!.id, 3], [t0!.id, 4]])
    // The concealed entries keep their places: a move passes only entries the editor sees, and a move to where the entry is moves nothing.
    const storedOrder = async () => (await storedPositions(p.id)).map((r) => r.track_id)
    expect(await storedOrder()).toEqual([t2!.id, ownerPrivateTrack, guestTrack.id, t3!.id, t1!.id, t0!.id])
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${t3!.id}`, helper, { position: 1 })).body.position).toBe(1)
    expect(await storedOrder()).toEqual([t3!.id, t2!.id, ownerPrivateTrack, guestTrack.id, t1!.id, t0!.id])
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${t3!.id}`, helper, { position: 2 })).body.position).toBe(2)
    expect(await storedOrder()).toEqual([t2!.id, t3!.id, ownerPrivateTrack, guestTrack.id, t1!.id, t0!.id])
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${t3!.id}`, helper, { position: 2 })).body.position).toBe(2)
    expect(await storedOrder()).toEqual([t2!.id, t3!.id, ownerPrivateTrack, guestTrack.id, t1!.id, t0!.id])
    // What they cannot see they cannot touch, and the answer does not tell it is there.
    expectError(await api("DELETE", `/playlists/${p.id}/tracks/${guestTrack.id}`, helper), 404, "TRACK_NOT_IN_PLAYLIST")
    expectError(await api("PATCH", `/playlists/${p.id}/tracks/${ownerPrivateTrack}`, helper, { position: 1 }), 404, "TRACK_NOT_IN_PLAYLIST")
    expect(await numbered(admin)).toEqual([[t2!.id, 1], [t3!.id, 2], [ownerPrivateTrack, 3], [guestTrack.id, 4], [t1!.id, 5], [t0!.id, 6]])
    expect((await storedPositions(p.id)).map((r) => r.position)).toEqual([1, 2, 3, 4, 5, 6])

    // A moderator's hide conceals like privacy does; the track's owner still sees it.
    expect((await api("POST", `/admin/tracks/${t1!.id}/hide`, admin, { reason: "test" })).status).toBe(200)
    expect(await totals(undefined)).toEqual([3, publicOnes - t1!.duration_ms + t3!.duration_ms])
    expect((await numbered(undefined)).map(([, position]) => position)).toEqual([1, 2, 3])
    expect((await totals(owner))[0]).toBe(5)
    expect((await api("POST", `/admin/tracks/${t1!.id}/unhide`, admin)).status).toBe(200)
    expect((await api("PATCH", `/tracks/${guestTrack.id}`, guest, { visibility: "unlisted" })).status).toBe(200)
    expect(await totals(undefined)).toEqual([5, publicOnes + t3!.duration_ms + guestTrack.duration_ms])
    expect((await numbered(undefined)).map(([id]) => id)).toEqual([t2!.id, t3!.id, guestTrack.id, t1!.id, t0!.id])
  })

  it("keeps each entry's concealment true to its track while visibility changes race with adds and copies", async () => {
    const dir = NodePath.join(NodeOs.tmpdir(), `veza-playlists-${process.pid}`)
    const flipper = await registerUser(server.baseUrl, { account_type: "creator" })
    const flipping = await upload(flipper, dir, "public", "flipping")
    const source = await createPlaylist(owner, { title: "source" })
    await add(owner, source.id, tracks[0]!.id)
    await add(owner, source.id, flipping.id)
    const targets = await Promise.all(Array.from({ length: 8 }, (_, i) => createPlaylist(owner, { title: `target ${i}` })))
    const ops: Array<() => Promise<JsonResponse>> = []
    for (let i = 0; i < 8; i++) {
      ops.push(() => api("PATCH", `/tracks/${flipping.id}`, flipper, { visibility: i % 2 === 0 ? "private" : "public" }))
      ops.push(() => api("POST", `/playlists/${targets[i]!.id}/tracks`, owner, { track_id: flipping.id }))
      ops.push(() => api("POST", `/playlists/${source.id}/duplicate`, admin))
    }
    const results = await Promise.all(ops.map((op) => op()))
    // An add may come after the track turned private: then it is not found.
    for (const r of results) expect([200, 201, 404], JSON.stringify(r.body)).toContain(r.status)
    const untrue = await query(
      db,
      `select pt.playlist_id from playlist_tracks pt join tracks t on t.id = pt.track_id
        where pt.track_id = $1 and pt.track_concealed <> (t.visibility = 'private' or t.hidden_at is not null)`,
      [flipping.id]
    )
    expect(untrue).toEqual([])
    const entries = await query<{ n: number }>(db, "select count(*)::int as n from playlist_tracks where track_id = $1", [flipping.id])
    expect(entries[0]!.n).toBeGreaterThanOrEqual(9)
  })

  it("refuses every track edit to others: 403 on a public playlist, 404 on a private one", async () => {
    const pub = await createPlaylist(owner, { collaborative: true })
    const priv = await createPlaylist(owner, { visibility: "private", collaborative: true })
    for (const [p, status] of [[pub, 403], [priv, 404]] as const) {
      await add(owner, p.id, tracks[0]!.id)
      expectError(await api("POST", `/playlists/${p.id}/tracks`, other, { track_id: tracks[1]!.id }), status)
      expectError(await api("PATCH", `/playlists/${p.id}/tracks/${tracks[0]!.id}`, other, { position: 1 }), status)
      expectError(await api("DELETE", `/playlists/${p.id}/tracks/${tracks[0]!.id}`, other), status)
      expectError(await api("POST", `/playlists/${p.id}/collaborators`, other, { user_id: other.user.id }), status)
      expectError(await api("DELETE", `/playlists/${p.id}/collaborators/${editor.user.id}`, other), status)
    }
    expectError(await api("POST", `/playlists/${priv.id}/duplicate`, other), 404, "PLAYLIST_NOT_FOUND")
    expectError(await api("POST", `/playlists/${priv.id}/follow`, other), 404, "PLAYLIST_NOT_FOUND")
    expectError(await api("POST", `/playlists/${pub.id}/tracks`, undefined, { track_id: tracks[1]!.id }), 401)
    expect(await order(pub.id)).toEqual([tracks[0]!.id])
  })

  it("an editor cannot move, nor read back, an entry whose track has since turned private", async () => {
    const dir = NodePath.join(NodeOs.tmpdir(), `veza-playlists-${process.pid}`)
    const turning = await upload(owner, dir, "public", "about to turn private")
    const helper = await registerUser(server.baseUrl)
    const p = await createPlaylist(owner, { title: "shared", collaborative: true })
    expect((await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: helper.user.id })).status).toBe(201)
    await add(owner, p.id, tracks[0]!.id)
    await add(owner, p.id, turning.id)
    expect((await api("PATCH", `/tracks/${turning.id}`, owner, { visibility: "private" })).status).toBe(200)
    const moved = await api("PATCH", `/playlists/${p.id}/tracks/${turning.id}`, helper, { position: 1 })
    expectError(moved, 404, "TRACK_NOT_IN_PLAYLIST")
    expect(JSON.stringify(moved.body)).not.toContain("about to turn private")
    expect(await storedPositions(p.id)).toEqual([
      { track_id: tracks[0]!.id, position: 1 },
      { track_id: turning.id, position: 2 }
    ])
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${turning.id}`, owner, { position: 1 })).body.position).toBe(1)
  })

  it("collaborative playlists: invited editors edit tracks, viewers see a private playlist, only the owner manages", async () => {
    const p = await createPlaylist(owner, { title: "crew", visibility: "private", collaborative: true })
    const invited = await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: editor.user.id })
    expect(invited.status, JSON.stringify(invited.body)).toBe(201)
    expect(invited.body).toMatchObject({ user_id: editor.user.id, username: editor.user.username, role: "editor", invited_by: owner.user.id })
    expect((await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: viewer.user.id, role: "viewer" })).status).toBe(201)

    // The invitation is a notification for the invitee.
    const inbox = await api("GET", "/notifications", editor)
    expect(inbox.body.items[0]).toMatchObject({ type: "playlist_invite", actor_id: owner.user.id, payload: { playlist_id: p.id, title: "crew", role: "editor" }, read: false })

    const shared = await api("GET", "/playlists/shared", editor)
    expect(shared.status, JSON.stringify(shared.body)).toBe(200)
    expect(shared.body.items.map((x: any) => [x.id, x.my_role])).toEqual([[p.id, "editor"]])
    expect((await api("GET", `/playlists/${p.id}`, editor)).body.my_role).toBe("editor")
    expect((await api("GET", `/playlists/${p.id}`, viewer)).body.my_role).toBe("viewer")
    const list = await api("GET", `/playlists/${p.id}/collaborators`, viewer)
    expect(list.body.items.map((c: any) => [c.user_id, c.role])).toEqual([
      [editor.user.id, "editor"],
      [viewer.user.id, "viewer"]
    ])

    await add(editor, p.id, tracks[2]!.id)
    await add(owner, p.id, tracks[3]!.id, 1)
    expect((await api("PATCH", `/playlists/${p.id}/tracks/${tracks[2]!.id}`, editor, { position: 1 })).status).toBe(200)
    expect(await order(p.id, viewer)).toEqual([tracks[2]!.id, tracks[3]!.id])
    expectError(await api("POST", `/playlists/${p.id}/tracks`, viewer, { track_id: tracks[4]!.id }), 403)
    expectError(await api("DELETE", `/playlists/${p.id}/tracks/${tracks[2]!.id}`, viewer), 403)
    // An editor may add only tracks they can see themselves.
    expectError(await api("POST", `/playlists/${p.id}/tracks`, editor, { track_id: ownerPrivateTrack }), 404, "TRACK_NOT_FOUND")
    // Managing stays the owner's.
    expectError(await api("PATCH", `/playlists/${p.id}`, editor, { title: "ours" }), 403)
    expectError(await api("DELETE", `/playlists/${p.id}`, editor), 403)
    expectError(await api("POST", `/playlists/${p.id}/collaborators`, editor, { user_id: other.user.id }), 403)
    expectError(await api("DELETE", `/playlists/${p.id}/collaborators/${viewer.user.id}`, editor), 403)

    // Once not collaborative, editors only read.
    await api("PATCH", `/playlists/${p.id}`, owner, { collaborative: false })
    expectError(await api("POST", `/playlists/${p.id}/tracks`, editor, { track_id: tracks[4]!.id }), 403)
    await api("PATCH", `/playlists/${p.id}`, owner, { collaborative: true })

    // Inviting again changes the role, without a second notification.
    expect((await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: editor.user.id, role: "viewer" })).body.role).toBe("viewer")
    expect((await api("GET", "/notifications", editor)).body.items.filter((n: any) => n.type === "playlist_invite" && n.payload.playlist_id === p.id)).toHaveLength(1)

    expectError(await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: owner.user.id }), 422, "OWNER_NOT_COLLABORATOR")
    expectError(await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: "00000000-0000-4000-8000-000000000000" }), 404, "USER_NOT_FOUND")
    expectError(await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: editor.user.id, role: "owner" }), 400, "VALIDATION_ERROR")

    // A collaborator may leave; the owner removes anyone.
    expect((await api("DELETE", `/playlists/${p.id}/collaborators/${editor.user.id}`, editor)).status).toBe(204)
    expectError(await api("GET", `/playlists/${p.id}`, editor), 404, "PLAYLIST_NOT_FOUND")
    expect((await api("GET", "/playlists/shared", editor)).body.items).toEqual([])
    expect((await api("DELETE", `/playlists/${p.id}/collaborators/${viewer.user.id}`, owner)).status).toBe(204)
    expectError(await api("DELETE", `/playlists/${p.id}/collaborators/${viewer.user.id}`, owner), 404, "COLLABORATOR_NOT_FOUND")
  })

  it("does not invite across a block, and a block ends a collaboration", async () => {
    const p = await createPlaylist(owner, { collaborative: true })
    const blocker = await registerUser(server.baseUrl)
    expect((await api("POST", `/users/${owner.user.id}/block`, blocker)).status).toBe(204)
    expectError(await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: blocker.user.id }), 403, "BLOCKED")
    // A block ends a collaboration made before it, either way: the blocked editor no longer sees the private playlist.
    const priv = await createPlaylist(owner, { visibility: "private", collaborative: true })
    const partner = await registerUser(server.baseUrl)
    expect((await api("POST", `/playlists/${priv.id}/collaborators`, owner, { user_id: partner.user.id })).status).toBe(201)
    await add(partner, priv.id, tracks[0]!.id)
    expect((await api("POST", `/users/${partner.user.id}/block`, owner)).status).toBe(204)
    expectError(await api("GET", `/playlists/${priv.id}`, partner), 404, "PLAYLIST_NOT_FOUND")
    expectError(await api("POST", `/playlists/${priv.id}/tracks`, partner, { track_id: tracks[1]!.id }), 404, "PLAYLIST_NOT_FOUND")
    expect((await api("GET", `/playlists/${priv.id}/collaborators`, owner)).body.items).toEqual([])

    // An invitation and a block landing together: whichever comes first, no collaboration outlives the block.
    const racers = await Promise.all(Array.from({ length: 12 }, () => registerUser(server.baseUrl)))
    const results = await Promise.all(
      racers.flatMap((r) => [api("POST", `/playlists/${priv.id}/collaborators`, owner, { user_id: r.user.id }), api("POST", `/users/${owner.user.id}/block`, r)])
    )
    for (const res of results) expect([201, 204, 403], JSON.stringify(res.body)).toContain(res.status)
    expect((await api("GET", `/playlists/${priv.id}/collaborators`, owner)).body.items).toEqual([])
  })

  it("duplicates into a private copy of what the caller can see", async () => {
    const p = await createPlaylist(owner, { title: "original", description: "d" })
    for (const t of [tracks[5]!.id, ownerPrivateTrack, tracks[6]!.id, tracks[7]!.id]) await add(owner, p.id, t)
    const res = await api("POST", `/playlists/${p.id}/duplicate`, other)
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ owner_id: other.user.id, title: "original (copy)", description: "d", visibility: "private", collaborative: false, track_count: 3, my_role: "owner" })
    expect(res.body.id).not.toBe(p.id)
    expect(await order(res.body.id, other)).toEqual([tracks[5]!.id, tracks[6]!.id, tracks[7]!.id])
    expect((await storedPositions(res.body.id)).map((r) => r.position)).toEqual([1, 2, 3])
    expectError(await api("GET", `/playlists/${res.body.id}`, owner), 404)

    const mine = await api("POST", `/playlists/${p.id}/duplicate`, owner)
    expect(mine.body.track_count).toBe(4)
    expectError(await api("POST", `/playlists/${p.id}/duplicate`), 401)
  })

  it("follows playlists idempotently, with a follower count and a list of followed playlists", async () => {
    const p = await createPlaylist(owner, { title: "followed" })
    for (let i = 0; i < 2; i++) expect((await api("POST", `/playlists/${p.id}/follow`, other)).status).toBe(204)
    expect((await api("GET", `/playlists/${p.id}`, other)).body).toMatchObject({ follower_count: 1, following: true })
    expect((await api("GET", `/playlists/${p.id}`, owner)).body.following).toBe(false)
    const followed = await api("GET", "/playlists/followed", other)
    expect(followed.status, JSON.stringify(followed.body)).toBe(200)
    expect(followed.body.items.map((x: any) => x.id)).toEqual([p.id])
    expectError(await api("POST", `/playlists/${p.id}/follow`, owner), 422, "CANNOT_FOLLOW_OWN_PLAYLIST")

    // Made private, it leaves the follower's list; unfollowing still works.
    await api("PATCH", `/playlists/${p.id}`, owner, { visibility: "private" })
    expect((await api("GET", "/playlists/followed", other)).body.items).toEqual([])
    for (let i = 0; i < 2; i++) expect((await api("DELETE", `/playlists/${p.id}/follow`, other)).status).toBe(204)
    expect((await api("GET", `/playlists/${p.id}`, owner)).body.follower_count).toBe(0)
  })

  it("keeps positions dense and every track exactly once under concurrent moves, adds and removes", async () => {
    const p = await createPlaylist(owner, { collaborative: true })
    await api("POST", `/playlists/${p.id}/collaborators`, owner, { user_id: editor.user.id })
    const initial = tracks.slice(0, 8).map((t) => t.id)
    for (const id of initial) await add(owner, p.id, id)
    const toRemove = initial.slice(6)
    const toAdd = tracks.slice(8, 12).map((t) => t.id)
    const stay = initial.slice(0, 6)

    let seed = 7
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    }
    const ops: Array<() => Promise<JsonResponse>> = []
    for (let i = 0; i < 40; i++) {
      const track = stay[random(stay.length)]!
      const position = 1 + random(12)
      const who = i % 2 === 0 ? owner : editor
      ops.push(() => api("PATCH", `/playlists/${p.id}/tracks/${track}`, who, { position }))
    }
    for (const id of toAdd) ops.push(() => api("POST", `/playlists/${p.id}/tracks`, editor, { track_id: id, position: 1 + random(10) }))
    for (const id of toRemove) ops.push(() => api("DELETE", `/playlists/${p.id}/tracks/${id}`, owner))
    // Shuffled, all in flight at once.
    for (let i = ops.length - 1; i > 0; i--) {
      const j = random(i + 1)
      ;[ops[i], ops[j]] = [ops[j]!, ops[i]!]
    }
    const results = await Promise.all(ops.map((op) => op()))
    for (const r of results) expect([200, 201, 204], JSON.stringify(r.body)).toContain(r.status)

    const stored = await storedPositions(p.id)
    expect(stored.map((r) => r.position)).toEqual(Array.from({ length: stay.length + toAdd.length }, (_, i) => i + 1))
    expect(stored.map((r) => r.track_id).sort()).toEqual([...stay, ...toAdd].sort())
    expect(await order(p.id, owner, 5)).toEqual(stored.map((r) => r.track_id))
    const got = (await api("GET", `/playlists/${p.id}`, owner)).body
    expect(got.track_count).toBe(stay.length + toAdd.length)
    const durations = new Map(tracks.map((t) => [t.id, t.duration_ms]))
    expect(got.total_duration_ms).toBe([...stay, ...toAdd].reduce((sum, id) => sum + durations.get(id)!, 0))
  })
})
