/**
 * Soak (docs/reliability.md, "Soak"): the built server (dist/src/main.js) on
 * 127.0.0.1 with a scratch database, held under steady load for a long time,
 * to show that nothing grows that should not.
 *
 * Load, all from this process:
 * - SOAK_CONNECTIONS (5000) chat WebSockets: users of 5 connections each (the
 *   default per-user cap), in public rooms of SOAK_ROOM_USERS (5) users;
 *   SOAK_CHAT_RATE (50) messages/s in total, sent from random connections;
 *   SOAK_CHURN (5) connections/s closed and reopened (rejoining their room).
 * - SOAK_LISTENERS (10) HLS listeners, each playing a published track over
 *   and over (master, one rendition's playlist, its init and segments).
 * - SOAK_API_RATE (10) REST requests/s: room history, track list, stream URLs.
 *
 * Every SOAK_SAMPLE_SECONDS (5) the server's /metrics are read: memory (RSS,
 * V8 heap), event-loop delay (p99 of prom-client's monitorEventLoopDelay over
 * the interval), open handles and resources, Effect fibers, and the sizes of
 * the chat structures. A table row is printed every SOAK_PRINT_SECONDS (30).
 *
 * Verdict (exit 1 when it fails):
 * - memory flat: after SOAK_WARMUP_SECONDS (120, at most a third of the run),
 *   the median heap after a full GC (forced through the server's inspector,
 *   on 127.0.0.1, at each printed row) of the last third of the rows is
 *   within 10% (or 16 MiB) of the first third's, and RSS within 10% (or 32
 *   MiB);
 * - back to baseline once every client has left (12 s, then up to 60 s
 *   more): the heap after GC within 10% (or 16 MiB) of the one before the load;
 *   chat connections, hub rooms and users, presence and rate buckets exactly;
 *   Effect fibers within 3 and handles within 2 of the counts before the
 *   load (the pool closes database connections idle for 10 s, and the
 *   transcode poller or a sweep may hold one at any moment);
 * - no HTTP answer of 500 or more, no failed request, no unexpected close.
 *
 * SOAK_SECONDS (600) is the time under load, after every connection is open.
 */
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import WebSocket from "ws"
import { generateAudio } from "../test/support/audio.js"
import { adminUrl, cpuMicros, freePort, freshDatabase, inspector, pool, type Server, sql, start, stop, tempDataDir, vezaEnv } from "./lib.js"

