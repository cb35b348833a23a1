import * as NodeCrypto from "node:crypto"
import { describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, closeAtEnd, createRoom, type Frame, newClientId, range, seqsOf } from "../support/chat.js"
import { freshDatabase, query } from "../support/database.js"
import { http, startServer, tempDataDir, waitUntil } from "../support/server.js"

const db = await freshDatabase("chat_delivery")
const track = closeAtEnd()


describe("chat delivery under pressure", () => {
  it("a paused reader is closed 4008 while the others get every message at once; it recovers the rest with since_seq", async () => {
    const server = await startServer({
      DATABASE_URL: db,
      DATA_DIR: tempDataDir(),
      CHAT_RATE_PER_SEC: "100000",
      CHAT_RATE_BURST: "100000",
      CHAT_MAILBOX_FRAMES: "64",
      CHAT_MAILBOX_BYTES: "65536",
      CHAT_RECOVERY_WINDOW: "5000"
    })
    try {
      const [alice, bob, carol] = await Promise.all([registerUser(server.baseUrl), registerUser(server.baseUrl), registerUser(server.baseUrl)])
      const room = await createRoom(server.baseUrl, alice.access_token)
      const sender = track(await ChatClient.connect(server.baseUrl, alice.access_token))
      const fast = track(await ChatClient.connect(server.baseUrl, bob.access_token))
      const slow = track(await ChatClient.connect(server.baseUrl, carol.access_token))
      for (const c of [sender, fast, slow]) await c.request({ type: "join", room_id: room.id })
      const slowSocket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
      slowSocket.pause()

      const total = 2500
      const content = "x".repeat(4000)
      const acks = Array.from({ length: total }, (_, i) => sender.request({ type: "send", room_id: room.id, client_id: `c${i}`, content }, 60_000))
      expect((await Promise.all(acks)).every((a) => a.type === "ack")).toBe(true)
      // The fast reader has everything while the slow one is still paused.
      await waitUntil("the fast reader to get every message", () => fast.frames.filter((f) => f.type === "message").length === total, 30_000)
      expect(seqsOf(fast.frames)).toEqual(range(1, total))
      const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text()
      expect(metrics).toMatch(/veza_chat_frames_dropped_total\{reason="slow_consumer"\} 1/)

      slowSocket.resume()
      expect((await slow.closed).code).toBe(4008)
      const got = seqsOf(slow.frames)
      expect(got).toEqual(range(1, got.length))
      expect(got.length).toBeLessThan(total)

      const back = track(await ChatClient.connect(server.baseUrl, carol.access_token))
      const joined = await back.request({ type: "join", room_id: room.id, since_seq: got.length }, 30_000)
      expect(joined.recovered).toBe(true)
      expect([...got, ...joined.messages.map((m: any) => m.seq)]).toEqual(range(1, total))
    } finally {
      await server.stop()
    }
  }, 120_000)

  it("a reader cut off mid-stream reconnects with since_seq and ends with every acknowledged message exactly once, in order", async () => {
    const server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), CHAT_RATE_PER_SEC: "100000", CHAT_RATE_BURST: "100000" })
    try {
      const [alice, bob] = await Promise.all([registerUser(server.baseUrl), registerUser(server.baseUrl)])
      const room = await createRoom(server.baseUrl, alice.access_token)
      const sender = track(await ChatClient.connect(server.baseUrl, alice.access_token))
      let reader = track(await ChatClient.connect(server.baseUrl, bob.access_token))
      for (const c of [sender, reader]) await c.request({ type: "join", room_id: room.id })

      const total = 300
      const acked: Array<{ id: string; seq: number }> = []
      const streaming = (async () => {
        for (let i = 0; i < total; i++) {
          const ack = await sender.request({ type: "send", room_id: room.id, client_id: `m${i}`, content: `m${i}` })
          acked.push({ id: ack.message.id, seq: ack.message.seq })
        }
      })()
      const received: Array<{ id: string; seq: number }> = []
      const take = (frames: Array<Frame>) => {
        for (const f of frames.splice(0)) if (f.type === "message") received.push({ id: f.message.id, seq: f.message.seq })
      }
      await waitUntil("the reader to be mid-stream", () => reader.frames.filter((f) => f.type === "message").length >= 100)
      reader.ws.terminate()
      take(reader.frames)
      await new Promise((r) => setTimeout(r, 200))
      reader = track(await ChatClient.connect(server.baseUrl, bob.access_token))
      const joined = await reader.request({ type: "join", room_id: room.id, since_seq: received[received.length - 1]!.seq })
      expect(joined.recovered).toBe(true)
      for (const m of joined.messages) received.push({ id: m.id, seq: m.seq })
      await streaming
      await waitUntil("the rest of the stream", () => {
        take(reader.frames)
        return received.length >= total
      })
      expect(received.map((m) => m.seq)).toEqual(range(1, total))
      expect(received.map((m) => m.id)).toEqual(acked.map((a) => a.id))
    } finally {
      await server.stop()
    }
  }, 60_000)

  it("SIGTERM: every acknowledged message is stored once, readers get their queued frames, then close 1001; exit 0", async () => {
    const server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), CHAT_RATE_PER_SEC: "100000", CHAT_RATE_BURST: "100000", SHUTDOWN_GRACE_MS: "5000" })
    const [alice, bob] = await Promise.all([registerUser(server.baseUrl), registerUser(server.baseUrl)])
    const room = await createRoom(server.baseUrl, alice.access_token)
    const sender = track(await ChatClient.connect(server.baseUrl, alice.access_token))
    const reader = track(await ChatClient.connect(server.baseUrl, bob.access_token))
    for (const c of [sender, reader]) await c.request({ type: "join", room_id: room.id })

    const acked: Array<string> = []
    let sending = true
    const loop = (async () => {
      for (let i = 0; sending; i++) {
        const reply = await sender.request({ type: "send", room_id: room.id, client_id: `s${i}`, content: `n${i}` }).catch(() => undefined)
        if (reply?.type !== "ack") return
        acked.push(reply.message.id)
      }
    })()
    await waitUntil("some traffic", () => acked.length >= 20)
    const code = server.stop("SIGTERM")
    const [senderClosed, readerClosed] = await Promise.all([sender.closed, reader.closed])
    sending = false
    await loop
    expect(await code).toBe(0)
    expect(senderClosed.code).toBe(1001)
    expect(readerClosed.code).toBe(1001)

    const stored = await query<{ id: string; seq: string }>(db, "select id, seq from chat_messages where room_id = $1 order by seq", [room.id])
    expect(stored.map((r) => Number(r.seq))).toEqual(range(1, stored.length))
    const storedIds = new Set(stored.map((r) => r.id))
    expect(acked.every((id) => storedIds.has(id))).toBe(true)
    // What the reader got is an unbroken prefix, and includes everything acknowledged before the sender's last ack.
    const got = seqsOf(reader.frames)
    expect(got).toEqual(range(1, got.length))
    expect(got.length).toBeGreaterThanOrEqual(acked.length - 1)
  }, 60_000)
})

