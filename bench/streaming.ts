/**
 * Streaming benchmarks (docs/performance.md, "Streaming"):
 *
 * - job:   one upload → `ready` with TRANSCODE_CONCURRENCY=1, against the
 *          same ffmpeg command run bare (the server's own `transcodeArgs`
 *          without the peaks and progress outputs), median of 3.
 * - batch: 8 tracks with TRANSCODE_CONCURRENCY=2, first upload → last
 *          publish, against the same 8 bare commands run two at a time;
 *          alternating pairs, a fresh server for each Veza batch.
 * - hls:   one ~96 KB segment and a rendition playlist from Veza against a
 *          bare node:http static server (bench/static-baseline.mjs) over
 *          the same files: req/s, latency and server CPU per request.
 *
 * The test audio (default 300 s, stereo, 44.1 kHz mp3: pink noise under a
 * few tones, the two channels different) is generated with the bundled
 * ffmpeg on first use and kept in the temp directory.
 */
import { spawn } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import { createRequire } from "node:module"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import { monotonicMicros, printProfile, summarizeProfile } from "./cpuprofile.js"
import {
  adminUrl,
  childrenCpuMicros,
  cpuMicros,
  fmt,
  freshDatabase,
  load,
  type LoadResult,
  median,
  postgresCpuMicros,
  ratio,
  type Server,
  start,
  stop,
  tempDataDir,
  vezaEnv,
  vezaNodeArgs
} from "./lib.js"

export const STREAMING_PARTS = ["job", "batch", "hls"] as const
export type StreamingPart = (typeof STREAMING_PARTS)[number]

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const AUDIO_SECONDS = env("BENCH_AUDIO_SECONDS", 300)
const JOB_REPEATS = env("BENCH_JOB_REPEATS", 3)
const BATCH_TRACKS = env("BENCH_BATCH_TRACKS", 8)
const BATCH_REPEATS = env("BENCH_BATCH_REPEATS", 2)
const HLS_DURATION_S = env("BENCH_HLS_DURATION", 3)
const HLS_WARMUP_S = env("BENCH_HLS_WARMUP", 2)
const HLS_ROUNDS = env("BENCH_HLS_ROUNDS", 3)
const PROFILE_S = env("BENCH_PROFILE_DURATION", 8)
const JOB_POLL_MS = 25
/**
 * Like a player's status check rather than a tight loop: at 50 ms the polls
 * alone cost the server ~3 s of CPU per batch, on the cores the ffmpegs
 * need. The batch's end is taken from the server's "transcode published" log
 * line, so the interval does not blur the figure.
 */
const BATCH_POLL_MS = 500
/** With several PostgreSQL servers on the machine, BENCH_POSTGRES_PID (a postmaster's pid) counts only that one. */
const POSTMASTER = process.env["BENCH_POSTGRES_PID"]
const LADDER = [64, 128, 256]
const SEGMENT_SECONDS = 6
const SEGMENT_TARGET_BYTES = (128_000 / 8) * SEGMENT_SECONDS

type FfmpegModule = typeof import("../src/platform/ffmpeg.js")

const ffmpegBinary = () =>
  process.env["FFMPEG_PATH"] || (createRequire(import.meta.url)("@ffmpeg-installer/ffmpeg") as { path: string }).path

const seconds = (ms: number) => (ms / 1000).toFixed(2)

/** Lines for the closing summary, in the order measured. */
const summary: Array<string> = []

// ---------------------------------------------------------------------------
// Processes and audio

/**
 * Detached, as the server runs its ffmpegs: each in a session of its own.
 * With the kernel's autogroup scheduling (on here), a session is one group
 * sharing the CPU fairly with other groups, so two raw ffmpegs left in the
 * bench's session would share one group's weight against other work on the
 * machine while the server's two would have two: the raw side would lose
 * time to outside load that Veza's ffmpegs do not.
 */
const run = (binary: string, args: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"], detached: true })
    let stderr = ""
    child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)))
    child.on("error", reject)
    child.on("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${NodePath.basename(binary)} ${code ?? signal}: ${stderr.trim()}`))
    )
  })

