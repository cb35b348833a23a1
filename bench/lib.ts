/**
 * Helpers shared by the benchmark scenarios: starting servers (the real one
 * and the bare baselines), reading process CPU time from /proc, loading a URL
 * with autocannon, and getting a PostgreSQL to run against.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeReadline from "node:readline"
import autocannon from "autocannon"
import pg from "pg"
import WebSocket from "ws"

export const DURATION_S = Number(process.env["BENCH_DURATION"] ?? 10)
export const WARMUP_S = Number(process.env["BENCH_WARMUP"] ?? 3)
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())

export interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly annotations: Record<string, unknown>
  /** performance.now() in this process when the line arrived. */
  readonly at: number
}

export interface Server {
  readonly name: string
  readonly url: string
  readonly child: ChildProcess
  /** Every JSON log line the server wrote, in order (kept for the streaming timings). */
  readonly logs: Array<LogLine>
}

export const start = (name: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<Server>((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] })
    const logs: Array<LogLine> = []
    NodeReadline.createInterface({ input: child.stdout! }).on("line", (line) => {
      let log: any
      try {
        log = JSON.parse(line)
      } catch {
        // Not a log line (e.g. --trace-gc output): shown with BENCH_SHOW_STDOUT=1.
        if (process.env["BENCH_SHOW_STDOUT"] === "1") process.stderr.write(`[${name}] ${line}\n`)
        return
      }
      logs.push({ message: String(log.message), logLevel: String(log.logLevel ?? ""), annotations: log.annotations ?? {}, at: performance.now() })
      if (log.message === "listening") resolve({ name, url: `http://127.0.0.1:${log.annotations.port}`, child, logs })
    })
    child.on("exit", (code) => reject(new Error(`${name} exited with ${code}`)))
  })

export const stop = (s: Server) =>
  new Promise<void>((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve()
    s.child.removeAllListeners("exit")
    s.child.on("exit", () => resolve())
    s.child.kill("SIGTERM")
  })

const statFields = (pid: number | "self") => NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
const ticksToMicros = (ticks: number) => (ticks / CLK_TCK) * 1e6

/** User + system CPU time of a process, in microseconds, from /proc. */
export const cpuMicros = (pid: number) => {
  const fields = statFields(pid)
  return ticksToMicros(Number(fields[11]) + Number(fields[12]))
}

/**
 * CPU time of the children a process has waited for (cutime + cstime), in
 * microseconds: for the server, its ffmpeg/ffprobe processes once they exited.
 */
export const childrenCpuMicros = (pid: number | "self") => {
  const fields = statFields(pid)
  return ticksToMicros(Number(fields[13]) + Number(fields[14]))
}

/**
 * CPU of every `postgres` process on the machine (own time plus reaped
 * children's: backends that exit move into the postmaster's cutime), in
 * microseconds; with `postmaster` (a pid), only that server and its backends.
 */