describe("two chat nodes behind one Redis", () => {
  it("fan messages, presence and membership changes across processes in one order", async () => {
    const redis = { REDIS_URL: "redis://127.0.0.1:6379", REDIS_KEY_PREFIX: `test-${NodeCrypto.randomBytes(4).toString("hex")}:` }
    // One JWT secret for the fleet: without it each process keeps its own under its DATA_DIR.
    const common = { DATABASE_URL: db, JWT_SECRET: NodeCrypto.randomBytes(32).toString("hex"), CHAT_RATE_PER_SEC: "1000", CHAT_RATE_BURST: "1000", ...redis }
    const api = await startServer({ ...common, DATA_DIR: tempDataDir(), VEZA_ROLES: "api" })
    const node1 = await startServer({ ...common, DATA_DIR: tempDataDir(), VEZA_ROLES: "chat" })
    const node2 = await startServer({ ...common, DATA_DIR: tempDataDir(), VEZA_ROLES: "chat" })
    try {
      const ready = await http(node1.baseUrl, "GET", "/readyz")
      expect(ready.status).toBe(200)
      expect(JSON.stringify(ready.body)).toContain("redis")
      const [alice, bob, carol] = await Promise.all([registerUser(api.baseUrl), registerUser(api.baseUrl), registerUser(api.baseUrl)])
      const room = await createRoom(api.baseUrl, alice.access_token, { name: "across" })
      const a = track(await ChatClient.connect(node1.baseUrl, alice.access_token))
      const b = track(await ChatClient.connect(node2.baseUrl, bob.access_token))
      const c = track(await ChatClient.connect(node2.baseUrl, carol.access_token))
      for (const client of [a, b, c]) expect((await client.request({ type: "join", room_id: room.id })).type).toBe("joined")
      // Bob's presence, held by node 2, is known on node 1.
      await waitUntil("alice to see bob online", async () => {
        const joined = await a.request({ type: "join", room_id: room.id })
        return joined.presence.some((p: any) => p.user_id === bob.user.id && p.status === "online")
      }, 10_000)

      await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).request({ type: "send", room_id: room.id, client_id: newClientId(), content: `x${i}` }))
      )
      for (const client of [a, b, c]) {
        await waitUntil("all 60 messages", () => client.frames.filter((f) => f.type === "message").length >= 60, 10_000)
        expect(seqsOf(client.frames)).toEqual(range(1, 60))
      }

      // A kick on the API node reaches the connection on node 2.
      expect((await http(api.baseUrl, "DELETE", `/api/v1/chat/rooms/${room.id}/members/${carol.user.id}`, { token: alice.access_token })).status).toBe(204)
      expect(await c.next((f) => f.type === "left")).toMatchObject({ room_id: room.id, reason: "kicked" })

      await b.close()
      expect(await a.next((f) => f.type === "presence" && f.user_id === bob.user.id && f.status === "offline", 10_000)).toBeDefined()
    } finally {
      await Promise.all([node1.stop(), node2.stop(), api.stop()])
    }
  }, 90_000)
})