const num = (name: string, fallback: number) => {
  const raw = process.env[name]
  const value = raw === undefined || raw === "" ? fallback : Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`)
  return value
}
const SECONDS = num("SOAK_SECONDS", 600)
const CONNECTIONS = num("SOAK_CONNECTIONS", 5000)
const PER_USER = 5
const ROOM_USERS = num("SOAK_ROOM_USERS", 5)
const CHAT_RATE = num("SOAK_CHAT_RATE", 50)
const CHURN = num("SOAK_CHURN", 5)
const LISTENERS = num("SOAK_LISTENERS", 10)
const API_RATE = num("SOAK_API_RATE", 10)
const SAMPLE_S = num("SOAK_SAMPLE_SECONDS", 5)
const PRINT_S = num("SOAK_PRINT_SECONDS", 30)
const WARMUP_S = Math.min(num("SOAK_WARMUP_SECONDS", 120), SECONDS / 3)
const DB_POOL_MAX = 10
const SETTLE_S = 60
const JWT_SECRET = NodeCrypto.randomBytes(32).toString("base64url")

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const say = (line: string) => console.log(line)
const mib = (bytes: number) => bytes / 1024 / 1024

// ---------------------------------------------------------------------------
// What went wrong, counted

const problems = new Map<string, number>()
const note = (what: string) => problems.set(what, (problems.get(what) ?? 0) + 1)
const counters = { sent: 0, delivered: 0, hls: 0, api: 0, reconnects: 0 }

let server: Server
const base = () => server.url

const request = async (path: string, init: RequestInit = {}, what = "api") => {
  let res: Response
  try {
    res = await fetch(base() + path, init)
  } catch (e) {
    note(`${what}: ${String((e as Error).cause ?? e)}`)
    return undefined
  }
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status >= 500) note(`${what}: ${res.status}`)
  return { status: res.status, body }
}

const api = async (method: string, path: string, token?: string, payload?: unknown) => {
  const res = await request(path, {
    method,
    headers: { ...(payload === undefined ? {} : { "content-type": "application/json" }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) })
  })
  if (res === undefined || res.status >= 300) throw new Error(`${method} ${path}: ${res?.status} ${res?.body.toString().slice(0, 300)}`)
  return res.body.length > 0 ? JSON.parse(res.body.toString()) : undefined
}

// ---------------------------------------------------------------------------
// Metrics of the server

interface Sample {
  readonly t: number
  readonly rss: number
  readonly heap: number
  /** Heap used right after a forced full GC; only on the printed samples. */
  retained: number
  /** The interval held a forced GC, whose pause its delay figures include. */
  afterForcedGc: boolean
  readonly eldP99Ms: number
  readonly handles: number
  readonly resources: number
  readonly fibers: number
  readonly wsOpen: number
  readonly hubRooms: number
  readonly hubUsers: number
  readonly presence: number
  readonly buckets: number
  readonly handleTypes: string
}

const scrape = async (t: number): Promise<Sample> => {
  const res = await fetch(`${base()}/metrics`)
  const text = await res.text()
  const values = new Map<string, number>()
  const handleTypes: Array<string> = []
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.length === 0) continue
    const m = /^([a-zA-Z0-9_:]+)(\{[^}]*\})? (\S+)/.exec(line)
    if (m === null) continue
    if (m[1] === "veza_nodejs_active_handles" && m[2] !== undefined) handleTypes.push(`${/type="([^"]+)"/.exec(m[2])?.[1]}=${m[3]}`)
    if (m[2] === undefined) values.set(m[1]!, Number(m[3]))
  }
  const v = (name: string) => values.get(name) ?? NaN
  return {
    t,
    rss: v("veza_process_resident_memory_bytes"),
    heap: v("veza_nodejs_heap_size_used_bytes"),
    retained: NaN,
    afterForcedGc: false,
    eldP99Ms: v("veza_nodejs_eventloop_lag_p99_seconds") * 1000,
    handles: v("veza_nodejs_active_handles_total"),
    resources: v("veza_nodejs_active_resources_total"),
    fibers: v("veza_effect_fibers_active"),
    wsOpen: v("veza_chat_connections_open"),
    hubRooms: v("veza_chat_hub_rooms"),
    hubUsers: v("veza_chat_hub_users"),
    presence: v("veza_chat_presence_announced"),
    buckets: v("veza_chat_rate_buckets"),
    handleTypes: handleTypes.join(" ")
  }
}

// ---------------------------------------------------------------------------
// Chat clients

interface Seat {
  readonly token: string
  readonly room: string
  ws: WebSocket | undefined
  ready: boolean
}

const wsUrl = () => `${base().replace(/^http/, "ws")}/ws`

/** Opens the seat's connection and joins its room; resolves once joined (or failed). */
let leaving = false

const openSeat = (seat: Seat) =>
  new Promise<void>((resolve) => {
    if (leaving) return resolve()
    const ws = new WebSocket(wsUrl(), { headers: { authorization: `Bearer ${seat.token}` }, perMessageDeflate: false })
    seat.ws = ws
    seat.ready = false
    let settled = false
    const done = () => {
      if (!settled) {
        settled = true
        resolve()
      }
    }
    ws.on("message", (data: Buffer) => {
      // Most frames are deliveries: count them without parsing.
      if (data[9] === 0x6d && data.toString("latin1", 0, 17) === '{"type":"message"') {
        counters.delivered++
        return
      }
      const frame = JSON.parse(data.toString())
      if (frame.type === "ready") ws.send(JSON.stringify({ type: "join", room_id: seat.room, ref: "join" }))
      else if (frame.type === "joined") {
        seat.ready = true
        done()
      } else if (frame.type === "error") note(`chat error ${frame.code}`)
    })
    ws.on("close", (code) => {
      seat.ready = false
      if (seat.ws === ws && code !== 1000 && code !== 1005) note(`chat close ${code}`)
      done()
    })
    ws.on("error", (e) => {
      note(`chat socket: ${e.message}`)
      done()
    })
  })

const closeSeat = (seat: Seat) =>
  new Promise<void>((resolve) => {
    const ws = seat.ws
    seat.ws = undefined
    seat.ready = false
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return resolve()
    ws.once("close", () => resolve())
    ws.close(1000)
  })

// ---------------------------------------------------------------------------
// Load loops

