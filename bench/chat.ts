/**
 * Chat benchmarks (docs/performance.md, "Chat"): the WebSocket gateway
 * (`/ws`, SPEC §5) against a bare `ws` relay (bench/chat-baseline-ws.mjs) and
 * a minimal Socket.IO server (bench/chat-baseline-socketio.mjs), each started
 * fresh in the same run, all clients in this process on 127.0.0.1.
 *
 * - chat-broadcast: 1 room × N clients (one of them the sender), bursts of
 *   100 messages of 100 characters; deliveries/s and server CPU µs per
 *   delivery (/proc/<pid>/stat). Warm-up burst, then the median of rounds.
 * - chat-latency:   the same N clients, one sender at 10 msg/s; send→deliver
 *   p50/p95/p99 over every delivery (the first second left out).
 * - chat-memory:    M idle connections (Veza: authenticated, `ready` seen) on
 *   a fresh server; server RSS after − before, divided by M, each taken
 *   after a full collection forced through the server's inspector (see
 *   `memory`), and RSS 5 s after connecting, uncollected, printed beside it.
 * - chat-mix:       Veza only: clients in rooms of 5, a total rate of sends
 *   spread over the rooms, every message stored; p99 send→deliver and a
 *   check that every receiver saw every acked seq of its room exactly once,
 *   in order.
 *
 * Sizes: BENCH_CHAT_CLIENTS (5000), BENCH_CHAT_MEMORY_CONNS (10000),
 * BENCH_CHAT_MIX_CLIENTS (5000), BENCH_CHAT_MIX_RATE (1000 msg/s),
 * BENCH_CHAT_MIX_SECONDS (30); BENCH_CHAT_QUICK=1 makes every default small.
 */
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import { io as ioClient, type Socket as IoSocket } from "socket.io-client"
import WebSocket from "ws"
import { adminUrl, cpuMicros, fmt, freePort, freshDatabase, inspector, median, percentile, pool, postgresCpuMicros, ratio, type Server, start, stop, tempDataDir, vezaEnv, vezaNodeArgs } from "./lib.js"

export const CHAT_PARTS = ["chat-broadcast", "chat-latency", "chat-memory", "chat-mix"] as const
export type ChatPart = (typeof CHAT_PARTS)[number]

const QUICK = process.env["BENCH_CHAT_QUICK"] === "1"
const env = (name: string, full: number, quick: number) => Number(process.env[name] ?? (QUICK ? quick : full))
const CLIENTS = env("BENCH_CHAT_CLIENTS", 5000, 1000)
const BURST = env("BENCH_CHAT_BURST", 100, 100)
const BURST_ROUNDS = env("BENCH_CHAT_BURST_ROUNDS", 3, 3)
const LATENCY_RATE = env("BENCH_CHAT_LATENCY_RATE", 10, 10)
const LATENCY_SECONDS = env("BENCH_CHAT_LATENCY_SECONDS", 15, 6)
const MEMORY_CONNS = env("BENCH_CHAT_MEMORY_CONNS", 10_000, 2000)
const MIX_CLIENTS = env("BENCH_CHAT_MIX_CLIENTS", 5000, 1000)
const MIX_RATE = env("BENCH_CHAT_MIX_RATE", 1000, 200)
const MIX_SECONDS = env("BENCH_CHAT_MIX_SECONDS", 30, 10)
const MIX_ROOM_SIZE = 5
const USERS = env("BENCH_CHAT_USERS", 50, 20)
const CONNECT_CONCURRENCY = env("BENCH_CHAT_CONNECT_CONCURRENCY", 64, 64)
const CONTENT_CHARS = 100
/** Settings the Veza server gets for the bench (see docs/performance.md). */
const VEZA_CHAT_ENV = {
  VEZA_ROLES: "api,chat",
  CHAT_RATE_PER_SEC: "1000000",
  CHAT_RATE_BURST: "1000000",
  CHAT_MAX_CONNS_PER_USER: "100000",
  CHAT_TOKEN_TTL_SECONDS: "3600"
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const summary: Array<string> = []
const say = (line: string) => console.log(line)

// ---------------------------------------------------------------------------
// Limits

const openFilesLimit = () => {
  const line = NodeFs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))
  return Number(line?.split(/\s+/)[3] ?? 1024)
}
/** The most client sockets this process can hold (one fd each, with room for the rest). */
const clampClients = (wanted: number, what: string) => {
  const most = openFilesLimit() - 300
  if (wanted <= most) return wanted
  say(`  ! ${what}: ${wanted} connections wanted, but this process may open ${openFilesLimit()} files: running ${most}`)
  return most
}