/** Pink noise under three tones, different in each channel, with an echo: AAC has real work to do. */
const testAudio = async (secondsLong: number) => {
  const dir = NodePath.join(NodeOs.tmpdir(), "veza-bench-audio")
  NodeFs.mkdirSync(dir, { recursive: true })
  const path = NodePath.join(dir, `mix-${secondsLong}s-v1.mp3`)
  if (NodeFs.existsSync(path)) return path
  const src = (s: string) => ["-f", "lavfi", "-i", `${s}:sample_rate=44100:duration=${secondsLong}`]
  const partial = `${path}.${process.pid}.mp3`
  await run(ffmpegBinary(), [
    "-v", "error", "-y",
    ...src("anoisesrc=color=pink:amplitude=0.25:seed=7"),
    ...src("anoisesrc=color=pink:amplitude=0.25:seed=8"),
    ...src("sine=frequency=220"),
    ...src("sine=frequency=331"),
    ...src("sine=frequency=554"),
    "-filter_complex",
    "[2]asplit[s1a][s1b];[3]asplit[s2a][s2b];[0][s1a][s2a]amix=inputs=3[l];[1][s1b][s2b][4]amix=inputs=4[r];" +
      "[l][r]join=inputs=2:channel_layout=stereo,aecho=0.8:0.7:37|53:0.4|0.3",
    "-c:a", "libmp3lame", "-b:a", "192k", partial
  ])
  NodeFs.renameSync(partial, path)
  return path
}

interface RawRun {
  readonly wallMs: number
  readonly cpuMs: number
}

/**
 * The server's ffmpeg command run bare: same ladder, same filter graph, same
 * muxer options, without the peaks branch and the progress channel.
 */
const rawTranscoder = (ffmpeg: FfmpegModule, work: string) => {
  let n = 0
  const prepare = (input: string) => {
    const outputDir = NodePath.join(work, `raw-${n++}`)
    for (const kbps of LADDER) NodeFs.mkdirSync(NodePath.join(outputDir, `${kbps}k`), { recursive: true })
    const args = ffmpeg.transcodeArgs(
      { input, outputDir, ladderKbps: LADDER, segmentSeconds: SEGMENT_SECONDS, sourceChannels: 2 },
      { peaksAndProgress: false }
    )
    return { args, outputDir }
  }
  return {
    args: (input: string) => prepare(input).args,
    /** Runs `count` jobs, `parallel` at a time; wall time of the whole, CPU of all the ffmpeg processes. */
    pool: async (input: string, count: number, parallel: number): Promise<RawRun> => {
      const jobs = Array.from({ length: count }, () => prepare(input))
      const cpuBefore = childrenCpuMicros("self")
      const started = performance.now()
      let next = 0
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < jobs.length) await run(ffmpegBinary(), jobs[next++]!.args)
        })
      )
      const wallMs = performance.now() - started
      const cpuMs = (childrenCpuMicros("self") - cpuBefore) / 1000
      for (const j of jobs) NodeFs.rmSync(j.outputDir, { recursive: true, force: true })
      return { wallMs, cpuMs }
    }
  }
}

// ---------------------------------------------------------------------------
// The Veza side

interface Veza {
  readonly server: Server
  readonly token: string
  readonly dataDir: string
  readonly databaseUrl: string
  readonly env: Record<string, string>
}

const startVeza = async (databaseUrl: string, concurrency: number, extraEnv: Record<string, string> = {}, dataDir = tempDataDir()) => {
  const serverEnv = vezaEnv(databaseUrl, dataDir, {
    TRANSCODE_CONCURRENCY: String(concurrency),
    HLS_LADDER_KBPS: LADDER.join(","),
    HLS_SEGMENT_SECONDS: String(SEGMENT_SECONDS),
    ...extraEnv
  })
  const server = await start("veza", [...vezaNodeArgs(), "dist/src/main.js"], serverEnv)
  return { server, dataDir, databaseUrl, env: serverEnv }
}

const registerCreator = async (url: string) => {
  const username = `bench_${Math.random().toString(16).slice(2, 10)}`
  const res = await fetch(`${url}/api/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `${username}@example.com`, username, password: "benchmark password", account_type: "creator" })
  })
  const body = (await res.json()) as { access_token: string }
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(body)}`)
  return body.access_token
}

/**
 * The bench's own HTTP client runs on the two cores the server and its
 * ffmpegs need, where a real client would not: it uses plain `node:http` with
 * the file streamed from disk (8 uploads through `fetch` and `FormData` took
 * 170–310 ms of this process's CPU, through `node:http` ~50 ms) and one
 * kept-alive connection for the polls.
 */
