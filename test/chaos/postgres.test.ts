import * as NodeCrypto from "node:crypto"
import { describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, createRoom, type Frame } from "../support/chat.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { figure, percentile, type Sample, scratchPostgres, timed } from "./support.js"

const CONNECT_TIMEOUT_MS = 1000
const STATEMENT_TIMEOUT_MS = 2000
/** What any request may take while the database is away: the pool's connect timeout plus scheduling slack. */
const OUTAGE_BOUND_MS = CONNECT_TIMEOUT_MS + 1500

const UNAVAILABLE = ["DATABASE_UNAVAILABLE", "DATABASE_TIMEOUT"]

/** One line per call and outcome, so a failure lists every call that misbehaved at once. */
const distinct = (samples: ReadonlyArray<Sample & { name: string }>) =>
  Array.from(new Set(samples.map((x) => `${x.name}: ${x.status} ${x.code ?? ""}${x.ms >= OUTAGE_BOUND_MS ? ` after ${x.ms} ms` : ""}`)))

type User = Awaited<ReturnType<typeof registerUser>>

/**
 * A buyer, a seller's product with a file the buyer paid for, and a chat
 * room: enough to exercise reads, writes, signed links and authentication.
 */
const seed = async (server: RunningServer) => {
  const seller = await registerUser(server.baseUrl, { account_type: "producer" })
  const buyer = await registerUser(server.baseUrl)
  const product = await http(server.baseUrl, "POST", "/api/v1/marketplace/products", {
    token: seller.access_token,
    body: { title: "Chaos beat", type: "sample_pack", licenses: [{ type: "basic", price_cents: 500, currency: "EUR" }] }
  })
  expect(product.status, JSON.stringify(product.body)).toBe(201)
  const form = new FormData()
  form.append("file", new Blob([NodeCrypto.randomBytes(4096)], { type: "application/zip" }), "kit.zip")
  const file = await fetch(`${server.baseUrl}/api/v1/marketplace/products/${product.body.id}/files`, {
    method: "POST",
    body: form,
    headers: { authorization: `Bearer ${seller.access_token}` }
  })
  expect(file.status).toBe(201)
  const order = await http(server.baseUrl, "POST", "/api/v1/marketplace/orders", {
    token: buyer.access_token,
    headers: { "idempotency-key": NodeCrypto.randomUUID() },
    body: { items: [{ product_id: product.body.id, license_id: product.body.licenses[0].id }] }
  })
  expect(order.status, JSON.stringify(order.body)).toBe(201)
  const link = await http(server.baseUrl, "GET", `/api/v1/marketplace/download/${product.body.id}`, { token: buyer.access_token })
  expect(link.status).toBe(200)
  const room = await createRoom(server.baseUrl, seller.access_token)
  return { seller, buyer, productId: product.body.id as string, licenseId: product.body.licenses[0].id as string, signedUrl: link.body.url as string, roomId: room.id }
}

/** The calls under load: each names what it exercises. */
const calls = (server: RunningServer, s: Awaited<ReturnType<typeof seed>>) => {
  const auth = (u: User) => ({ authorization: `Bearer ${u.access_token}` })
  return {
    profile: () => timed(`${server.baseUrl}/api/v1/users/${s.seller.user.id}`),
    me: () => timed(`${server.baseUrl}/api/v1/auth/me`, { headers: auth(s.buyer) }),
    tracks: () => timed(`${server.baseUrl}/api/v1/tracks?limit=5`),
    downloadLink: () => timed(`${server.baseUrl}/api/v1/marketplace/download/${s.productId}`, { headers: auth(s.buyer) }),
    signedDownload: () => timed(server.baseUrl + s.signedUrl),
    chatHistory: () => timed(`${server.baseUrl}/api/v1/chat/rooms/${s.roomId}/messages`, { headers: auth(s.seller) }),
    orders: () => timed(`${server.baseUrl}/api/v1/marketplace/orders`, { headers: auth(s.buyer) }),
    createRoom: () =>
      timed(`${server.baseUrl}/api/v1/chat/rooms`, {
        method: "POST",
        headers: { ...auth(s.seller), "content-type": "application/json" },
        body: JSON.stringify({ name: "load", type: "public" })
      })
  }
}

type Calls = ReturnType<typeof calls>

/** Runs every call in a loop, `workers` at a time, until `stop` resolves; returns every sample by call name. */
const load = (c: Calls, workers: number) => {
  const samples: Array<Sample & { name: string }> = []
  let running = true
  const names = Object.keys(c) as Array<keyof Calls>
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let i = w; running; i++) {
      const name = names[i % names.length]!
      samples.push({ name, ...(await c[name]()) })
    }
  })
  return {
    samples,
    stop: async () => {
      running = false
      await Promise.all(loops)
      return samples
    }
  }
}