/** With several PostgreSQL servers on the machine, BENCH_POSTGRES_PID (a postmaster's pid) counts only that one. */
const POSTMASTER = process.env["BENCH_POSTGRES_PID"]

const rssKb = (pid: number) => {
  const line = NodeFs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
  return Number(line!.split(/\s+/)[1])
}


// ---------------------------------------------------------------------------
// Payloads: the send time travels in the content, `@@<ms>@`, padded to 100 characters

const MARK = Buffer.from("@@")
const content = (tag: string) => {
  const head = `@@${performance.now().toFixed(3)}@${tag}@`
  return head + "x".repeat(Math.max(0, CONTENT_CHARS - head.length))
}
const sentAt = (data: Buffer | string): number => {
  if (typeof data === "string") {
    const i = data.indexOf("@@")
    return Number(data.slice(i + 2, data.indexOf("@", i + 2)))
  }
  const i = data.indexOf(MARK)
  return Number(data.toString("latin1", i + 2, data.indexOf(64, i + 2)))
}
const sendFrame = (room: string, text: string) => JSON.stringify({ type: "send", room_id: room, client_id: NodeCrypto.randomUUID(), content: text })

// ---------------------------------------------------------------------------
// Clients

type Handler = (data: Buffer | string) => void

interface Conn {
  /** Called with every delivered chat message (Veza: `message` frames only). */
  onMessage: Handler
  send(text: string): void
  close(): void
}

const closeCodes = new Map<string, number>()
const noteClose = (who: string, code: number) => {
  const key = `${who}:${code}`
  closeCodes.set(key, (closeCodes.get(key) ?? 0) + 1)
}

const wsUrl = (server: Server, path: string) => `${server.url.replace(/^http/, "ws")}${path}`

const openWs = (url: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once("open", () => resolve(ws))
    ws.once("error", reject)
  })

const MESSAGE_PREFIX = Buffer.from('{"type":"message"')
const SEQ_KEY = Buffer.from('"seq":')
export const seqOf = (data: Buffer) => {
  let i = data.indexOf(SEQ_KEY) + SEQ_KEY.length
  let n = 0
  for (let c = data[i]!; c >= 48 && c <= 57; c = data[++i]!) n = n * 10 + c - 48
  return n
}