const agent = new NodeHttp.Agent({ keepAlive: true, maxSockets: 1 })

const request = (url: string, options: NodeHttp.RequestOptions, send: (req: NodeHttp.ClientRequest) => void) =>
  new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = NodeHttp.request(url, { agent, ...options }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) })
        } catch {
          reject(new Error(`${options.method ?? "GET"} ${url}: ${res.statusCode} ${text.slice(0, 300)}`))
        }
      })
      res.on("error", reject)
    })
    req.on("error", reject)
    send(req)
  })

const uploadTrack = async (veza: Veza, path: string, title: string) => {
  const boundary = `veza-bench-${NodeCrypto.randomBytes(8).toString("hex")}`
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
  const head = Buffer.from(
    field("title", title) +
      field("visibility", "public") +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${NodePath.basename(path)}"\r\nContent-Type: audio/mpeg\r\n\r\n`
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const { status, body } = await request(
    `${veza.server.url}/api/v1/tracks`,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${veza.token}`,
        "content-type": `multipart/form-data; boundary=${boundary}`,
        "content-length": head.length + NodeFs.statSync(path).size + tail.length
      }
    },
    (req) => {
      req.write(head)
      const file = NodeFs.createReadStream(path, { highWaterMark: 1024 * 1024 })
      file.on("error", (e) => req.destroy(e))
      file.on("end", () => req.end(tail))
      file.pipe(req, { end: false })
    }
  )
  if (status !== 201) throw new Error(`upload: ${status} ${JSON.stringify(body)}`)
  return (body as { id: string }).id
}

const isReady = async (veza: Veza, id: string) => {
  const { status, body } = await request(`${veza.server.url}/api/v1/tracks/${id}`, { headers: { authorization: `Bearer ${veza.token}` } }, (req) => req.end())
  const track = body as { status: string; transcode?: unknown }
  if (status !== 200) throw new Error(`GET track: ${status} ${JSON.stringify(track)}`)
  if (track.status === "failed") throw new Error(`track ${id} failed: ${JSON.stringify(track.transcode)}`)
  return track.status === "ready"
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Server process CPU (its own, and its reaped ffmpeg/ffprobe children), in ms. */
const serverCpu = (veza: Veza) => {
  const pid = veza.server.child.pid!
  return { own: cpuMicros(pid) / 1000, children: childrenCpuMicros(pid) / 1000 }
}

/** The job's log lines can trail the status the API shows by a few ms: waits up to 2 s for them. */
const awaitLog = async (veza: Veza, trackId: string, message: string) => {
  for (let waited = 0; waited < 2000 && loggedAt(veza, trackId, message) === undefined; waited += 20) await sleep(20)
}

/** When the server logged `message` for the track (bench clock), from its log lines. */
const loggedAt = (veza: Veza, trackId: string, message: string, progress?: number) =>
  veza.server.logs.find(
    (l) => l.message === message && l.annotations["track_id"] === trackId && (progress === undefined || l.annotations["progress"] === progress)
  )?.at

// ---------------------------------------------------------------------------
// 1. One job

const benchJob = async (veza: Veza, raw: ReturnType<typeof rawTranscoder>, audio: string) => {
  console.log(
    `\n[job] one ${AUDIO_SECONDS} s stereo mp3, ladder ${LADDER.join("/")}k AAC-LC, ${SEGMENT_SECONDS} s fMP4 segments; TRANSCODE_CONCURRENCY=1`
  )
  console.log("  raw = the server's ffmpeg argument list without peaks/progress, wall clock spawn → exit")
  console.log(`  veza = 201 from the upload → GET /api/v1/tracks/:id says ready (polled every ${JOB_POLL_MS} ms)`)
  console.log("  veza CPU = its ffmpeg/ffprobe children + the server process itself (polling included), 201 → ready")
  console.log(
    `  ${"run".padEnd(5)}${"raw s".padStart(8)}${"veza s".padStart(8)}${"ratio".padStart(8)}${"raw CPU s".padStart(11)}${"veza CPU s".padStart(16)}  veza phases: 201→claimed, ffmpeg (+read-back), store+publish, publish→seen (a log line can trail the status by ms)`
  )
  const rows: Array<{ raw: number; veza: number; rawCpu: number; vezaNode: number; vezaFfmpeg: number }> = []
  for (let i = 0; i < JOB_REPEATS; i++) {
    // Alternating keeps a slow patch of the shared machine from landing on one side only.
    const rawRun = await raw.pool(audio, 1, 1)
    const id = await uploadTrack(veza, audio, `job ${i}`)
    const t201 = performance.now()
    const cpu0 = serverCpu(veza)
    while (!(await isReady(veza, id))) await sleep(JOB_POLL_MS)
    const seen = performance.now()
    const cpu1 = serverCpu(veza)
    const vezaMs = seen - t201
    const vezaNode = cpu1.own - cpu0.own
    const vezaFfmpeg = cpu1.children - cpu0.children
    await awaitLog(veza, id, "transcode published")
    const started = loggedAt(veza, id, "transcode started")
    const transcoded = loggedAt(veza, id, "transcode progress", 100)
    const published = loggedAt(veza, id, "transcode published")
    const phases =
      started !== undefined && transcoded !== undefined && published !== undefined
        ? `${seconds(started - t201)}, ${seconds(transcoded - started)}, ${seconds(published - transcoded)}, ${seconds(seen - published)}`
        : "(log lines missing)"
    rows.push({ raw: rawRun.wallMs, veza: vezaMs, rawCpu: rawRun.cpuMs, vezaNode, vezaFfmpeg })
    console.log(
      `  ${String(i + 1).padEnd(5)}${seconds(rawRun.wallMs).padStart(8)}${seconds(vezaMs).padStart(8)}${ratio(vezaMs, rawRun.wallMs).padStart(8)}${seconds(rawRun.cpuMs).padStart(11)}${`${seconds(vezaFfmpeg)} + ${seconds(vezaNode)}`.padStart(16)}  ${phases}`
    )
  }
  const raw_ = median(rows.map((r) => r.raw))
  const veza_ = median(rows.map((r) => r.veza))
  console.log(
    `  median: raw ${seconds(raw_)} s, veza ${seconds(veza_)} s → ratio ${ratio(veza_, raw_)} (goal ≤ 1.10x); CPU raw ffmpeg ${seconds(median(rows.map((r) => r.rawCpu)))} s, veza ffmpeg+ffprobe ${seconds(median(rows.map((r) => r.vezaFfmpeg)))} s + node ${seconds(median(rows.map((r) => r.vezaNode)))} s`
  )
  console.log(`  raw realtime factor ${(AUDIO_SECONDS / (raw_ / 1000)).toFixed(1)}x, veza ${(AUDIO_SECONDS / (veza_ / 1000)).toFixed(1)}x`)
  summary.push(`job: upload 201 → ready ${seconds(veza_)} s vs raw ffmpeg ${seconds(raw_)} s = ${ratio(veza_, raw_)} [≤ 1.10x] (median of ${rows.length})`)
}

// ---------------------------------------------------------------------------
// 2. A batch, two at a time

interface VezaBatch {
  readonly ids: ReadonlyArray<string>
  readonly wallMs: number
  readonly serverCpuMs: number
  readonly childrenCpuMs: number
}

/** One Veza batch: the uploads one after another, then polls until all are ready; wall time to the last publish. */
const vezaBatch = async (veza: Veza, audio: string): Promise<VezaBatch> => {
  const audioTotal = BATCH_TRACKS * AUDIO_SECONDS
  const cpu0 = serverCpu(veza)
  const pg0 = postgresCpuMicros(POSTMASTER)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  const ids: Array<string> = []
  const answered: Array<number> = []
  for (let i = 0; i < BATCH_TRACKS; i++) {
    ids.push(await uploadTrack(veza, audio, `batch ${i}`))
    answered.push(performance.now())
  }
  const uploaded = performance.now()
  // Jobs finish roughly in upload order: poll the oldest one not seen ready, then move on.
  let pending = 0
  while (pending < ids.length) {
    if (await isReady(veza, ids[pending]!)) pending++
    else await sleep(BATCH_POLL_MS)
  }
  const done = performance.now()
  const cpu1 = serverCpu(veza)
  const pgCpu = (postgresCpuMicros(POSTMASTER) - pg0) / 1000
  const clientCpu = process.cpuUsage(client0)
  for (const id of ids) await awaitLog(veza, id, "transcode published")
  const lastPublished = Math.max(...ids.map((id) => loggedAt(veza, id, "transcode published") ?? NaN))
  if (Number.isNaN(lastPublished)) throw new Error("a track's \"transcode published\" log line is missing")
  const wallMs = lastPublished - t0
  console.log(
    `  veza pool: ${seconds(wallMs).padStart(7)} s wall to the last publish (uploads ${seconds(uploaded - t0)} s, all seen ready by polls every ${BATCH_POLL_MS} ms at ${seconds(done - t0)} s), ` +
      `CPU ${seconds(cpu1.own - cpu0.own)} s server + ${seconds(cpu1.children - cpu0.children)} s ffmpeg/ffprobe, realtime factor ${(audioTotal / (wallMs / 1000)).toFixed(1)}x`
  )
  console.log(
    `    around it on the same cores: PostgreSQL ${seconds(pgCpu)} s CPU (${POSTMASTER === undefined ? "every postgres process on the machine" : `postmaster ${POSTMASTER}`}), ` +
      `this bench process ${seconds((clientCpu.user + clientCpu.system) / 1000)} s (uploads, polls, reading the server's log)`
  )
  console.log("    per track, s from the first upload: 201, transcode started, ffmpeg done (progress 100), published")
  ids.forEach((id, i) => {
    const at = (message: string, progress?: number) => {
      const t = loggedAt(veza, id, message, progress)
      return (t === undefined ? "-" : seconds(t - t0)).padStart(7)
    }
    console.log(`    ${String(i + 1).padStart(2)} ${seconds(answered[i]! - t0).padStart(7)}${at("transcode started")}${at("transcode progress", 100)}${at("transcode published")}`)
  })
  return { ids, wallMs, serverCpuMs: cpu1.own - cpu0.own, childrenCpuMs: cpu1.children - cpu0.children }
}

/**
 * BATCH_REPEATS pairs, the order alternating within each pair (raw first,
 * then Veza first, …): on a machine whose speed drifts, one raw run followed
 * by one Veza run compares two different machines. Each Veza batch runs on a
 * fresh server; the last one is kept for the HLS part.
 */
const benchBatch = async (fresh: () => Promise<Veza>, raw: ReturnType<typeof rawTranscoder>, audio: string) => {
  const audioTotal = BATCH_TRACKS * AUDIO_SECONDS
  console.log(`\n[batch] ${BATCH_TRACKS} × ${AUDIO_SECONDS} s tracks, TRANSCODE_CONCURRENCY=2, ${BATCH_REPEATS} pairs of runs, order alternating`)
  console.log(`  raw = the same ffmpeg commands from a node pool of 2; veza = first upload starts → the last track published (uploads one after another; status polled every ${BATCH_POLL_MS} ms)`)
  const pairs: Array<{ raw: RawRun; veza: VezaBatch }> = []
  let veza: Veza | undefined
  for (let i = 0; i < BATCH_REPEATS; i++) {
    const runRaw = async () => {
      const r = await raw.pool(audio, BATCH_TRACKS, 2)
      console.log(`  raw pool:  ${seconds(r.wallMs).padStart(7)} s wall, ${seconds(r.cpuMs)} s ffmpeg CPU, realtime factor ${(audioTotal / (r.wallMs / 1000)).toFixed(1)}x`)
      return r
    }
    const runVeza = async () => {
      if (veza !== undefined) await stop(veza.server)
      veza = await fresh()
      return vezaBatch(veza, audio)
    }
    console.log(`  pair ${i + 1}`)
    const rawFirst = i % 2 === 0
    const first = rawFirst ? await runRaw() : await runVeza()
    const second = rawFirst ? await runVeza() : await runRaw()
    const pair = rawFirst ? { raw: first as RawRun, veza: second as VezaBatch } : { raw: second as RawRun, veza: first as VezaBatch }
    pairs.push(pair)
    console.log(
      `    ratio veza/raw ${ratio(pair.veza.wallMs, pair.raw.wallMs)}; CPU veza ffmpeg/ffprobe − raw ffmpeg ${seconds(pair.veza.childrenCpuMs - pair.raw.cpuMs)} s, veza server ${seconds(pair.veza.serverCpuMs)} s`
    )
  }
  const ratios = pairs.map((p) => p.veza.wallMs / p.raw.wallMs)
  const rawMedian = median(pairs.map((p) => p.raw.wallMs))
  const vezaMedian = median(pairs.map((p) => p.veza.wallMs))
  console.log(
    `  median: raw ${seconds(rawMedian)} s, veza ${seconds(vezaMedian)} s; ratio per pair ${ratios.map((r) => `${r.toFixed(2)}x`).join(", ")}, median ${median(ratios).toFixed(2)}x (goal ≤ 1.10x)`
  )
  summary.push(
    `batch: ${BATCH_TRACKS} tracks first upload → all ready, veza/raw pool of 2 per pair ${ratios.map((r) => `${r.toFixed(2)}x`).join(", ")}, median ${median(ratios).toFixed(2)}x [≤ 1.10x] (medians raw ${seconds(rawMedian)} s, veza ${seconds(vezaMedian)} s)`
  )
  summary.push(
    `pool realtime factor (audio s / wall s, TRANSCODE_CONCURRENCY=2, medians): veza ${(audioTotal / (vezaMedian / 1000)).toFixed(1)}x, raw ${(audioTotal / (rawMedian / 1000)).toFixed(1)}x`
  )
  return { veza: veza!, ids: pairs[pairs.length - 1]!.veza.ids }
}

// ---------------------------------------------------------------------------
// 3. HLS serving

interface Published {
  readonly trackId: string
  readonly attempt: string
  readonly segmentPath: string
  readonly playlistPath: string
  readonly segmentBytes: number
}

/** The URL paths of a published track's 128k playlist and the segment closest to 96 KB (seg_00003 when it is close). */
const publishedFiles = async (veza: Veza, trackId: string): Promise<Published> => {
  const master = await fetch(`${veza.server.url}/hls/${trackId}/master.m3u8`).then((r) => r.text())
  const rendition = master.split("\n").find((l) => l.trim().endsWith("128k/playlist.m3u8"))
  if (rendition === undefined) throw new Error(`no 128k rendition in\n${master}`)
  const attempt = rendition.trim().split("/")[0]!
  const dir = NodePath.join(veza.dataDir, "storage", "hls", trackId, attempt, "128k")
  const sizes = NodeFs.readdirSync(dir)
    .filter((f) => f.endsWith(".m4s"))
    .map((f) => ({ f, size: NodeFs.statSync(NodePath.join(dir, f)).size }))
  const preferred = sizes.find((s) => s.f === "seg_00003.m4s")
  const closest = [...sizes].sort((a, b) => Math.abs(a.size - SEGMENT_TARGET_BYTES) - Math.abs(b.size - SEGMENT_TARGET_BYTES))[0]!
  const pick = preferred !== undefined && Math.abs(preferred.size - SEGMENT_TARGET_BYTES) < 0.1 * SEGMENT_TARGET_BYTES ? preferred : closest
  const base = `/hls/${trackId}/${attempt}/128k`
  return { trackId, attempt, segmentPath: `${base}/${pick.f}`, playlistPath: `${base}/playlist.m3u8`, segmentBytes: pick.size }
}

const sameBody = async (a: Server, b: Server, path: string) => {
  const [x, y] = await Promise.all([a, b].map((s) => fetch(s.url + path).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }))))
  if (x!.status !== 200 || y!.status !== 200 || !x!.body.equals(y!.body)) {
    throw new Error(`${path}: ${a.name} ${x!.status} (${x!.body.length} B) vs ${b.name} ${y!.status} (${y!.body.length} B)`)
  }
  return x!.body.length
}

