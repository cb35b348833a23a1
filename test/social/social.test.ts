import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { ChatClient } from "../support/chat.js"
import { freshDatabase } from "../support/database.js"
import { http, type JsonResponse, type RunningServer, startServer } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

const db = await freshDatabase("social")
let server: RunningServer
type User = Awaited<ReturnType<typeof registerUser>>
const clients: Array<ChatClient> = []

const api = <T = any>(method: string, path: string, who?: User, body?: unknown) =>
  http<T>(server.baseUrl, method, `/api/v1${path}`, { ...(who === undefined ? {} : { token: who.access_token }), ...(body === undefined ? {} : { body }) })

const expectError = (res: JsonResponse, status: number, code?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(Object.keys(res.body)).toEqual(["error"])
  expect(res.body.error).toMatchObject({ code: code ?? expect.any(String), message: expect.any(String) })
}

const user = (overrides: Record<string, unknown> = {}) => registerUser(server.baseUrl, overrides)
const profile = async (who: User) => (await api("GET", `/users/${who.user.id}`)).body as { follower_count: number; following_count: number }
const follow = async (a: User, b: User) => expect((await api("POST", `/users/${b.user.id}/follow`, a)).status).toBe(204)

/** Every entry of a list, following its cursors `limit` at a time. */
const all = async (path: string, who: User | undefined, limit = 2) => {
  const items: Array<any> = []
  let cursor: string | null = null
  do {
    const res: JsonResponse = await api("GET", `${path}${path.includes("?") ? "&" : "?"}limit=${limit}${cursor === null ? "" : `&cursor=${cursor}`}`, who)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    items.push(...res.body.items)
    cursor = res.body.next_cursor
  } while (cursor !== null)
  return items
}

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: db })
})
afterAll(() => {
  for (const c of clients) c.ws.terminate()
})