const summary = (samples: ReadonlyArray<Sample>) => {
  const byStatus: Record<string, number> = {}
  for (const s of samples) byStatus[String(s.status)] = (byStatus[String(s.status)] ?? 0) + 1
  return { requests: samples.length, by_status: byStatus, p50_ms: percentile(samples.map((s) => s.ms), 50), max_ms: Math.max(0, ...samples.map((s) => s.ms)) }
}

const dbEnv = {
  DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
  DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
  DB_POOL_MAX: "6"
}

describe("PostgreSQL faults under load", () => {
  it("a restarted database: every call answers 503 DATABASE_UNAVAILABLE in bounded time, readiness false, then the pool recovers by itself", async () => {
    const pg = await scratchPostgres()
    const server = await startServer({ DATABASE_URL: pg.url, DATA_DIR: tempDataDir(), ...dbEnv })
    const s = await seed(server)
    const c = calls(server, s)

    // Every call works before the fault.
    for (const [name, call] of Object.entries(c)) expect((await call()).status, name).toBeLessThan(300)

    const before = load(c, 4)
    await new Promise((r) => setTimeout(r, 500))
    await before.stop()
    expect(before.samples.every((x) => x.status >= 200 && x.status < 300)).toBe(true)

    const during = load(c, 4)
    const stoppedAt = Date.now()
    await pg.stop()
    await waitUntil("readiness to report the database", async () => (await http(server.baseUrl, "GET", "/readyz")).status === 503, 5_000)
    const notReadyAfterMs = Date.now() - stoppedAt
    const ready = await http(server.baseUrl, "GET", "/readyz")
    expect(ready.body).toMatchObject({ ready: false, draining: false, checks: { database: expect.not.stringMatching(/^ok$/), storage: "ok" } })
    await new Promise((r) => setTimeout(r, 3_000))
    const outage = await during.stop()

    // Requests that started once the database was gone (the first few may have been mid-query).
    const down = outage.filter((x) => x.at > stoppedAt + 200)
    expect(down.length).toBeGreaterThan(20)
    expect(distinct(down.filter((x) => x.status !== 503 || !UNAVAILABLE.includes(x.code ?? "")))).toEqual([])
    expect(distinct(down.filter((x) => x.ms >= OUTAGE_BOUND_MS))).toEqual([])
    // Nothing, not even the requests caught mid-query by the stop, got a 500 or hung.
    expect(distinct(outage.filter((x) => x.status === 0 || x.status === 500))).toEqual([])
    // The liveness probe stays up: the process is fine, its database is not.
    expect((await http(server.baseUrl, "GET", "/healthz")).status).toBe(200)

    const restartedAt = Date.now()
    await pg.start()
    const after = load(c, 4)
    await waitUntil("readiness to come back", async () => (await http(server.baseUrl, "GET", "/readyz")).status === 200, 15_000)
    const readyAfterMs = Date.now() - restartedAt
    await waitUntil("every call to succeed again", async () => (await Promise.all(Object.values(c).map((call) => call()))).every((x) => x.status < 300), 15_000)
    const recoveredAfterMs = Date.now() - restartedAt
    await new Promise((r) => setTimeout(r, 500))
    const recovery = await after.stop()
    // Once recovered, it stays recovered: the pool holds no dead connections.
    const tail = recovery.filter((x) => x.at > restartedAt + recoveredAfterMs)
    expect(tail.length).toBeGreaterThan(10)
    expect(distinct(tail.filter((x) => x.status >= 300))).toEqual([])
    expect(distinct(recovery.filter((x) => x.status === 500))).toEqual([])

    figure("postgres-restart", {
      outage: summary(down),
      readiness_false_after_ms: notReadyAfterMs,
      readiness_back_after_restart_ms: readyAfterMs,
      all_calls_ok_after_restart_ms: recoveredAfterMs
    })
    expect(await server.stop("SIGTERM")).toBe(0)
  }, 90_000)

  it("pg_terminate_backend on every connection, again and again: only 503s, never a 500 or a hang; the pool heals itself", async () => {
    const db = await freshDatabase("chaos_terminate")
    const name = new URL(db).pathname.slice(1)
    const admin = db.replace(`/${name}`, "/postgres")
    const server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), ...dbEnv, CHAT_RATE_PER_SEC: "1000", CHAT_RATE_BURST: "1000" })
    const s = await seed(server)
    const c = calls(server, s)
    // Chat traffic too: each send gets an ack or an error frame, and the connection lives on.
    const chat = await ChatClient.connect(server.baseUrl, s.seller.access_token)
    expect((await chat.request({ type: "join", room_id: s.roomId })).type).toBe("joined")
    const replies: Array<string> = []
    let chatting = true
    const chatLoop = (async () => {
      for (let i = 0; chatting; i++) {
        const reply = await chat.request({ type: "send", room_id: s.roomId, client_id: NodeCrypto.randomUUID(), content: `m${i}` }, 5_000).catch((e): Frame => ({ type: `no reply: ${e}` }))
        replies.push(reply.type === "error" ? `error ${reply.code}` : reply.type)
      }
    })()
    const run = load(c, 4)
    let terminated = 0
    for (let round = 0; round < 10; round++) {
      await new Promise((r) => setTimeout(r, 250))
      // Only this test's database: the shared server's other sessions are left alone.
      const rows = await query<{ ok: boolean }>(admin, "select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [name])
      terminated += rows.filter((r) => r.ok).length
    }
    const lastKillAt = Date.now()
    await new Promise((r) => setTimeout(r, 1_500))
    const samples = await run.stop()
    chatting = false
    await chatLoop
    expect(terminated).toBeGreaterThan(0)
    expect(Array.from(new Set(replies)).filter((r) => r !== "ack" && !UNAVAILABLE.some((code) => r === `error ${code}`))).toEqual([])
    expect(replies.slice(-3)).toEqual(["ack", "ack", "ack"])
    expect(chat.ws.readyState).toBe(chat.ws.OPEN)
    chat.ws.terminate()
    const failed = samples.filter((x) => x.status >= 300)
    expect(distinct(failed.filter((x) => x.status !== 503 || !UNAVAILABLE.includes(x.code ?? "")))).toEqual([])
    expect(distinct(samples.filter((x) => x.ms >= OUTAGE_BOUND_MS))).toEqual([])
    // A pool that kept dead connections would fail requests well after the last kill.
    expect(distinct(samples.filter((x) => x.at > lastKillAt + 300 && x.status >= 300))).toEqual([])
    expect((await http(server.baseUrl, "GET", "/readyz")).status).toBe(200)
    figure("postgres-terminate-backend", {
      backends_terminated: terminated,
      ...summary(samples),
      failed: failed.length,
      chat_sends: replies.length,
      chat_errors: replies.filter((r) => r !== "ack").length
    })
  }, 60_000)

  it("a connection that dies inside a transaction (its ROLLBACK fails too): 503 over HTTP, an error frame over WebSocket, nothing else breaks", async () => {
    const db = await freshDatabase("chaos_txn")
    const server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), ...dbEnv })
    const [alice, bob] = await Promise.all([registerUser(server.baseUrl), registerUser(server.baseUrl)])
    // The session kills itself in the middle of the transaction that creates a room.
    await query(
      db,
      `create function chaos_die() returns trigger language plpgsql as $$
       begin
         if new.name = 'doomed' or new.type = 'dm' then
           perform pg_terminate_backend(pg_backend_pid());
           perform pg_sleep(1);
         end if;
         return new;
       end $$`
    )
    await query(db, "create trigger chaos_die before insert on chat_rooms for each row execute function chaos_die()")

    const created = await http(server.baseUrl, "POST", "/api/v1/chat/rooms", { token: alice.access_token, body: { name: "doomed", type: "public" } })
    expect(created.status, JSON.stringify(created.body)).toBe(503)
    expect(created.body.error.code).toBe("DATABASE_UNAVAILABLE")
    const chat = await ChatClient.connect(server.baseUrl, alice.access_token)
    const dm = await chat.request({ type: "dm_open", user_id: bob.user.id })
    expect(dm).toMatchObject({ type: "error", code: "DATABASE_UNAVAILABLE" })
    expect((await chat.request({ type: "ping", ts: 1 })).type).toBe("pong")

    await query(db, "drop trigger chaos_die on chat_rooms")
    expect((await http(server.baseUrl, "POST", "/api/v1/chat/rooms", { token: alice.access_token, body: { name: "fine", type: "public" } })).status).toBe(201)
    expect((await chat.request({ type: "dm_open", user_id: bob.user.id })).type).toBe("joined")
    expect(server.logs.filter((l) => l.message === "unhandled failure" || l.message === "chat connection failed")).toEqual([])
    chat.ws.terminate()
  }, 60_000)
})