/** A Veza chat connection: `message` frames to `onMessage`, everything else parsed. */
class VezaConn implements Conn {
  onMessage: Handler = () => {}
  onAck: (frame: any) => void = () => {}
  readonly errors = new Map<string, number>()
  private readonly waiting = new Map<string, (frame: any) => void>()
  private refs = 0
  room = ""
  closed = false
  closing = false

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      if (data.subarray(0, MESSAGE_PREFIX.length).equals(MESSAGE_PREFIX)) return this.onMessage(data)
      const frame = JSON.parse(data.toString())
      if (frame.ref !== undefined && this.waiting.has(frame.ref)) {
        const resolve = this.waiting.get(frame.ref)!
        this.waiting.delete(frame.ref)
        resolve(frame)
        return
      }
      if (frame.type === "ack") this.onAck(frame)
      else if (frame.type === "error") this.errors.set(frame.code, (this.errors.get(frame.code) ?? 0) + 1)
      else if (frame.type === "ready") this.waiting.get("ready")?.(frame)
    })
    ws.on("close", (code) => {
      this.closed = true
      if (!this.closing) noteClose("veza", code)
    })
    ws.on("error", () => {})
  }

  /** Connects with `?token=` and waits for `ready`. */
  static async open(server: Server, token: string) {
    const ws = new WebSocket(wsUrl(server, `/ws?token=${encodeURIComponent(token)}`), { perMessageDeflate: false })
    const conn = new VezaConn(ws)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no ready within 30 s")), 30_000)
      conn.waiting.set("ready", () => {
        clearTimeout(timer)
        conn.waiting.delete("ready")
        resolve()
      })
      ws.once("error", (e) => {
        clearTimeout(timer)
        reject(e)
      })
      ws.once("close", (code, reason) => {
        clearTimeout(timer)
        reject(new Error(`closed ${code} ${reason} before ready`))
      })
    })
    return conn
  }

  request(frame: Record<string, unknown>, timeoutMs = 30_000) {
    const ref = `r${++this.refs}`
    return new Promise<any>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${frame["type"]} within ${timeoutMs} ms`)), timeoutMs)
      this.waiting.set(ref, (f) => {
        clearTimeout(timer)
        resolve(f)
      })
      this.ws.send(JSON.stringify({ ...frame, ref }))
    })
  }

  async join(room: string) {
    const reply = await this.request({ type: "join", room_id: room })
    if (reply.type !== "joined") throw new Error(`join: ${JSON.stringify(reply)}`)
    this.room = room
    return reply
  }

  send(text: string) {
    this.ws.send(sendFrame(this.room, text))
  }

  close() {
    this.closing = true
    this.ws.terminate()
  }
}

class WsConn implements Conn {
  onMessage: Handler = () => {}
  private closing = false
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => this.onMessage(data))
    ws.on("close", (code) => {
      if (!this.closing) noteClose("ws", code)
    })
    ws.on("error", () => {})
  }
  send(text: string) {
    this.ws.send(sendFrame("room", text))
  }
  close() {
    this.closing = true
    this.ws.terminate()
  }
}

class IoConn implements Conn {
  onMessage: Handler = () => {}
  constructor(readonly socket: IoSocket) {
    socket.on("message", (payload: string) => this.onMessage(payload))
    socket.on("disconnect", (reason) => noteClose("socket.io", reason as unknown as number))
  }
  send(text: string) {
    this.socket.emit("send", sendFrame("room", text))
  }
  close() {
    this.socket.removeAllListeners("disconnect")
    this.socket.disconnect()
  }
}

const openIo = (server: Server) =>
  new Promise<IoConn>((resolve, reject) => {
    const socket = ioClient(server.url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 30_000 })
    socket.once("connect", () => resolve(new IoConn(socket)))
    socket.once("connect_error", reject)
  })

// ---------------------------------------------------------------------------
// Targets: a started server and how to get N clients into its one room

interface Target {
  readonly name: string
  readonly server: Server
  /** N connected clients in the room; connected only (no join) when `join` is false. */
  readonly clients: (n: number, join: boolean) => Promise<{ conns: Array<Conn>; connectS: number; joinMs: ReadonlyArray<number> }>
}

interface VezaSetup {
  readonly tokens: ReadonlyArray<string>
  readonly owner: string
}

const api = async (server: Server, method: string, path: string, token: string | undefined, body?: unknown) => {
  const res = await fetch(server.url + path, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const json = (await res.json().catch(() => ({}))) as any
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

/** Registers `USERS` users (argon2: a few per second) and gets each a chat token. */
const vezaUsers = async (server: Server): Promise<VezaSetup> => {
  const tag = NodeCrypto.randomBytes(3).toString("hex")
  const access = await pool(USERS, 4, async (i) => {
    const username = `chat_${tag}_${i}`
    const r = await api(server, "POST", "/api/v1/auth/register", undefined, { email: `${username}@example.com`, username, password: "benchmark password" })
    return r.access_token as string
  })
  const tokens = await pool(USERS, 8, async (i) => (await api(server, "POST", "/api/v1/chat/token", access[i]!)).token as string)
  return { tokens, owner: access[0]! }
}

const startVeza = async (databaseUrl: string, nodeArgs: ReadonlyArray<string> = []) => {
  const server = await start("veza", [...vezaNodeArgs(), ...nodeArgs, "dist/src/main.js"], vezaEnv(databaseUrl, tempDataDir(), VEZA_CHAT_ENV))
  return { server, setup: await vezaUsers(server) }
}

const timed = async <A>(f: () => Promise<A>) => {
  const t = performance.now()
  const a = await f()
  return [a, performance.now() - t] as const
}

const vezaTarget = (server: Server, setup: VezaSetup, room: string | undefined): Target => ({
  name: "veza",
  server,
  clients: async (n, join) => {
    const t0 = performance.now()
    const joinMs: Array<number> = []
    const conns = await pool(n, CONNECT_CONCURRENCY, async (i) => {
      const conn = await VezaConn.open(server, setup.tokens[i % setup.tokens.length]!)
      if (join && room !== undefined) {
        const [, ms] = await timed(() => conn.join(room))
        joinMs.push(ms)
      }
      return conn as Conn
    })
    return { conns, connectS: (performance.now() - t0) / 1000, joinMs }
  }
})

const wsTarget = (server: Server): Target => ({
  name: "bare ws",
  server,
  clients: async (n) => {
    const t0 = performance.now()
    const conns = await pool(n, CONNECT_CONCURRENCY, async () => new WsConn(await openWs(wsUrl(server, "/ws"))) as Conn)
    return { conns, connectS: (performance.now() - t0) / 1000, joinMs: [] }
  }
})

const ioTarget = (server: Server): Target => ({
  name: "socket.io",
  server,
  clients: async (n) => {
    const t0 = performance.now()
    const conns = await pool(n, CONNECT_CONCURRENCY, async () => (await openIo(server)) as Conn)
    return { conns, connectS: (performance.now() - t0) / 1000, joinMs: [] }
  }
})

const closeAll = async (conns: ReadonlyArray<Conn>) => {
  for (const c of conns) c.close()
  await sleep(500)
}

// ---------------------------------------------------------------------------
// Measurements

interface BurstResult {
  readonly deliveries: number
  readonly expected: number
  readonly perSecond: number
  readonly cpuUs: number
}

/** One burst: the sender sends `BURST` messages back to back; until every client has all of them. */
const burst = async (server: Server, conns: ReadonlyArray<Conn>): Promise<BurstResult> => {
  const expected = conns.length * BURST
  let received = 0
  let lastAt = 0
  let done = () => {}
  const finished = new Promise<void>((r) => (done = r))
  const onMessage = () => {
    if (++received === expected) {
      lastAt = performance.now()
      done()
    }
  }
  for (const c of conns) c.onMessage = onMessage
  const cpu0 = cpuMicros(server.child.pid!)
  const t0 = performance.now()
  for (let i = 0; i < BURST; i++) conns[0]!.send(content(String(i)))
  await Promise.race([finished, sleep(120_000)])
  const end = received === expected ? lastAt : performance.now()
  const cpu = cpuMicros(server.child.pid!) - cpu0
  for (const c of conns) c.onMessage = () => {}
  return { deliveries: received, expected, perSecond: received / ((end - t0) / 1000), cpuUs: cpu / Math.max(1, received) }
}

interface LatencyResult {
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly samples: number
  /** Deliveries received / sent × clients. */
  readonly received: number
  readonly expected: number
  readonly cpuPct: number
}

const latencyStats = (samples: Float64Array, count: number) => {
  const sorted = samples.subarray(0, count).sort()
  return { p50: percentile(sorted as unknown as Array<number>, 50), p95: percentile(sorted as unknown as Array<number>, 95), p99: percentile(sorted as unknown as Array<number>, 99), max: sorted[count - 1] ?? NaN }
}

/** One sender at `LATENCY_RATE` msg/s for `LATENCY_SECONDS`; every delivery's send→deliver time. */
const latency = async (server: Server, conns: ReadonlyArray<Conn>): Promise<LatencyResult> => {
  const total = LATENCY_RATE * LATENCY_SECONDS
  const capacity = total * conns.length
  const samples = new Float64Array(capacity)
  let count = 0
  let received = 0
  const t0 = performance.now()
  const skipBefore = t0 + 1000
  const onMessage = (data: Buffer | string) => {
    received++
    const at = sentAt(data)
    if (at >= skipBefore && count < capacity) samples[count++] = performance.now() - at
  }
  for (const c of conns) c.onMessage = onMessage
  const cpu0 = cpuMicros(server.child.pid!)
  const period = 1000 / LATENCY_RATE
  for (let i = 0; i < total; i++) {
    const wait = t0 + i * period - performance.now()
    if (wait > 0) await sleep(wait)
    conns[0]!.send(content(String(i)))
  }
  const sendEnd = performance.now()
  while (received < capacity && performance.now() - sendEnd < 10_000) await sleep(20)
  const cpu = cpuMicros(server.child.pid!) - cpu0
  const wall = performance.now() - t0
  for (const c of conns) c.onMessage = () => {}
  return { ...latencyStats(samples, count), samples: count, received, expected: capacity, cpuPct: (cpu / 1000 / wall) * 100 }
}

// ---------------------------------------------------------------------------
// Scenarios

const line = (cells: ReadonlyArray<[string, number]>) => cells.map(([s, w]) => (w < 0 ? s.padEnd(-w) : s.padStart(w))).join("")

const broadcastAndLatency = async (admin: { url: string }, parts: ReadonlySet<ChatPart>) => {
  const n = clampClients(CLIENTS, "broadcast/latency")
  const results = new Map<string, { bursts: Array<BurstResult>; lat: LatencyResult | undefined; connectS: number; joinMs: ReadonlyArray<number> }>()
  say(`Chat broadcast/latency — 1 room × ${n} clients, ${NodeOs.cpus().length} cores, clients in this process on 127.0.0.1`)
  for (const name of ["bare ws", "socket.io", "veza"]) {
    const db = name === "veza" ? await freshDatabase(admin.url) : undefined
    let server: Server | undefined
    let conns: Array<Conn> = []
    try {
      let target: Target
      if (name === "veza") {
        const veza = await startVeza(db!.url)
        server = veza.server
        const room = await api(server, "POST", "/api/v1/chat/rooms", veza.setup.owner, { name: "bench", type: "public" })
        target = vezaTarget(server, veza.setup, room.id)
      } else if (name === "bare ws") target = wsTarget((server = await start(name, ["bench/chat-baseline-ws.mjs"], {})))
      else target = ioTarget((server = await start(name, ["bench/chat-baseline-socketio.mjs"], {})))
      const got = await target.clients(n, true)
      conns = got.conns
      const joinSorted = [...got.joinMs].sort((a, b) => a - b)
      say(
        `  ${name}: ${n} clients connected${name === "veza" ? " and joined" : ""} in ${got.connectS.toFixed(1)} s` +
          (joinSorted.length > 0 ? ` (join p50 ${percentile(joinSorted, 50).toFixed(1)} ms, p99 ${percentile(joinSorted, 99).toFixed(1)} ms, max ${joinSorted[joinSorted.length - 1]!.toFixed(0)} ms)` : "") +
          `, server RSS ${(rssKb(server.child.pid!) / 1024).toFixed(0)} MB`
      )
      await sleep(1000)
      const bursts: Array<BurstResult> = []
      if (parts.has("chat-broadcast")) {
        await burst(server, conns) // warm-up
        await sleep(1000)
        for (let r = 0; r < BURST_ROUNDS; r++) {
          const b = await burst(server, conns)
          bursts.push(b)
          say(`    burst ${r + 1}: ${b.deliveries}/${b.expected} delivered, ${fmt(b.perSecond).trim()} deliveries/s, ${b.cpuUs.toFixed(2)} µs server CPU per delivery`)
          await sleep(1000)
        }
      }
      let lat: LatencyResult | undefined
      if (parts.has("chat-latency")) {
        lat = await latency(server, conns)
        say(`    latency: ${lat.received}/${lat.expected} delivered, ${lat.samples} timed, p50 ${lat.p50.toFixed(1)} ms, p95 ${lat.p95.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms, max ${lat.max.toFixed(0)} ms, server CPU ${lat.cpuPct.toFixed(0)}%`)
      }
      results.set(name, { bursts, lat, connectS: got.connectS, joinMs: got.joinMs })
    } finally {
      await closeAll(conns)
      if (server !== undefined) await stop(server)
      await db?.drop()
    }
  }

  const v = results.get("veza")!
  const w = results.get("bare ws")!
  const s = results.get("socket.io")!
  if (parts.has("chat-broadcast")) {
    const med = (r: typeof v, f: (b: BurstResult) => number) => median(r.bursts.map(f))
    const rate = { veza: med(v, (b) => b.perSecond), ws: med(w, (b) => b.perSecond), io: med(s, (b) => b.perSecond) }
    const cpu = { veza: med(v, (b) => b.cpuUs), ws: med(w, (b) => b.cpuUs), io: med(s, (b) => b.cpuUs) }
    say("")
    say(`Broadcast, 1 room × ${n} clients, bursts of ${BURST} × ${CONTENT_CHARS}-char messages (median of ${BURST_ROUNDS})`)
    say(line([["server", -12], ["deliveries/s", 14], ["CPU µs/deliv", 14], ["vs ws", 9], ["vs sio", 9]]))
    for (const [label, r, c] of [["bare ws", rate.ws, cpu.ws], ["socket.io", rate.io, cpu.io], ["veza", rate.veza, cpu.veza]] as const) {
      say(line([[label, -12], [fmt(r), 14], [c.toFixed(2), 14], [ratio(r, rate.ws), 9], [ratio(r, rate.io), 9]]))
    }
    summary.push(
      `broadcast N=${n}: veza ${rate.veza.toFixed(0)}/s vs bare ws ${rate.ws.toFixed(0)}/s (${ratio(rate.veza, rate.ws)}, goal ≥ 0.8x) and socket.io ${rate.io.toFixed(0)}/s (${ratio(rate.veza, rate.io)}); ` +
        `CPU/delivery veza ${cpu.veza.toFixed(2)} µs vs bare ws ${cpu.ws.toFixed(2)} (${ratio(cpu.veza, cpu.ws)}, goal ≤ 1.3x) and socket.io ${cpu.io.toFixed(2)} (${ratio(cpu.veza, cpu.io)})`
    )
  }
  if (parts.has("chat-latency")) {
    const [lv, lw, ls] = [v.lat!, w.lat!, s.lat!]
    say("")
    say(`Latency, 1 room × ${n} clients, one sender at ${LATENCY_RATE} msg/s for ${LATENCY_SECONDS} s (first second left out)`)
    say(line([["server", -12], ["p50 ms", 9], ["p95 ms", 9], ["p99 ms", 9], ["max ms", 9], ["timed", 10], ["CPU %", 7]]))
    for (const [label, l] of [["bare ws", lw], ["socket.io", ls], ["veza", lv]] as const) {
      say(line([[label, -12], [l.p50.toFixed(1), 9], [l.p95.toFixed(1), 9], [l.p99.toFixed(1), 9], [l.max.toFixed(0), 9], [`${l.samples}`, 10], [l.cpuPct.toFixed(0), 7]]))
    }
    summary.push(
      `latency N=${n} @${LATENCY_RATE}/s: p99 veza ${lv.p99.toFixed(1)} ms vs bare ws ${lw.p99.toFixed(1)} ms (${ratio(lv.p99, lw.p99)}, goal ≤ 1.5x) and socket.io ${ls.p99.toFixed(1)} ms (${ratio(lv.p99, ls.p99)}, goal < 1x); p50 ${lv.p50.toFixed(1)}/${lw.p50.toFixed(1)}/${ls.p50.toFixed(1)} ms`
    )
  }
}

/**
 * Idle memory is what the connections keep, so RSS is read after a full
 * collection (forced through each server's inspector on loopback, the same
 * for the three) before and after connecting. Read without one, RSS still
 * holds what the connect burst allocated and V8 has not given back: its
 * memory reducer returns that 10–50 s after allocation slows, so a figure
 * taken a few seconds after connecting measured the connect path's garbage
 * and when the collector last ran (Veza 7.2–13.5 KB over runs of one build).
 * That early figure, 5 s after connecting, is printed beside it.
 */
const memory = async (admin: { url: string }) => {
  const n = clampClients(MEMORY_CONNS, "memory")
  say("")
  say(`Memory: ${n} idle connections on a fresh server (Veza: authenticated, ready received); RSS after a forced full collection, before and after connecting`)
  say(line([["server", -12], ["RSS before MB", 15], ["RSS after MB", 14], ["KB/conn", 10], ["uncollected 5 s", 17], ["connect s", 11]]))
  const perConn = new Map<string, number>()
  const earlyPerConn = new Map<string, number>()
  for (const name of ["bare ws", "socket.io", "veza"]) {
    const db = name === "veza" ? await freshDatabase(admin.url) : undefined
    let server: Server | undefined
    let conns: Array<Conn> = []
    let v8: Awaited<ReturnType<typeof inspector>> | undefined
    try {
      const inspectPort = await freePort()
      const inspect = `--inspect=127.0.0.1:${inspectPort}`
      let target: Target
      if (name === "veza") {
        const veza = await startVeza(db!.url, [inspect])
        server = veza.server
        target = vezaTarget(server, veza.setup, undefined)
        // One connection per user first, so the users' first-connection work is not counted as per-connection memory.
        const warm = await Promise.all(veza.setup.tokens.map((t) => VezaConn.open(server!, t)))
        await sleep(500)
        warm.forEach((c) => c.close())
      } else if (name === "bare ws") target = wsTarget((server = await start(name, [inspect, "bench/chat-baseline-ws.mjs"], {})))
      else target = ioTarget((server = await start(name, [inspect, "bench/chat-baseline-socketio.mjs"], {})))
      v8 = await inspector(inspectPort)
      await sleep(2000)
      await v8.collectGarbage()
      const before = rssKb(server.child.pid!)
      const got = await target.clients(n, false)
      conns = got.conns
      await sleep(5000)
      const early = (rssKb(server.child.pid!) - before) / n
      await v8.collectGarbage()
      await sleep(1000)
      const after = rssKb(server.child.pid!)
      const kb = (after - before) / n
      perConn.set(name, kb)
      earlyPerConn.set(name, early)
      say(line([[name, -12], [(before / 1024).toFixed(1), 15], [(after / 1024).toFixed(1), 14], [kb.toFixed(1), 10], [early.toFixed(1), 17], [got.connectS.toFixed(1), 11]]))
    } finally {
      v8?.close()
      await closeAll(conns)
      if (server !== undefined) await stop(server)
      await db?.drop()
    }
  }
  const [v, w, s] = [perConn.get("veza")!, perConn.get("bare ws")!, perConn.get("socket.io")!]
  const [ve, we, se] = [earlyPerConn.get("veza")!, earlyPerConn.get("bare ws")!, earlyPerConn.get("socket.io")!]
  say(`  ratio veza/bare ws ${ratio(v, w)}, veza/socket.io ${ratio(v, s)}; uncollected 5 s after connecting: ${ratio(ve, we)}, ${ratio(ve, se)}`)
  summary.push(
    `memory N=${n}: veza ${v.toFixed(1)} KB/conn vs bare ws ${w.toFixed(1)} (${ratio(v, w)}) and socket.io ${s.toFixed(1)} (${ratio(v, s)}, goal ≤ 0.5x; absolute goal ≤ 12 KB); uncollected, 5 s after connecting: veza ${ve.toFixed(1)}, bare ws ${we.toFixed(1)}, socket.io ${se.toFixed(1)} (${ratio(ve, se)})`
  )
}

const mix = async (admin: { url: string }) => {
  const n = clampClients(Math.floor(MIX_CLIENTS / MIX_ROOM_SIZE) * MIX_ROOM_SIZE, "mix")
  const roomCount = n / MIX_ROOM_SIZE
  say("")
  say(`Realistic mix (Veza only): ${n} clients in ${roomCount} rooms of ${MIX_ROOM_SIZE}, ${MIX_RATE} msg/s in total for ${MIX_SECONDS} s, every message stored`)
  if (USERS < MIX_ROOM_SIZE) throw new Error("BENCH_CHAT_USERS must be at least the room size")
  const db = await freshDatabase(admin.url)
  let server: Server | undefined
  let conns: Array<VezaConn> = []
  try {
    const veza = await startVeza(db.url)
    server = veza.server
    const [rooms, roomsMs] = await timed(() =>
      pool(roomCount, 8, async (i) => (await api(server!, "POST", "/api/v1/chat/rooms", veza.setup.owner, { name: `mix ${i}`, type: "public" })).id as string)
    )
    const roomIndex = new Map(rooms.map((id, i) => [id, i]))
    // Client j is in room j / 5 as user (room·5 + j mod 5) mod USERS: five different users per room.
    const joinMs: Array<number> = []
    const [opened, connectMs] = await timed(() =>
      pool(n, CONNECT_CONCURRENCY, async (j) => {
        const room = Math.floor(j / MIX_ROOM_SIZE)
        const conn = await VezaConn.open(server!, veza.setup.tokens[(room * MIX_ROOM_SIZE + (j % MIX_ROOM_SIZE)) % USERS]!)
        const [, ms] = await timed(() => conn.join(rooms[room]!))
        joinMs.push(ms)
        return conn
      })
    )
    conns = opened
    joinMs.sort((a, b) => a - b)
    say(
      `  ${roomCount} rooms created in ${(roomsMs / 1000).toFixed(1)} s; ${n} clients connected and joined in ${(connectMs / 1000).toFixed(1)} s ` +
        `(join p50 ${percentile(joinMs, 50).toFixed(1)} ms, p99 ${percentile(joinMs, 99).toFixed(1)} ms)`
    )
    await sleep(1000)

    // Per receiver: the last seq seen, how many arrived, gaps and repeats.
    const lastSeq = new Int32Array(n)
    const got = new Int32Array(n)
    let missingInside = 0
    let repeated = 0
    const roomMax = new Int32Array(roomCount)
    let acked = 0
    let sent = 0
    const capacity = MIX_RATE * MIX_SECONDS * MIX_ROOM_SIZE + 1000
    const samples = new Float64Array(capacity)
    let count = 0
    const t0 = performance.now()
    const skipBefore = t0 + 1000
    /** Latencies by 5-second window of send time: does the delay grow over the run? */
    const windows: Array<Array<number>> = []
    conns.forEach((c, j) => {
      c.onMessage = (data) => {
        const buf = data as Buffer
        const seq = seqOf(buf)
        if (seq <= lastSeq[j]!) repeated++
        else {
          if (seq > lastSeq[j]! + 1) missingInside += seq - lastSeq[j]! - 1
          lastSeq[j] = seq
          got[j]!++
        }
        const at = sentAt(buf)
        const ms = performance.now() - at
        if (at >= skipBefore && count < capacity) samples[count++] = ms
        ;(windows[Math.floor((at - t0) / 5000)] ??= []).push(ms)
      }
      c.onAck = (frame) => {
        acked++
        const r = roomIndex.get(frame.message.room_id)!
        if (frame.message.seq > roomMax[r]!) roomMax[r] = frame.message.seq
      }
    })
    const cpu0 = cpuMicros(server.child.pid!)
    const pg0 = postgresCpuMicros(POSTMASTER)
    const TICK_MS = 10
    const perTick = MIX_RATE / (1000 / TICK_MS)
    const ticks = (MIX_SECONDS * 1000) / TICK_MS
    let owed = 0
    for (let t = 0; t < ticks; t++) {
      const wait = t0 + t * TICK_MS - performance.now()
      if (wait > 0) await sleep(wait)
      owed += perTick
      for (; owed >= 1; owed--) {
        const room = sent % roomCount
        const member = Math.floor(sent / roomCount) % MIX_ROOM_SIZE
        conns[room * MIX_ROOM_SIZE + member]!.send(content(String(sent)))
        sent++
      }
    }
    const sendWall = performance.now() - t0
    const settle = performance.now()
    const complete = () => acked >= sent && conns.every((_, j) => lastSeq[j] === roomMax[Math.floor(j / MIX_ROOM_SIZE)])
    while (!complete() && performance.now() - settle < 15_000) await sleep(50)
    const cpu = cpuMicros(server.child.pid!) - cpu0
    const pgCpu = postgresCpuMicros(POSTMASTER) - pg0
    const wall = performance.now() - t0
    let missingTail = 0
    let deliveries = 0
    for (let j = 0; j < n; j++) {
      missingTail += Math.max(0, roomMax[Math.floor(j / MIX_ROOM_SIZE)]! - lastSeq[j]!)
      deliveries += got[j]!
    }
    const errors = new Map<string, number>()
    for (const c of conns) for (const [code, k] of c.errors) errors.set(code, (errors.get(code) ?? 0) + k)
    const closedCount = conns.filter((c) => c.closed).length
    const stored = Number((await api(server, "GET", `/api/v1/chat/rooms/${rooms[0]}`, veza.setup.owner)).last_seq)
    const l = latencyStats(samples, count)
    const lost = missingInside + missingTail
    say(`  sent ${sent} in ${(sendWall / 1000).toFixed(1)} s (${(sent / (sendWall / 1000)).toFixed(0)}/s), acked ${acked}, deliveries ${deliveries} (expected ${sent * MIX_ROOM_SIZE})`)
    say(`  lost ${lost} (gaps ${missingInside}, tail ${missingTail}), repeated/out of order ${repeated}, errors ${JSON.stringify(Object.fromEntries(errors))}, connections closed ${closedCount}, room 0 last_seq ${stored} (acked max ${roomMax[0]})`)
    say(`  send→deliver over ${count} deliveries: p50 ${l.p50.toFixed(1)} ms, p95 ${l.p95.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(0)} ms`)
    say(`  p99 by 5 s window of send time: ${windows.map((w) => percentile(w.sort((a, b) => a - b), 99).toFixed(0)).join(", ")} ms`)
    say(
      `  server CPU ${((cpu / 1000 / wall) * 100).toFixed(0)}% of a core, ${(cpu / Math.max(1, acked)).toFixed(0)} µs per stored message; ` +
        `PostgreSQL ${((pgCpu / 1000 / wall) * 100).toFixed(0)}% of a core, ${(pgCpu / Math.max(1, acked)).toFixed(0)} µs per message`
    )
    summary.push(
      `mix N=${n} rooms=${roomCount} ${MIX_RATE}/s × ${MIX_SECONDS}s: p99 ${l.p99.toFixed(1)} ms (goal ≤ 50 ms), lost ${lost}, repeated ${repeated}, acked ${acked}/${sent}, errors ${errors.size === 0 ? "none" : JSON.stringify(Object.fromEntries(errors))}`
    )
  } finally {
    await closeAll(conns)
    if (server !== undefined) await stop(server)
    await db.drop()
  }
}

export const runChat = async (admin: Awaited<ReturnType<typeof adminUrl>>, parts: ReadonlyArray<ChatPart>) => {
  const selected = new Set(parts)
  say(`Chat bench: settings for Veza ${JSON.stringify(VEZA_CHAT_ENV)}; ${USERS} users, several connections each; open-files limit ${openFilesLimit()}`)
  const t0 = performance.now()
  if (selected.has("chat-broadcast") || selected.has("chat-latency")) await broadcastAndLatency(admin, selected)
  if (selected.has("chat-memory")) await memory(admin)
  if (selected.has("chat-mix")) await mix(admin)
  say("")
  say(`Chat summary (${((performance.now() - t0) / 1000).toFixed(0)} s):`)
  for (const s of summary) say(`  ${s}`)
  if (closeCodes.size > 0) say(`  close codes seen by clients (before the bench closed them): ${JSON.stringify(Object.fromEntries(closeCodes))}`)
}
