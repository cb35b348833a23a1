import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { ChatClient, newClientId } from "../support/chat.js"
import { freshDatabase } from "../support/database.js"
import { http, type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

/** What other domains tell the social side: notifications for likes, comments and sales; blocks that shut people out. */
const db = await freshDatabase("social_hooks")
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-hooks-"))
let server: RunningServer
let song: string
type User = Awaited<ReturnType<typeof registerUser>>
const clients: Array<ChatClient> = []

const api = (method: string, path: string, who?: User, body?: unknown, headers?: Record<string, string>) =>
  http(server.baseUrl, method, `/api/v1${path}`, {
    ...(who === undefined ? {} : { token: who.access_token }),
    ...(body === undefined ? {} : { body }),
    ...(headers === undefined ? {} : { headers })
  })
const user = (overrides: Record<string, unknown> = {}) => registerUser(server.baseUrl, overrides)
const notifications = async (who: User) => (await api("GET", "/notifications", who)).body.items as Array<any>

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir() })
  song = await generateAudio(work, { seconds: 3, format: "mp3", name: "hooks.mp3" })
}, 60_000)
afterAll(() => {
  for (const c of clients) c.ws.terminate()
  NodeFs.rmSync(work, { recursive: true, force: true })
})

const readyTrack = async (owner: User) => {
  const up = await uploadTrack(server.baseUrl, owner.access_token, { path: song, type: "audio/mpeg" })
  expect(up.status).toBe(201)
  return waitForTrack(server.baseUrl, owner.access_token, up.body.id)
}

describe("notifications from other domains", () => {
  it("a like notifies the owner once, a comment the owner and the author replied to, live over /ws too", async () => {
    const [artist, fan, other] = await Promise.all([user({ account_type: "creator" }), user(), user()])
    const track = await readyTrack(artist)
    const live = await ChatClient.connect(server.baseUrl, artist.access_token)
    clients.push(live)

    for (let i = 0; i < 2; i++) expect((await api("POST", `/tracks/${track.id}/like`, fan)).status).toBe(200)
    const pushed = await live.next((f) => f.type === "notification")
    expect(pushed.notification).toMatchObject({ type: "like", actor_id: fan.user.id })
    const top = await api("POST", `/tracks/${track.id}/comments`, other, { content: "nice drop", position_ms: 1000 })
    expect(top.status).toBe(201)
    const reply = await api("POST", `/tracks/${track.id}/comments`, fan, { content: "agreed", parent_id: top.body.id })
    expect(reply.status).toBe(201)

    const forArtist = await notifications(artist)
    expect(forArtist.filter((n) => n.type === "like")).toHaveLength(1)
    expect(forArtist.filter((n) => n.type === "comment").map((n) => n.actor_id).sort()).toEqual([fan.user.id, other.user.id].sort())
    expect((await notifications(other)).filter((n) => n.type === "comment").map((n) => n.actor_id)).toEqual([fan.user.id])
  }, 60_000)

  it("a paid order notifies the buyer and the seller", async () => {
    const [seller, buyer] = await Promise.all([user({ account_type: "producer" }), user()])
    const product = await api("POST", "/marketplace/products", seller, {
      title: "Night beat",
      type: "beat",
      licenses: [{ type: "basic", price_cents: 1999, currency: "EUR" }]
    })
    expect(product.status).toBe(201)
    const order = await api(
      "POST",
      "/marketplace/orders",
      buyer,
      { items: [{ product_id: product.body.id, license_id: product.body.licenses[0].id }] },
      { "idempotency-key": newClientId() }
    )
    expect(order.status).toBe(201)
    expect(order.body.status).toBe("paid")
    expect((await notifications(buyer)).find((n) => n.type === "order_paid")).toBeDefined()
    expect((await notifications(seller)).find((n) => n.type === "order_paid")).toMatchObject({ actor_id: buyer.user.id })
  }, 60_000)
})

describe("blocks reach comments and chat", () => {
  it("a blocked user cannot comment on the blocker's tracks or reply to their comments, open a DM, keep writing in an old one or add them to a room", async () => {
    const [artist, troll] = await Promise.all([user({ account_type: "creator" }), user()])
    const track = await readyTrack(artist)
    const t = await ChatClient.connect(server.baseUrl, troll.access_token)
    clients.push(t)
    const dm = await t.request({ type: "dm_open", user_id: artist.user.id })
    expect(dm.type).toBe("joined")
    expect((await t.request({ type: "send", room_id: dm.room_id, client_id: newClientId(), content: "hi" })).type).toBe("ack")

    expect((await api("POST", `/users/${troll.user.id}/block`, artist)).status).toBe(204)
    const comment = await api("POST", `/tracks/${track.id}/comments`, troll, { content: "spam" })
    expect(comment.status).toBe(403)
    expect(comment.body.error.code).toBe("BLOCKED")
    expect(await t.request({ type: "send", room_id: dm.room_id, client_id: newClientId(), content: "still here" })).toMatchObject({ type: "error", code: "BLOCKED" })
    expect(await t.request({ type: "dm_open", user_id: artist.user.id })).toMatchObject({ type: "error", code: "BLOCKED" })
    // Nor a room: neither adds the other to one.
    const room = await api("POST", "/chat/rooms", troll, { name: `trap ${newClientId()}`, type: "private" })
    expect(room.status, JSON.stringify(room.body)).toBe(201)
    const added = await api("POST", `/chat/rooms/${room.body.id}/members`, troll, { user_id: artist.user.id })
    expect([added.status, added.body.error?.code]).toEqual([403, "BLOCKED"])
    const members = await api("GET", `/chat/rooms/${room.body.id}/members`, troll)
    expect(members.body.items.map((m: any) => m.user_id)).toEqual([troll.user.id])
    // Nor a reply to the blocker's comment on someone else's track.
    const third = await user({ account_type: "creator" })
    const elsewhere = await readyTrack(third)
    const said = await api("POST", `/tracks/${elsewhere.id}/comments`, artist, { content: "love this" })
    expect(said.status, JSON.stringify(said.body)).toBe(201)
    const reply = await api("POST", `/tracks/${elsewhere.id}/comments`, troll, { content: "spam", parent_id: said.body.id })
    expect([reply.status, reply.body.error?.code]).toEqual([403, "BLOCKED"])
    expect((await api("POST", `/tracks/${elsewhere.id}/comments`, troll, { content: "a comment of my own" })).status).toBe(201)
    // No notification crosses a block either.
    expect((await api("POST", `/tracks/${track.id}/like`, troll)).status).toBe(200)
    await waitUntil("the like to be counted", async () => (await api("GET", `/tracks/${track.id}`, artist)).body.like_count === 1)
    expect((await notifications(artist)).filter((n) => n.actor_id === troll.user.id)).toEqual([])
  }, 60_000)
})
