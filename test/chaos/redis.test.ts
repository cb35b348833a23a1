import * as NodeCrypto from "node:crypto"
import { describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, closeAtEnd, createRoom, range, seqsOf } from "../support/chat.js"
import { freshDatabase } from "../support/database.js"
import { http, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { figure, scratchRedis } from "./support.js"

const track = closeAtEnd()


describe("Redis stopped under two chat nodes", () => {
  it("local delivery goes on, readiness says so, cross-node delivery resumes when Redis is back, since_seq fills the gap", async () => {
    const redis = await scratchRedis()
    const common = {
      DATABASE_URL: await freshDatabase("chaos_redis"),
      JWT_SECRET: NodeCrypto.randomBytes(32).toString("hex"),
      REDIS_URL: redis.url,
      CHAT_RATE_PER_SEC: "1000",
      CHAT_RATE_BURST: "1000"
    }
    const node1 = await startServer({ ...common, DATA_DIR: tempDataDir(), VEZA_ROLES: "api,chat" })
    const node2 = await startServer({ ...common, DATA_DIR: tempDataDir(), VEZA_ROLES: "chat" })
    try {
      const [alice, carol, bob] = await Promise.all([registerUser(node1.baseUrl), registerUser(node1.baseUrl), registerUser(node1.baseUrl)])
      const room = await createRoom(node1.baseUrl, alice.access_token)
      // Alice and Carol share node 1; Bob is on node 2.
      const a = track(await ChatClient.connect(node1.baseUrl, alice.access_token))
      const c = track(await ChatClient.connect(node1.baseUrl, carol.access_token))
      const b = track(await ChatClient.connect(node2.baseUrl, bob.access_token))
      for (const client of [a, c, b]) expect((await client.request({ type: "join", room_id: room.id })).type).toBe("joined")
      const send = (client: ChatClient, content: string) => client.request({ type: "send", room_id: room.id, client_id: NodeCrypto.randomUUID(), content })

      expect((await send(a, "before")).type).toBe("ack")
      await b.next((f) => f.type === "message" && f.message.content === "before")

      const stoppedAt = Date.now()
      await redis.stop()
      for (const node of [node1, node2]) {
        await waitUntil("readiness to report Redis", async () => (await http(node.baseUrl, "GET", "/readyz")).status === 503, 10_000)
        const ready = await http(node.baseUrl, "GET", "/readyz")
        expect(ready.body).toMatchObject({ ready: false, checks: { database: "ok", redis: expect.not.stringMatching(/^ok$/) } })
        // Alive all the same: a liveness probe must not restart a node for this.
        expect((await http(node.baseUrl, "GET", "/healthz")).status).toBe(200)
      }
      const notReadyAfterMs = Date.now() - stoppedAt

      // Node 1 stores and delivers locally; node 2 keeps serving its own clients too.
      const during = 20
      for (let i = 0; i < during; i++) expect((await send(a, `during ${i}`)).type).toBe("ack")
      await waitUntil("carol to get every message from her own node", () => c.frames.filter((f) => f.type === "message" && f.message.content.startsWith("during")).length === during, 5_000)
      const own = await send(b, "bob alone")
      expect(own.type).toBe("ack")
      // The REST API, on the database, does not depend on Redis either.
      expect((await http(node1.baseUrl, "GET", `/api/v1/chat/rooms/${room.id}/messages?limit=5`, { token: alice.access_token })).status).toBe(200)
      // Nothing crossed over (a sender gets an ack, not its own message).
      expect(seqsOf(b.frames)).toEqual([])

      const restartedAt = Date.now()
      await redis.start()
      for (const node of [node1, node2]) {
        await waitUntil("readiness to come back", async () => (await http(node.baseUrl, "GET", "/readyz")).status === 200, 15_000)
      }
      const readyAfterMs = Date.now() - restartedAt
      // The subscriber reconnects and subscribes again by itself: new messages cross again.
      let probes = 0
      await waitUntil(
        "cross-node delivery to resume",
        async () => {
          await send(a, `after ${probes++}`)
          return b.frames.some((f) => f.type === "message" && String(f.message.content).startsWith("after"))
        },
        15_000
      )
      const crossAfterMs = Date.now() - restartedAt

      // Bob rejoins from what he saw before the outage and gets the gap exactly once, in order.
      const joined = await b.request({ type: "join", room_id: room.id, since_seq: 1 })
      expect(joined.recovered).toBe(true)
      const recovered = joined.messages.map((m: any) => m.seq as number)
      const live = seqsOf(b.frames).filter((s) => s > 1)
      const lastSeq = Math.max(...recovered, ...live)
      expect(Array.from(new Set([1, ...recovered, ...live])).sort((x, y) => x - y)).toEqual(range(1, lastSeq))
      expect(recovered).toEqual(range(2, recovered.length + 1))
      expect(joined.messages.filter((m: any) => String(m.content).startsWith("during"))).toHaveLength(during)
      // Alice learns of Bob's message from the outage the same way.
      const aliceJoined = await a.request({ type: "join", room_id: room.id, since_seq: 1 })
      expect(aliceJoined.messages.some((m: any) => m.id === own.message.id)).toBe(true)

      figure("redis-stop", { readiness_false_after_ms: notReadyAfterMs, readiness_back_after_restart_ms: readyAfterMs, cross_node_after_restart_ms: crossAfterMs, messages_recovered_with_since_seq: recovered.length })
    } finally {
      await Promise.all([node1.stop(), node2.stop()])
    }
  }, 90_000)
})