/** Load plus this process's CPU share (the load generator shares the cores with the servers). */
const loadWithGenerator = async (server: Server, path: string, connections: number, secondsLong: number) => {
  const before = process.cpuUsage()
  const result = await load(server, path, connections, secondsLong)
  const used = process.cpuUsage(before)
  return { ...result, generatorCpu: (used.user + used.system) / 1e6 / secondsLong }
}

const benchHls = async (veza: Veza, trackId: string, profile: boolean) => {
  const files = await publishedFiles(veza, trackId)
  const bare = await start("bare node:http", ["bench/static-baseline.mjs"], { ROOT: NodePath.join(veza.dataDir, "storage") })
  try {
    const playlistBytes = await sameBody(veza.server, bare, files.playlistPath)
    await sameBody(veza.server, bare, files.segmentPath)
    console.log(
      `\n[hls] public track, no auth; per file and connection count: ${HLS_WARMUP_S} s warm-up each, then ${HLS_ROUNDS} alternating ${HLS_DURATION_S} s runs each; medians (CPU/req range)`
    )
    const idle0 = cpuMicros(veza.server.child.pid!)
    await sleep(2000)
    const idle = (cpuMicros(veza.server.child.pid!) - idle0) / 2000
    const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(NodeFs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024
    console.log(
      `  veza idle: ${idle.toFixed(1)} ms CPU/s, RSS ${rss(veza.server.child.pid!).toFixed(0)} MB (bare ${rss(bare.child.pid!).toFixed(0)} MB)`
    )
    console.log(`  segment  ${files.segmentPath} (${files.segmentBytes} B)`)
    console.log(`  playlist ${files.playlistPath} (${playlistBytes} B)`)
    console.log(
      `  NOTE: autocannon runs in this process and shares the ${NodeOs.cpus().length} cores with the server under test; "gen CPU" is its share of one core —`
    )
    console.log("  near 100% the generator, not the server, limits req/s, and server CPU µs/req is the figure to compare.")
    console.log(
      `  ${"file".padEnd(10)}${"server".padEnd(16)}${"conns".padStart(6)}${"req/s".padStart(9)}${"MB/s".padStart(8)}${"p50 ms".padStart(9)}${"p95 ms".padStart(9)}${"p99 ms".padStart(9)}${"CPU µs/req".padStart(12)}${"(range)".padStart(12)}${"gen CPU".padStart(9)}${"non-2xx".padStart(9)}`
    )
    for (const [label, path] of [["segment", files.segmentPath], ["playlist", files.playlistPath]] as const) {
      for (const connections of [10, 50]) {
        const servers = [bare, veza.server]
        const runs = servers.map(() => [] as Array<LoadResult & { generatorCpu: number }>)
        for (const s of servers) await load(s, path, connections, HLS_WARMUP_S)
        for (let round = 0; round < HLS_ROUNDS; round++) {
          // Alternating order: a busy patch of the shared machine does not land on one server only.
          for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) runs[i]!.push(await loadWithGenerator(servers[i]!, path, connections, HLS_DURATION_S))
        }
        const medians = runs.map((rs) => {
          const m = (f: (r: LoadResult & { generatorCpu: number }) => number) => median(rs.map(f))
          const cpu = rs.map((r) => r.cpuUsPerReq)
          return {
            rps: m((r) => r.rps),
            bytesPerSecond: m((r) => r.bytesPerSecond),
            p50: m((r) => r.p50),
            p95: m((r) => r.p95),
            p99: m((r) => r.p99),
            cpuUsPerReq: m((r) => r.cpuUsPerReq),
            cpuRange: `${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)}`,
            generatorCpu: m((r) => r.generatorCpu),
            non2xx: rs.reduce((a, r) => a + r.non2xx, 0)
          }
        })
        medians.forEach((r, i) =>
          console.log(
            `  ${label.padEnd(10)}${servers[i]!.name.padEnd(16)}${String(connections).padStart(6)}${fmt(r.rps)}${(r.bytesPerSecond / 1e6).toFixed(1).padStart(8)}${fmt(r.p50, 2)}${fmt(r.p95, 2)}${fmt(r.p99, 2)}${fmt(r.cpuUsPerReq, 0).padStart(12)}${r.cpuRange.padStart(12)}${`${(r.generatorCpu * 100).toFixed(0)}%`.padStart(9)}${fmt(r.non2xx)}`
          )
        )
        const b = medians[0]!
        const v = medians[1]!
        const line = `${label} @${connections}: req/s ${ratio(v.rps, b.rps)}, p95 ${ratio(v.p95, b.p95)}, CPU/req ${ratio(v.cpuUsPerReq, b.cpuUsPerReq)}`
        summary.push(`hls ${line} [CPU ≤ 1.50x; req/s ≥ 0.90x]`)
        console.log(`    ratio veza/bare ${line}`)
      }
    }
    console.log("  goals: segment CPU/req ≤ 1.50x bare; req/s ≥ 0.90x bare where the generator is the bottleneck")
    if (profile) await profileSegments(veza, files.segmentPath)
  } finally {
    await stop(bare)
  }
}