describe("follows", () => {
  it("follow and unfollow are idempotent 204s that keep both profiles' counts", async () => {
    const [a, b] = await Promise.all([user(), user()])
    for (let i = 0; i < 2; i++) await follow(a, b)
    expect(await profile(b)).toMatchObject({ follower_count: 1, following_count: 0 })
    expect(await profile(a)).toMatchObject({ follower_count: 0, following_count: 1 })
    await follow(b, a)
    expect(await profile(a)).toMatchObject({ follower_count: 1, following_count: 1 })

    for (let i = 0; i < 2; i++) expect((await api("DELETE", `/users/${b.user.id}/follow`, a)).status).toBe(204)
    expect(await profile(b)).toMatchObject({ follower_count: 0, following_count: 1 })
    expect(await profile(a)).toMatchObject({ follower_count: 1, following_count: 0 })
  })

  it("tells the caller how they stand with someone, whatever the size of their following list", async () => {
    const [a, b, c] = await Promise.all([user(), user(), user()])
    const relationship = async (who: User, other: User) => {
      const res = await api("GET", `/users/${other.user.id}/relationship`, who)
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      return res.body
    }
    expect(await relationship(a, b)).toEqual({ user_id: b.user.id, following: false, followed_by: false, blocking: false })
    await follow(a, b)
    expect(await relationship(a, b)).toMatchObject({ following: true, followed_by: false })
    expect(await relationship(b, a)).toMatchObject({ following: false, followed_by: true })
    // Follows made after put b past the first page of a's following list; b is still followed.
    for (const later of await Promise.all([user(), user(), user()])) await follow(a, later)
    expect((await api("GET", `/users/${a.user.id}/following?limit=2`, a)).body.items.map((u: { id: string }) => u.id)).not.toContain(b.user.id)
    expect(await relationship(a, b)).toMatchObject({ following: true })
    expect((await api("POST", `/users/${c.user.id}/block`, b)).status).toBe(204)
    expect(await relationship(b, c)).toMatchObject({ blocking: true })
    // Being blocked is not told.
    expect(await relationship(c, b)).toEqual({ user_id: b.user.id, following: false, followed_by: false, blocking: false })
    expectError(await api("GET", "/users/00000000-0000-4000-8000-000000000000/relationship", a), 404, "USER_NOT_FOUND")
    expectError(await api("GET", "/users/nope/relationship", a), 400, "VALIDATION_ERROR")
    expectError(await api("GET", `/users/${b.user.id}/relationship`), 401)
  })

  it("refuses self-follows, unknown users, bad ids and anonymous calls", async () => {
    const a = await user()
    expectError(await api("POST", `/users/${a.user.id}/follow`, a), 422, "CANNOT_FOLLOW_SELF")
    expectError(await api("DELETE", `/users/${a.user.id}/follow`, a), 422, "CANNOT_FOLLOW_SELF")
    expectError(await api("POST", "/users/00000000-0000-4000-8000-000000000000/follow", a), 404, "USER_NOT_FOUND")
    expectError(await api("POST", "/users/nope/follow", a), 400, "VALIDATION_ERROR")
    expectError(await api("POST", `/users/${a.user.id}/follow`), 401)
    expectError(await api("POST", `/users/${a.user.id}/block`), 401)
  })

  it("lists followers and following newest first, paged without gaps", async () => {
    const star = await user()
    const fans = [await user(), await user(), await user(), await user(), await user()]
    for (const fan of fans) await follow(fan, star)
    const followers = await all(`/users/${star.user.id}/followers`, undefined)
    expect(followers.map((f) => f.id)).toEqual(fans.map((f) => f.user.id).reverse())
    expect(followers[0]).toMatchObject({ username: fans[4]!.user.username, display_name: null, avatar_url: null, since: expect.any(String) })
    const following = await all(`/users/${fans[0]!.user.id}/following`, undefined)
    expect(following.map((f) => f.id)).toEqual([star.user.id])

    expectError(await api("GET", `/users/${star.user.id}/followers?cursor=bogus`), 400, "INVALID_CURSOR")
    expectError(await api("GET", `/users/${star.user.id}/followers?limit=101`), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/users/00000000-0000-4000-8000-000000000000/following"), 404, "USER_NOT_FOUND")
  })
})

describe("blocks", () => {
  it("a block ends follows both ways and keeps both sides from following; unblock lifts it", async () => {
    const [a, b] = await Promise.all([user(), user()])
    await follow(a, b)
    await follow(b, a)
    for (let i = 0; i < 2; i++) expect((await api("POST", `/users/${b.user.id}/block`, a)).status).toBe(204)
    expect(await profile(a)).toMatchObject({ follower_count: 0, following_count: 0 })
    expect(await profile(b)).toMatchObject({ follower_count: 0, following_count: 0 })
    expectError(await api("POST", `/users/${a.user.id}/follow`, b), 403, "BLOCKED")
    expectError(await api("POST", `/users/${b.user.id}/follow`, a), 403, "BLOCKED")

    const blocked = await api("GET", "/blocks", a)
    expect(blocked.body.items.map((u: any) => u.id)).toEqual([b.user.id])
    expect((await api("GET", "/blocks", b)).body.items).toEqual([])

    // Only the blocker can lift it.
    expect((await api("DELETE", `/users/${a.user.id}/block`, b)).status).toBe(204)
    expectError(await api("POST", `/users/${a.user.id}/follow`, b), 403, "BLOCKED")
    for (let i = 0; i < 2; i++) expect((await api("DELETE", `/users/${b.user.id}/block`, a)).status).toBe(204)
    await follow(b, a)
    expect(await profile(a)).toMatchObject({ follower_count: 1 })

    expectError(await api("POST", `/users/${a.user.id}/block`, a), 422, "CANNOT_BLOCK_SELF")
    expectError(await api("POST", "/users/00000000-0000-4000-8000-000000000000/block", a), 404, "USER_NOT_FOUND")
  })
})

describe("follows racing blocks", () => {
  it("a follow and a block sent at the same moment never leave a follow behind the block", async () => {
    for (let round = 0; round < 15; round++) {
      const [a, b] = await Promise.all([user(), user()])
      const [followed, blocked] = await Promise.all([api("POST", `/users/${b.user.id}/follow`, a), api("POST", `/users/${a.user.id}/block`, b)])
      expect(blocked.status).toBe(204)
      expect([204, 403]).toContain(followed.status)
      expect(await profile(b)).toMatchObject({ follower_count: 0 })
      expect(await profile(a)).toMatchObject({ following_count: 0 })
    }
  }, 60_000)
})

describe("feed", () => {
  it("shows the public, playable tracks of followed creators, newest first, paged", async () => {
    const [creator, stranger, listener] = await Promise.all([user({ account_type: "creator" }), user({ account_type: "creator" }), user()])
    await follow(listener, creator)
    const dir = NodePath.join(NodeOs.tmpdir(), `veza-feed-${process.pid}`)
    const publish = async (who: User, visibility: string, title: string) => {
      const res = await uploadTrack(server.baseUrl, who.access_token, { path: await generateAudio(dir, { seconds: 1, format: "wav" }) }, { title, visibility })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      return waitForTrack(server.baseUrl, who.access_token, res.body.id)
    }
    const first = await publish(creator, "public", "first")
    await publish(creator, "private", "hidden")
    await publish(creator, "unlisted", "unlisted")
    await publish(stranger, "public", "not followed")
    const second = await publish(creator, "public", "second")
    const third = await publish(creator, "public", "third")

    const feed = await all("/feed", listener)
    expect(feed.map((t) => t.id)).toEqual([third.id, second.id, first.id])
    expect(feed[0]).toMatchObject({ title: "third", creator_id: creator.user.id, creator_username: creator.user.username, visibility: "public", status: "ready" })
    expect((await api("GET", "/feed", stranger)).body).toEqual({ items: [], next_cursor: null })
    expectError(await api("GET", "/feed"), 401)
    expectError(await api("GET", "/feed?cursor=x"), 401)
    expectError(await api("GET", "/feed?cursor=x", listener), 400, "INVALID_CURSOR")
  }, 120_000)
})

describe("notifications", () => {
  it("lists, counts unread, marks one and all read; only one's own", async () => {
    const target = await user()
    const fans = [await user(), await user(), await user()]
    for (const fan of fans) await follow(fan, target)
    // Following again changes nothing, so it notifies nobody.
    await follow(fans[0]!, target)

    const inbox = await api("GET", "/notifications", target)
    expect(inbox.status, JSON.stringify(inbox.body)).toBe(200)
    expect(inbox.body.unread_count).toBe(3)
    expect(inbox.body.next_cursor).toBeNull()
    expect(inbox.body.items.map((n: any) => n.actor_id)).toEqual(fans.map((f) => f.user.id).reverse())
    expect(inbox.body.items[0]).toMatchObject({ type: "follow", actor_username: fans[2]!.user.username, payload: {}, read: false })
    expect(await all("/notifications", target, 1)).toHaveLength(3)

    const [newest] = inbox.body.items
    for (let i = 0; i < 2; i++) expect((await api("POST", `/notifications/${newest.id}/read`, target)).status).toBe(204)
    const unread = await api("GET", "/notifications?unread=true", target)
    expect(unread.body.unread_count).toBe(2)
    expect(unread.body.items.map((n: any) => n.id)).not.toContain(newest.id)
    expect((await api("GET", "/notifications?unread=false", target)).body.items[0]).toMatchObject({ id: newest.id, read: true })

    expectError(await api("POST", `/notifications/${newest.id}/read`, fans[0]), 404, "NOTIFICATION_NOT_FOUND")
    expectError(await api("POST", "/notifications/00000000-0000-4000-8000-000000000000/read", target), 404, "NOTIFICATION_NOT_FOUND")
    expectError(await api("POST", "/notifications/nope/read", target), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/notifications?unread=maybe", target), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/notifications?cursor=zz", target), 400, "INVALID_CURSOR")
    expectError(await api("GET", "/notifications"), 401)

    expect((await api("POST", "/notifications/read-all", target)).status).toBe(204)
    const after = await api("GET", "/notifications?unread=true", target)
    expect(after.body).toEqual({ items: [], next_cursor: null, unread_count: 0 })
    expect((await api("GET", "/notifications", fans[0])).body.unread_count).toBe(0)
  })

  it("arrive live on the user's chat connections as a notification frame", async () => {
    const [target, fan] = await Promise.all([user(), user()])
    const first = await ChatClient.connect(server.baseUrl, target.access_token)
    const second = await ChatClient.connect(server.baseUrl, target.access_token)
    const onlooker = await ChatClient.connect(server.baseUrl, fan.access_token)
    clients.push(first, second, onlooker)
    await follow(fan, target)
    for (const client of [first, second]) {
      const frame = await client.next((f) => f.type === "notification")
      expect(frame.notification).toMatchObject({ type: "follow", actor_id: fan.user.id, actor_username: fan.user.username, read: false, payload: {} })
      const stored = (await api("GET", "/notifications", target)).body.items[0]
      expect(frame.notification).toEqual(stored)
    }
    await new Promise((r) => setTimeout(r, 200))
    expect(onlooker.all("notification")).toEqual([])
  })
})
