import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { ChatClient, createRoom, range, seqsOf } from "../support/chat.js"
import { http, type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { crawlHls, uploadTrack, waitForTrack } from "../support/tracks.js"
import { figure, filesUnder, killMentioning, processesMentioning, scratchDir } from "./support.js"

const GRACE_MS = 3000

let longTrack: string
let shortTrack: string
beforeAll(async () => {
  const dir = scratchDir("audio")
  ;[longTrack, shortTrack] = await Promise.all([
    generateAudio(dir, { seconds: 120, format: "mp3", name: "long.mp3" }),
    generateAudio(dir, { seconds: 4, format: "mp3", name: "short.mp3" })
  ])
}, 120_000)

const clients: Array<ChatClient> = []
const dataDirs: Array<string> = []
afterAll(() => {
  for (const c of clients) c.ws.terminate()
  // Only if a test failed half-way: nothing of a server may outlive the file.
  for (const dir of dataDirs) killMentioning(dir)
})

/**
 * A multipart upload whose body is sent in two parts: the first now, the
 * rest when `finish` is called, so the request is in flight when the signal
 * lands.
 */
const trickledUpload = (baseUrl: string, token: string, path: string) => {
  const boundary = `chaos${NodeCrypto.randomBytes(8).toString("hex")}`
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="title"\r\n\r\nin flight\r\n`),
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="short.mp3"\r\ncontent-type: audio/mpeg\r\n\r\n`),
    NodeFs.readFileSync(path),
    Buffer.from(`\r\n--${boundary}--\r\n`)
  ])
  const req = NodeHttp.request(`${baseUrl}/api/v1/tracks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": String(body.length) }
  })
  const answered = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = ""
      res.on("data", (d) => (text += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text.length > 0 ? JSON.parse(text) : undefined }))
    })
    req.on("error", reject)
  })
  const half = Math.floor(body.length / 2)
  req.write(body.subarray(0, half))
  return { answered, finish: () => req.end(body.subarray(half)) }
}

type Outcome = { key: string; productId: string; licenseId: string; status: number | string; orderId?: string }

/** Checkouts one after the other, one product each, until stopped; each outcome recorded. */
const checkoutLoop = (baseUrl: string, token: string, products: ReadonlyArray<{ id: string; licenses: Array<{ id: string }> }>) => {
  const outcomes: Array<Outcome> = []
  let running = true
  const done = (async () => {
    for (const p of products) {
      if (!running) return
      const o: Outcome = { key: NodeCrypto.randomUUID(), productId: p.id, licenseId: p.licenses[0]!.id, status: "not sent" }
      outcomes.push(o)
      try {
        const res = await http(baseUrl, "POST", "/api/v1/marketplace/orders", {
          token,
          headers: { "idempotency-key": o.key },
          body: { items: [{ product_id: o.productId, license_id: o.licenseId }] }
        })
        o.status = res.status
        if (res.status === 201) o.orderId = res.body.id
      } catch (e) {
        o.status = `network: ${(e as Error).cause ?? e}`
        return
      }
    }
  })()
  return { outcomes, stop: () => ((running = false), done) }
}


/** Every message of a room through the REST history, oldest first. */
const history = async (baseUrl: string, token: string, roomId: string) => {
  const all: Array<{ id: string; seq: number }> = []
  let before: number | undefined
  while (true) {
    const res = await http(baseUrl, "GET", `/api/v1/chat/rooms/${roomId}/messages?limit=100${before === undefined ? "" : `&before_seq=${before}`}`, { token })
    expect(res.status).toBe(200)
    all.unshift(...res.body.items.map((m: any) => ({ id: m.id, seq: Number(m.seq) })).sort((a: any, b: any) => a.seq - b.seq))
    if (!res.body.has_more) return all
    before = Math.min(...res.body.items.map((m: any) => Number(m.seq)))
  }
}

describe("SIGTERM under load", () => {
  it("during an upload, a transcode, chat traffic and checkouts: exit 0 in the grace period, nothing half-done, everything acknowledged there exactly once after restart", async () => {
    const dataDir = tempDataDir()
    dataDirs.push(dataDir)
    // The embedded database: its postgres processes must go with the server.
    const env = { DATA_DIR: dataDir, SHUTDOWN_GRACE_MS: String(GRACE_MS), TRANSCODE_CONCURRENCY: "1", CHAT_RATE_PER_SEC: "100000", CHAT_RATE_BURST: "100000" }
    const server: RunningServer = await startServer(env)
    const creator = await registerUser(server.baseUrl, { account_type: "producer" })
    const [buyer, reader] = await Promise.all([registerUser(server.baseUrl), registerUser(server.baseUrl)])
    const products = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await http(server.baseUrl, "POST", "/api/v1/marketplace/products", {
          token: creator.access_token,
          body: { title: `Beat ${i}`, type: "beat", licenses: [{ type: "basic", price_cents: 100 + i, currency: "EUR" }] }
        })
        expect(res.status).toBe(201)
        return res.body
      })
    )

    // A transcode that is still running when the signal lands.
    const long = await uploadTrack(server.baseUrl, creator.access_token, { path: longTrack })
    expect(long.status).toBe(201)
    const trackId: string = long.body.id
    await waitUntil("the transcode to run with its FFmpeg", async () => {
      const t = await http(server.baseUrl, "GET", `/api/v1/tracks/${trackId}`, { token: creator.access_token })
      return t.body.transcode?.status === "running" && processesMentioning(NodePath.join(dataDir, "tmp")).length > 0
    }, 60_000)

    // Chat traffic: a sender that waits for each ack, a reader.
    const room = await createRoom(server.baseUrl, creator.access_token)
    const sender = await ChatClient.connect(server.baseUrl, creator.access_token)
    const listener = await ChatClient.connect(server.baseUrl, reader.access_token)
    clients.push(sender, listener)
    for (const c of [sender, listener]) await c.request({ type: "join", room_id: room.id })
    const acked: Array<string> = []
    let chatting = true
    const chat = (async () => {
      for (let i = 0; chatting; i++) {
        const reply = await sender.request({ type: "send", room_id: room.id, client_id: `c${i}`, content: `m${i}` }).catch(() => undefined)
        if (reply?.type !== "ack") return
        acked.push(reply.message.id)
      }
    })()

    const checkouts = checkoutLoop(server.baseUrl, buyer.access_token, products)
    const upload = trickledUpload(server.baseUrl, creator.access_token, shortTrack)
    await waitUntil("traffic on every front", () => acked.length >= 20 && checkouts.outcomes.filter((o) => o.status === 201).length >= 3)

    const signalledAt = Date.now()
    const exited = server.stop("SIGTERM")
    await waitUntil("the drain to start", () => server.logs.some((l) => l.message === "draining HTTP server"), 5_000)
    upload.finish()
    const [code, uploaded, senderClosed, listenerClosed] = await Promise.all([exited, upload.answered, sender.closed, listener.closed])
    const exitMs = Date.now() - signalledAt
    chatting = false
    await chat
    await checkouts.stop()

    expect(code).toBe(0)
    // The grace period bounds HTTP and jobs together; the database then stops within a few seconds.
    expect(exitMs).toBeLessThan(GRACE_MS + 5_000)
    // The request in flight was answered, and completely.
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201)
    // The HTTP drain ends when the last answer is out, not when the grace period runs out.
    expect(server.logs.map((l) => l.message)).not.toContain("grace period over, closing remaining connections")
    // WebSocket clients: everything queued first, then 1001.
    expect(senderClosed.code).toBe(1001)
    expect(listenerClosed.code).toBe(1001)
    const got = seqsOf(listener.frames)
    expect(got).toEqual(range(1, got.length))
    expect(got.length).toBeGreaterThanOrEqual(acked.length - 1)
    // Checkouts: answered, or refused at the door once the listener closed; never a 500.
    for (const o of checkouts.outcomes) expect([201, 503, "not sent"].includes(o.status as never) || String(o.status).startsWith("network"), JSON.stringify(o)).toBe(true)
    // Nothing left running, nothing half-written.
    expect(processesMentioning(dataDir)).toEqual([])
    expect(filesUnder(NodePath.join(dataDir, "storage", "hls"))).toEqual([])
    const messages = server.logs.map((l) => l.message)
    expect(messages).toContain("transcode interrupted; job released to the queue")
    expect(server.logs.filter((l) => l.message === "unhandled failure")).toEqual([])

    // Restart without the stream role: the interrupted job waits in the queue, unattempted.
    const api = await startServer({ ...env, VEZA_ROLES: "api,chat" })
    const queued = await http(api.baseUrl, "GET", `/api/v1/tracks/${trackId}`, { token: creator.access_token })
    expect(queued.body).toMatchObject({ status: "processing", transcode: { status: "queued", attempts: 0 } })
    // Every acknowledged message is stored exactly once, in an unbroken sequence.
    const stored = await history(api.baseUrl, creator.access_token, room.id)
    expect(stored.map((m) => m.seq)).toEqual(range(1, stored.length))
    expect(new Set(stored.map((m) => m.id)).size).toBe(stored.length)
    const storedIds = new Set(stored.map((m) => m.id))
    expect(acked.filter((id) => !storedIds.has(id))).toEqual([])
    // Every checkout, retried with its key: an answered one gets its order back, the others buy once.
    const started = checkouts.outcomes.filter((o) => o.status !== "not sent")
    for (const o of started) {
      const again = await http(api.baseUrl, "POST", "/api/v1/marketplace/orders", {
        token: buyer.access_token,
        headers: { "idempotency-key": o.key },
        body: { items: [{ product_id: o.productId, license_id: o.licenseId }] }
      })
      expect(again.status, JSON.stringify(again.body)).toBe(201)
      if (o.orderId !== undefined) expect(again.body.id).toBe(o.orderId)
    }
    const orders = await http(api.baseUrl, "GET", "/api/v1/marketplace/orders?limit=100", { token: buyer.access_token })
    const bought = orders.body.items.flatMap((order: any) => order.items.map((i: any) => i.product_id))
    expect(bought.sort()).toEqual(started.map((o) => o.productId).sort())
    expect(await api.stop("SIGTERM")).toBe(0)

    // With the stream role back, the jobs resume: the in-flight upload publishes, the interrupted
    // transcode runs again (test/chaos/transcode-drain.test.ts follows such a job to its publication).
    const full = await startServer(env)
    const resumed = await waitForTrack(full.baseUrl, creator.access_token, uploaded.body.id, undefined, 60_000)
    const crawl = await crawlHls(full.baseUrl + resumed.hls_url, { authorization: `Bearer ${creator.access_token}` })
    expect(Array.from(crawl.statuses.values()).every((s) => s === 200)).toBe(true)
    await waitForTrack(full.baseUrl, creator.access_token, trackId, (t) => t.transcode?.status === "running" || t.status === "ready", 60_000)
    expect(await full.stop("SIGTERM")).toBe(0)
    expect(processesMentioning(dataDir)).toEqual([])

    const after = (message: string) => {
      const line = server.logs.find((l) => l.message === message) as unknown as { timestamp: string } | undefined
      return line === undefined ? null : Date.parse(line.timestamp) - signalledAt
    }
    figure("sigterm-under-load", {
      grace_ms: GRACE_MS,
      exit_after_signal_ms: exitMs,
      timeline_ms: Object.fromEntries(
        ["draining HTTP server", "HTTP server closed", "grace period over, interrupting transcode jobs", "transcode interrupted; job released to the queue"].map((m) => [m, after(m)])
      ),
      chat_messages_acked: acked.length,
      chat_frames_delivered_before_1001: got.length,
      checkouts: checkouts.outcomes.map((o) => o.status),
      in_flight_upload: uploaded.status
    })
  }, 240_000)
})
