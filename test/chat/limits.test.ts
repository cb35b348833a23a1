import * as NodeChildProcess from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeNet from "node:net"
import { describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, closeAtEnd } from "../support/chat.js"
import { freshDatabase } from "../support/database.js"
import { type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"

const db = await freshDatabase("chat_limits")
const track = closeAtEnd()

describe("chat limits across two nodes behind one Redis", () => {
  it("count a user's connections and frames on every node: 4009 over the cap, RATE_LIMITED over the combined burst", async () => {
    // A prefix of its own, so that no other run's counters are seen.
    const redis = { REDIS_URL: "redis://127.0.0.1:6379", REDIS_KEY_PREFIX: `test-${NodeCrypto.randomBytes(4).toString("hex")}:` }
    // A slow refill, so that the burst alone decides what passes while the test runs.
    const common = { DATABASE_URL: db, JWT_SECRET: NodeCrypto.randomBytes(32).toString("hex"), CHAT_MAX_CONNS_PER_USER: "2", CHAT_RATE_PER_SEC: "1", CHAT_RATE_BURST: "6", ...redis }
    const [node1, node2] = await Promise.all([
      startServer({ ...common, DATA_DIR: tempDataDir(), VEZA_ROLES: "api,chat" }),
      startServer({ ...common, DATA_DIR: tempDataDir(), VEZA_ROLES: "chat" })
    ])
    try {
      const [alice, bob] = await Promise.all([registerUser(node1.baseUrl), registerUser(node1.baseUrl)])

      // One connection on each node fills alice's cap of 2: a third on either node is refused.
      const a1 = track(await ChatClient.connect(node1.baseUrl, alice.access_token))
      const a2 = track(await ChatClient.connect(node2.baseUrl, alice.access_token))
      const third = track(ChatClient.open(node1.baseUrl, { token: alice.access_token }))
      expect(await third.next((f) => f.type === "error")).toMatchObject({ code: "TOO_MANY_CONNECTIONS" })
      expect((await third.closed).code).toBe(4009)
      // A closed connection stops counting on the other node too.
      await a2.close()
      // The node counts the connection out once it has seen the close, just after the client does.
      await new Promise((r) => setTimeout(r, 500))
      const again = track(await ChatClient.connect(node1.baseUrl, alice.access_token))
      expect(again.ws.readyState).toBe(again.ws.OPEN)
      await again.close()

      // Bob floods through both nodes: 4 + 4 frames, each node's share under the burst of 6, the sum over it.
      const b1 = track(await ChatClient.connect(node1.baseUrl, bob.access_token))
      const b2 = track(await ChatClient.connect(node2.baseUrl, bob.access_token))
      for (let i = 0; i < 4; i++) {
        b1.send({ type: "ping", ref: `n1-${i}` })
        b2.send({ type: "ping", ref: `n2-${i}` })
      }
      const replies = await Promise.all(
        [...[0, 1, 2, 3].map((i) => b1.next((f) => f.ref === `n1-${i}`)), ...[0, 1, 2, 3].map((i) => b2.next((f) => f.ref === `n2-${i}`))]
      )
      const pongs = replies.filter((f) => f.type === "pong")
      const refused = replies.filter((f) => f.type === "error" && f.code === "RATE_LIMITED")
      expect(pongs.length + refused.length).toBe(8)
      // The burst, plus at most one token refilled while the frames travel.
      expect(pongs.length).toBeGreaterThanOrEqual(6)
      expect(pongs.length).toBeLessThanOrEqual(7)
      for (const f of refused) {
        expect(f.retry_after_ms).toBeGreaterThan(0)
        expect(f.retry_after_ms).toBeLessThanOrEqual(1000)
      }
      // The other user's bucket is untouched, and a connection's replies keep their order.
      expect((await a1.request({ type: "ping" })).type).toBe("pong")
      for (const c of [b1, b2]) {
        const refs = c.frames.filter((f) => f.ref !== undefined).map((f) => f.ref)
        expect(refs).toEqual([...refs].sort())
      }
    } finally {
      await Promise.all([node1.stop(), node2.stop()])
    }
  }, 60_000)
})

/** A Redis of this test's own, on a free port, so that it can be stopped. */
const ownRedis = async () => {
  const port = await new Promise<number>((resolve) => {
    const probe = NodeNet.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as NodeNet.AddressInfo
      probe.close(() => resolve(port))
    })
  })
  const child = NodeChildProcess.spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], { stdio: "ignore" })
  await waitUntil("redis to listen", () => new Promise<boolean>((resolve) => {
    const socket = NodeNet.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)))
    socket.on("error", () => resolve(false))
  }), 10_000)
  return { url: `redis://127.0.0.1:${port}`, stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
  }
}

describe("chat limits when Redis goes away", () => {
  it("fail open to the node's own cap and bucket: chat goes on", async () => {
    const redis = await ownRedis()
    let node: RunningServer | undefined
    try {
      // Inside the try: a server that fails to start must not leave this Redis running.
      node = await startServer({
        DATABASE_URL: db,
        DATA_DIR: tempDataDir(),
        REDIS_URL: redis.url,
        CHAT_MAX_CONNS_PER_USER: "2",
        CHAT_RATE_PER_SEC: "1",
        CHAT_RATE_BURST: "4"
      })
      const user = await registerUser(node.baseUrl)
      const first = track(await ChatClient.connect(node.baseUrl, user.access_token))
      expect((await first.request({ type: "ping" })).type).toBe("pong")
      await redis.stop()

      // Connections are still admitted, up to the node's own cap.
      const second = track(await ChatClient.connect(node.baseUrl, user.access_token))
      const third = track(ChatClient.open(node.baseUrl, { token: user.access_token }))
      expect(await third.next((f) => f.type === "error")).toMatchObject({ code: "TOO_MANY_CONNECTIONS" })
      expect((await third.closed).code).toBe(4009)
      // Frames still pass, and a flood is still limited, by the node's bucket (one token left of 4, plus refill).
      for (let i = 0; i < 6; i++) second.send({ type: "ping", ref: `p${i}` })
      const replies = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => second.next((f) => f.ref === `p${i}`)))
      expect(replies[0]!.type).toBe("pong")
      expect(replies.filter((f) => f.type === "error" && f.code === "RATE_LIMITED").length).toBeGreaterThanOrEqual(2)
    } finally {
      await node?.stop()
      await redis.stop()
    }
  }, 60_000)
})