/**
 * Restarts Veza (and starts the bare server) with `--cpu-prof`, loads the
 * segment on each, and lists the top frames of the measured window.
 */
const profileSegments = async (veza: Veza, segmentPath: string) => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-bench-prof-"))
  await stop(veza.server)
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: it goes on the command line.
  const prof = (name: string) => ["--cpu-prof", `--cpu-prof-dir=${NodePath.join(dir, name)}`]
  const targets = [
    { name: "bare", args: [...prof("bare"), "bench/static-baseline.mjs"], env: { ROOT: NodePath.join(veza.dataDir, "storage") } },
    { name: "veza", args: [...prof("veza"), "dist/src/main.js"], env: veza.env }
  ]
  for (const target of targets) {
    const server = await start(`${target.name} --cpu-prof`, target.args, target.env)
    try {
      await load(server, segmentPath, 50, HLS_WARMUP_S + 1)
      const from = monotonicMicros()
      const r = await load(server, segmentPath, 50, PROFILE_S)
      const to = monotonicMicros()
      await stop(server)
      console.log(
        `\n[hls profile: ${target.name}] segment at 50 conns under --cpu-prof: ${r.rps.toFixed(0)} req/s, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req (/proc, profiler overhead included)`
      )
      const profileDir = NodePath.join(dir, target.name)
      const file = NodeFs.readdirSync(profileDir).find((f) => f.endsWith(".cpuprofile"))
      if (file === undefined) throw new Error(`no profile written to ${profileDir}`)
      // The measured window only: start-up and warm-up left out.
      printProfile(summarizeProfile(NodePath.join(profileDir, file), target.name === "veza" ? 30 : 12, { from, to }), Math.round(r.rps * PROFILE_S))
      console.log(`  profile kept at ${NodePath.join(profileDir, file)} (open in Chrome DevTools → Performance)`)
    } finally {
      await stop(server)
    }
  }
}