/** Runs `tick` `perSecond` times a second, spread evenly, until `until()`. */
const steady = async (perSecond: number, until: () => boolean, tick: () => void) => {
  if (perSecond <= 0) return
  const interval = 1000 / perSecond
  let due = performance.now()
  while (!until()) {
    due += interval
    tick()
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    else if (wait < -1000) due = performance.now() // far behind: do not burst to catch up
  }
}

const playlistUris = (text: string) =>
  text
    .split("\n")
    .flatMap((line) => {
      const trimmed = line.trim()
      const map = /URI="([^"]+)"/.exec(trimmed)
      return [...(trimmed.length > 0 && !trimmed.startsWith("#") ? [trimmed] : []), ...(map === null ? [] : [map[1]!])]
    })

/** One listener: plays the track from its signed master URL, again and again. */
const listen = async (masterPath: string, until: () => boolean, rounds = Infinity) => {
  for (let round = 0; round < rounds && !until(); round++) {
    const master = await request(masterPath, {}, "hls")
    counters.hls++
    if (master === undefined || master.status !== 200) {
      if (master !== undefined) note(`hls master ${master.status}`)
      await sleep(1000)
      continue
    }
    const masterUrl = new URL(masterPath, base())
    const variants = playlistUris(master.body.toString())
    const variant = new URL(variants[Math.floor(Math.random() * variants.length)]!, masterUrl)
    const media = await request(variant.pathname + variant.search, {}, "hls")
    counters.hls++
    if (media === undefined || media.status !== 200) {
      if (media !== undefined) note(`hls playlist ${media.status}`)
      continue
    }
    for (const uri of playlistUris(media.body.toString())) {
      if (until()) return
      const segment = new URL(uri, variant)
      const res = await request(segment.pathname + segment.search, {}, "hls")
      counters.hls++
      if (res !== undefined && res.status !== 200) note(`hls segment ${res.status}`)
    }
    await sleep(250)
  }
}

// ---------------------------------------------------------------------------

const HEADER = ["t s", "ws cli", "ws srv", "sent/s", "deliv/s", "hls/s", "api/s", "cpu %", "rss MiB", "heap MiB", "after GC", "eld p99 ms", "handles", "resources", "fibers", "rooms", "users", "presence", "buckets"]
const line = (cells: ReadonlyArray<string>) => cells.map((cell, i) => cell.padStart(Math.max(HEADER[i]!.length, 6))).join("  ")
const row = (s: Sample, clientOpen: number, rates: { sent: number; delivered: number; hls: number; api: number; cpu: number }) => [
  s.t.toFixed(0),
  String(clientOpen),
  String(s.wsOpen),
  rates.sent.toFixed(0),
  rates.delivered.toFixed(0),
  rates.hls.toFixed(0),
  rates.api.toFixed(0),
  rates.cpu.toFixed(0),
  mib(s.rss).toFixed(0),
  mib(s.heap).toFixed(0),
  mib(s.retained).toFixed(0),
  s.eldP99Ms.toFixed(1),
  String(s.handles),
  String(s.resources),
  String(s.fibers),
  String(s.hubRooms),
  String(s.hubUsers),
  String(s.presence),
  String(s.buckets)
]