export const postgresCpuMicros = (postmaster?: string) => {
  let total = 0
  for (const entry of NodeFs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = NodeFs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const close = stat.indexOf(")")
      const parent = stat.slice(close + 2).split(" ")[1]
      if (postmaster !== undefined && entry !== postmaster && parent !== postmaster) continue
      if (stat.slice(stat.indexOf("(") + 1, close) === "postgres") total += cpuMicros(Number(entry)) + childrenCpuMicros(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return total
}

export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN

export const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export interface LoadResult {
  readonly rps: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly cpuUsPerReq: number
  readonly non2xx: number
  /** Response bytes per second, headers included. */
  readonly bytesPerSecond: number
}

export const load = async (server: Server, path: string, connections: number, seconds: number): Promise<LoadResult> => {
  const latencies: Array<number> = []
  const cpuBefore = cpuMicros(server.child.pid!)
  const result = await autocannon({
    url: server.url + path,
    connections,
    duration: seconds,
    setupClient: (client: any) => client.on("response", (_status: number, _bytes: number, time: number) => latencies.push(time))
  })
  const cpu = cpuMicros(server.child.pid!) - cpuBefore
  const sorted = latencies.sort((a, b) => a - b)
  const total = result.requests.total
  return {
    rps: total / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    cpuUsPerReq: cpu / Math.max(1, total),
    non2xx: result.non2xx + result.errors,
    bytesPerSecond: result.throughput.total / seconds
  }
}

export const adminUrl = async () => {
  if (process.env["DATABASE_URL"]) return { url: process.env["DATABASE_URL"], close: async () => {} }
  const local = "postgres://postgres@127.0.0.1:5432/postgres"
  try {
    const c = new pg.Client({ connectionString: local })
    await c.connect()
    await c.end()
    return { url: local, close: async () => {} }
  } catch {
    const { Effect, Exit, Redacted, Scope } = await import("effect")
    const { embeddedPostgres } = await import("../src/platform/embedded-postgres.js")
    const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-bench-pg-"))
    NodeFs.chmodSync(dir, 0o755)
    const scope = Effect.runSync(Scope.make())
    const url = await Effect.runPromise(Scope.extend(embeddedPostgres(NodePath.join(dir, "pg")), scope))
    return { url: Redacted.value(url), close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
  }
}

export const sql = async (url: string, text: string, values: ReadonlyArray<unknown> = []) => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return await c.query(text, values as Array<unknown>)
  } finally {
    await c.end()
  }
}

/** A fresh database on the admin server; `drop` removes it (forcibly). */
export const freshDatabase = async (adminUrlText: string) => {
  const dbName = `veza_bench_${NodeCrypto.randomBytes(4).toString("hex")}`
  await sql(adminUrlText, `create database ${dbName}`)
  const u = new URL(adminUrlText)
  u.pathname = `/${dbName}`
  return {
    url: u.toString(),
    drop: () => sql(adminUrlText, `drop database if exists ${dbName} with (force)`).then(() => undefined)
  }
}

/** A temporary DATA_DIR the embedded database's postgres user could traverse too. */
/** Extra node flags for the Veza servers a bench starts, for diagnosis: BENCH_VEZA_NODE_ARGS="--cpu-prof --trace-gc" (with BENCH_SHOW_STDOUT=1 for their non-JSON output). */
export const vezaNodeArgs = () => (process.env["BENCH_VEZA_NODE_ARGS"] ?? "").split(" ").filter((a) => a.length > 0)

export const tempDataDir = (prefix = "veza-bench-") => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), prefix))
  NodeFs.chmodSync(dir, 0o755)
  return dir
}

/** The environment every Veza server started by the bench gets. */
export const vezaEnv = (databaseUrl: string, dataDir: string, extra: Record<string, string> = {}): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  PORT: "0",
  HOST: "127.0.0.1",
  APP_ENV: "test",
  DATA_DIR: dataDir,
  ACCESS_LOG: process.env["ACCESS_LOG"] ?? "false",
  LOG_LEVEL: "info",
  ...extra
})

export const fmt = (n: number, digits = 0) => n.toFixed(digits).padStart(9)
export const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`

/** Runs `task(i)` for i < n, `concurrency` at a time. */
export const pool = async <A>(n: number, concurrency: number, task: (i: number) => Promise<A>) => {
  const out = new Array<A>(n)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) {
        const i = next++
        out[i] = await task(i)
      }
    })
  )
  return out
}

// ---------------------------------------------------------------------------
// The server's V8, through its inspector on loopback: heap after a full GC

/**
 * Heap used counts garbage not yet collected, which comes and goes with the
 * collector's mood; after a forced full collection it is what is retained.
 */
export const inspector = async (port: number) => {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => {
    ws.once("open", resolve)
    ws.once("error", reject)
  })
  let ids = 0
  const pending = new Map<number, (result: any) => void>()
  ws.on("message", (data: Buffer) => {
    const reply = JSON.parse(data.toString())
    if (reply.id !== undefined) pending.get(reply.id)?.(reply.result)
    pending.delete(reply.id)
  })
  const call = (method: string) =>
    new Promise<any>((resolve) => {
      const id = ++ids
      pending.set(id, resolve)
      ws.send(JSON.stringify({ id, method }))
    })
  return {
    /** A full collection, twice: the second frees what the first only finalized. */
    collectGarbage: async () => {
      await call("HeapProfiler.collectGarbage")
      await call("HeapProfiler.collectGarbage")
    },
    retainedHeap: async () => {
      await call("HeapProfiler.collectGarbage")
      return (await call("Runtime.getHeapUsage")).usedSize as number
    },
    close: () => ws.close()
  }
}

export const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = NodeNet.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as NodeNet.AddressInfo
      probe.close(() => resolve(port))
    })
  })