// ---------------------------------------------------------------------------

export const runStreaming = async (
  admin: Awaited<ReturnType<typeof adminUrl>>,
  parts: ReadonlyArray<StreamingPart>,
  options: { readonly profile: boolean }
) => {
  const ffmpeg = (await import(pathToFileURL(NodePath.resolve("dist/src/platform/ffmpeg.js")).href)) as FfmpegModule
  const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-bench-raw-"))
  const raw = rawTranscoder(ffmpeg, work)
  const generating = performance.now()
  const audio = await testAudio(AUDIO_SECONDS)
  console.log(
    `Streaming — ${NodeOs.cpus().length} cores, ${NodeOs.cpus()[0]?.model ?? "?"}; test audio ${audio} (${(NodeFs.statSync(audio).size / 1e6).toFixed(1)} MB, ready in ${seconds(performance.now() - generating)} s)`
  )
  console.log(`  ffmpeg ${ffmpegBinary()}`)
  console.log(`  raw command: ffmpeg ${raw.args("<input>").join(" ").replace(/\S*raw-\d+/g, "<out>")}`)

  const db = await freshDatabase(admin.url)
  const servers: Array<Veza> = []
  const dataDirs: Array<string> = []
  const track = async (concurrency: number) => {
    const dataDir = tempDataDir()
    dataDirs.push(dataDir)
    const started = await startVeza(db.url, concurrency, {}, dataDir)
    const veza: Veza = { ...started, token: await registerCreator(started.server.url) }
    servers.push(veza)
    return veza
  }
  try {
    if (parts.includes("job")) {
      const veza = await track(1)
      await benchJob(veza, raw, audio)
      await stop(veza.server)
    }
    let served: { veza: Veza; trackId: string } | undefined
    if (parts.includes("batch")) {
      const { veza, ids } = await benchBatch(() => track(2), raw, audio)
      served = { veza, trackId: ids[0]! }
    }
    if (parts.includes("hls")) {
      if (served === undefined) {
        const veza = await track(2)
        const id = await uploadTrack(veza, audio, "hls")
        while (!(await isReady(veza, id))) await sleep(BATCH_POLL_MS)
        served = { veza, trackId: id }
      }
      await benchHls(served.veza, served.trackId, options.profile)
    }
    console.log("\n[summary] ratios veza/baseline (goals in brackets)")
    for (const line of summary) console.log(`  ${line}`)
  } finally {
    await Promise.all(servers.map((s) => stop(s.server)))
    await db.drop()
    for (const dir of [work, ...dataDirs]) NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}