const medianOf = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
/** Least-squares slope of y over t, per minute. */
const slopePerMinute = (points: ReadonlyArray<[number, number]>) => {
  const n = points.length
  const mt = points.reduce((a, [t]) => a + t, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  const num_ = points.reduce((a, [t, y]) => a + (t - mt) * (y - my), 0)
  const den = points.reduce((a, [t]) => a + (t - mt) ** 2, 0)
  return den === 0 ? 0 : (num_ / den) * 60
}

const main = async () => {
  const users = Math.ceil(CONNECTIONS / PER_USER)
  const rooms = Math.ceil(users / ROOM_USERS)
  say(
    `Soak: ${CONNECTIONS} chat connections (${users} users × ${PER_USER}, ${rooms} rooms of ${ROOM_USERS} users), ${CHAT_RATE} msg/s, ` +
      `${CHURN} reconnects/s, ${LISTENERS} HLS listeners, ${API_RATE} API req/s, for ${SECONDS} s (warm-up ${WARMUP_S.toFixed(0)} s) on 127.0.0.1`
  )
  const admin = await adminUrl()
  const db = await freshDatabase(admin.url)
  const dataDir = tempDataDir("veza-soak-")
  const failures: Array<string> = []
  try {
    const inspectPort = await freePort()
    server = await start("veza", [`--inspect=127.0.0.1:${inspectPort}`, NodePath.resolve("dist/src/main.js")], vezaEnv(db.url, dataDir, {
      JWT_SECRET,
      ACCESS_LOG: "false",
      DB_POOL_MAX: String(DB_POOL_MAX),
      // Logins of thousands of users should not cost an argon2 hash of 19 MiB each.
      ARGON2_MEMORY_KIB: "1024",
      ARGON2_TIME_COST: "1",
      ACCESS_TOKEN_TTL_SECONDS: String(Math.ceil(SECONDS) + 3600),
      TRANSCODE_CONCURRENCY: "1"
    }))
    const v8 = await inspector(inspectPort)
    say(`server pid ${server.child.pid} at ${server.url}`)

    // Users: one through the API, the others as copies of it (same password hash), each then logging in.
    const t0 = performance.now()
    const password = "soak password"
    const first = await api("POST", "/api/v1/auth/register", undefined, { email: "soak0@soak.test", username: "soak_0", password, account_type: "creator" })
    const hash = (await sql(db.url, "select password_hash from users where id = $1", [first.user.id])).rows[0].password_hash as string
    await sql(
      db.url,
      `with created as (
         insert into users (email, username, password_hash, email_verified_at)
         select 'soak' || i || '@soak.test', 'soak_' || i, $1, now() from generate_series(1, $2::int - 1) as i
         returning id)
       insert into user_profiles (user_id) select id from created`,
      [hash, users]
    )
    const tokens = await pool(users, 16, async (i) =>
      i === 0 ? (first.access_token as string) : ((await api("POST", "/api/v1/auth/login", undefined, { email: `soak${i}@soak.test`, password })).access_token as string)
    )
    const roomIds = await pool(rooms, 8, async (i) => (await api("POST", "/api/v1/chat/rooms", tokens[0], { name: `soak ${i}`, type: "public" })).id as string)
    say(`${users} users logged in, ${rooms} rooms, in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // A published track for the listeners.
    const work = NodeFs.mkdtempSync(NodePath.join(dataDir, "audio-"))
    const audio = await generateAudio(work, { seconds: 20, format: "mp3" })
    const form = new FormData()
    form.append("title", "soak")
    form.append("visibility", "public")
    form.append("file", await NodeFs.openAsBlob(audio, { type: "audio/mpeg" }), "soak.mp3")
    const uploaded = await fetch(`${base()}/api/v1/tracks`, { method: "POST", body: form, headers: { authorization: `Bearer ${tokens[0]}` } })
    const track = (await uploaded.json()) as { id: string }
    if (uploaded.status !== 201) throw new Error(`upload: ${uploaded.status} ${JSON.stringify(track)}`)
    const deadline = Date.now() + 120_000
    while ((await api("GET", `/api/v1/tracks/${track.id}`, tokens[0])).status !== "ready") {
      if (Date.now() > deadline) throw new Error("the track was not ready within 120 s")
      await sleep(500)
    }
    // Only the path and query of the link are used, on this server, whatever host PUBLIC_URL names.
    const link = new URL((await api("GET", `/api/v1/tracks/${track.id}/stream-url`, tokens[1 % users])).url, base())
    const masterPath = link.pathname + link.search
    say(`track ${track.id} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // Baseline: everything set up, one listener pass and API calls done, no chat connection yet.
    await listen(masterPath, () => false, 1)
    await api("GET", "/api/v1/tracks?limit=20", tokens[0])
    await sleep(3000)
    const baseline = await scrape(0)
    baseline.retained = await v8.retainedHeap()
    say(`baseline: rss ${mib(baseline.rss).toFixed(0)} MiB, heap ${mib(baseline.heap).toFixed(0)} MiB (${mib(baseline.retained).toFixed(0)} after GC), handles ${baseline.handles} (${baseline.handleTypes}), fibers ${baseline.fibers}`)

    const seats: Array<Seat> = Array.from({ length: CONNECTIONS }, (_, i) => {
      const user = Math.floor(i / PER_USER)
      return { token: tokens[user]!, room: roomIds[Math.floor(user / ROOM_USERS)]!, ws: undefined, ready: false }
    })
    const tc = performance.now()
    await pool(seats.length, 64, (i) => openSeat(seats[i]!))
    const joined = seats.filter((s) => s.ready).length
    say(`${joined}/${seats.length} connections open and joined in ${((performance.now() - tc) / 1000).toFixed(1)} s`)
    if (joined < seats.length) failures.push(`${seats.length - joined} connections could not join`)

    // The load.
    const started = performance.now()
    const elapsed = () => (performance.now() - started) / 1000
    const over = () => elapsed() >= SECONDS
    const pick = () => seats[Math.floor(Math.random() * seats.length)]!
    const loops = [
      steady(CHAT_RATE, over, () => {
        const seat = pick()
        if (!seat.ready) return
        seat.ws!.send(JSON.stringify({ type: "send", room_id: seat.room, client_id: NodeCrypto.randomUUID(), content: `soak ${Date.now()} ${"x".repeat(60)}` }))
        counters.sent++
      }),
      steady(CHURN, over, () => {
        const seat = pick()
        if (!seat.ready) return
        counters.reconnects++
        void closeSeat(seat).then(() => openSeat(seat))
      }),
      steady(API_RATE, over, () => {
        const n = counters.api++
        const token = tokens[n % users]!
        const room = roomIds[Math.floor((n % users) / ROOM_USERS)]!
        const path = [`/api/v1/chat/rooms/${room}/messages?limit=20`, "/api/v1/tracks?limit=20", `/api/v1/tracks/${track.id}/stream-url`][n % 3]!
        void request(path, { headers: { authorization: `Bearer ${token}` } }).then((res) => {
          if (res !== undefined && res.status !== 200) note(`api ${path.split("?")[0]!.replace(/[0-9a-f-]{36}/g, ":id")} ${res.status}`)
        })
      }),
      ...Array.from({ length: LISTENERS }, () => listen(masterPath, over))
    ]

    const samples: Array<Sample> = []
    const printed: Array<string> = [line(HEADER)]
    say(line(HEADER))
    let last = { ...counters, at: 0, cpu: cpuMicros(server.child.pid!) }
    const sampler = (async () => {
      while (!over()) {
        await sleep(SAMPLE_S * 1000)
        const t = elapsed()
        const sample = await scrape(t)
        sample.afterForcedGc = Number.isFinite(samples[samples.length - 1]?.retained ?? NaN)
        samples.push(sample)
        if (t - last.at >= PRINT_S - 0.5 || over()) {
          // Forced here only, after the scrape: the pause lands in the next interval's delay figures.
          sample.retained = await v8.retainedHeap()
          const span = t - last.at
          const rates = {
            sent: (counters.sent - last.sent) / span,
            delivered: (counters.delivered - last.delivered) / span,
            hls: (counters.hls - last.hls) / span,
            api: (counters.api - last.api) / span,
            cpu: (cpuMicros(server.child.pid!) - last.cpu) / 1e4 / span
          }
          printed.push(line(row(sample, seats.filter((s) => s.ready).length, rates)))
          say(printed[printed.length - 1]!)
          last = { ...counters, at: t, cpu: cpuMicros(server.child.pid!) }
        }
      }
    })()
    await Promise.all([...loops, sampler])
    leaving = true
    // Reconnects still under way finish before everyone leaves.
    await sleep(2000)

    // Everyone leaves; the server should let go of everything they held.
    say(`load over after ${elapsed().toFixed(0)} s: ${counters.sent} messages sent, ${counters.delivered} delivered, ${counters.reconnects} reconnects, ${counters.hls} HLS and ${counters.api} API requests`)
    await pool(seats.length, 256, (i) => closeSeat(seats[i]!))
    const left = performance.now()
    // The pool closes database connections idle for 10 s: give it that before judging handles.
    await sleep(12_000)
    let after = await scrape(elapsed())
    const settled = (s: Sample) =>
      s.wsOpen === baseline.wsOpen &&
      s.hubRooms === baseline.hubRooms &&
      s.hubUsers === baseline.hubUsers &&
      s.presence === baseline.presence &&
      s.buckets === baseline.buckets &&
      s.fibers <= baseline.fibers + 3 &&
      s.handles <= baseline.handles + 2
    while (!settled(after) && performance.now() - left < SETTLE_S * 1000) {
      await sleep(1000)
      after = await scrape(elapsed())
    }
    after.retained = await v8.retainedHeap()
    say(`\nbaseline and after the clients left (${((performance.now() - left) / 1000).toFixed(1)} s later):`)
    const idle = { sent: 0, delivered: 0, hls: 0, api: 0, cpu: NaN }
    say([line(HEADER), line(row(baseline, 0, idle)), line(row(after, seats.filter((s) => s.ready).length, idle))].join("\n"))
    say(`handles before: ${baseline.handleTypes}; after: ${after.handleTypes}`)
    if (!settled(after)) failures.push("counts did not return to baseline (see the table above)")
    const retainedAllowance = Math.max(baseline.retained * 0.1, 16 * 1024 * 1024)
    say(`heap after GC: ${mib(baseline.retained).toFixed(1)} MiB before the load, ${mib(after.retained).toFixed(1)} MiB once the clients left (allowed +${mib(retainedAllowance).toFixed(1)})`)
    if (after.retained - baseline.retained > retainedAllowance) failures.push(`the heap kept ${mib(after.retained - baseline.retained).toFixed(1)} MiB after the clients left`)

    // Memory after warm-up.
    const steadySamples = samples.filter((s) => s.t >= WARMUP_S)
    if (steadySamples.filter((s) => Number.isFinite(s.retained)).length >= 3) {
      for (const [name, get, slack] of [
        ["heap after GC", (s: Sample) => s.retained, 16 * 1024 * 1024],
        ["rss", (s: Sample) => s.rss, 32 * 1024 * 1024]
      ] as const) {
        const points = steadySamples.filter((s) => Number.isFinite(get(s)))
        const part = Math.max(1, Math.floor(points.length / 3))
        const a = medianOf(points.slice(0, part).map(get))
        const b = medianOf(points.slice(-part).map(get))
        const slope = slopePerMinute(points.map((s) => [s.t, mib(get(s))]))
        const allowed = Math.max(a * 0.1, slack)
        say(
          `${name}: median ${mib(a).toFixed(1)} MiB in the first third after warm-up, ${mib(b).toFixed(1)} MiB in the last third ` +
            `(${b >= a ? "+" : ""}${mib(b - a).toFixed(1)} MiB, allowed +${mib(allowed).toFixed(1)}); trend ${slope >= 0 ? "+" : ""}${slope.toFixed(2)} MiB/min`
        )
        if (b - a > allowed) failures.push(`${name} grew by ${mib(b - a).toFixed(1)} MiB after warm-up`)
      }
      const eld = samples.filter((s) => !s.afterForcedGc).map((s) => s.eldP99Ms)
      const eldGc = samples.filter((s) => s.afterForcedGc).map((s) => s.eldP99Ms)
      say(
        `event-loop delay p99 per ${SAMPLE_S} s under load: median ${medianOf(eld).toFixed(1)} ms, worst ${Math.max(...eld).toFixed(1)} ms` +
          (eldGc.length > 0 ? `; intervals holding a forced GC: median ${medianOf(eldGc).toFixed(1)} ms, worst ${Math.max(...eldGc).toFixed(1)} ms` : "")
      )
    } else {
      failures.push(`too few printed samples after warm-up to judge memory: run longer`)
    }
    for (const [what, n] of problems) say(`problem: ${what} × ${n}`)
    const logged = new Map<string, number>()
    for (const l of server.logs) {
      if (l.logLevel === "WARN" || l.logLevel === "ERROR" || l.logLevel === "FATAL") logged.set(`${l.logLevel} ${l.message}`, (logged.get(`${l.logLevel} ${l.message}`) ?? 0) + 1)
    }
    for (const [what, n] of logged) say(`server log: ${what} × ${n}`)
    const serious = [...problems].filter(([what]) => !what.startsWith("chat error RATE_LIMITED"))
    if (serious.length > 0) failures.push(`${serious.reduce((a, [, n]) => a + n, 0)} failed requests or unexpected closes`)

    v8.close()
    const code = await new Promise<number | null>((resolve) => {
      server.child.once("exit", (c) => resolve(c))
      server.child.kill("SIGTERM")
    })
    if (code !== 0) failures.push(`the server exited with ${code} on SIGTERM`)
  } finally {
    if (server !== undefined) await stop(server)
    await db.drop()
    await admin.close()
    NodeFs.rmSync(dataDir, { recursive: true, force: true })
  }
  if (failures.length > 0) {
    say(`\nSOAK FAILED:\n- ${failures.join("\n- ")}`)
    process.exitCode = 1
  } else {
    say("\nSOAK PASSED: memory flat after warm-up, every count back to baseline, no failed request")
  }
}

await main()
