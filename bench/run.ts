/**
 * `npm run bench`: Veza's endpoints against bare baselines doing the same
 * work on the same database, side by side in one run. Prints requests/s,
 * latency percentiles and server CPU per request, and each figure's ratio
 * to the baseline. Later features add scenarios to SCENARIOS.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeReadline from "node:readline"
import autocannon from "autocannon"
import pg from "pg"

const DURATION_S = Number(process.env["BENCH_DURATION"] ?? 10)
const WARMUP_S = Number(process.env["BENCH_WARMUP"] ?? 3)
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())

interface Server {
  readonly name: string
  readonly url: string
  readonly child: ChildProcess
}

const start = (name: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<Server>((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] })
    NodeReadline.createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const log = JSON.parse(line)
        if (log.message === "listening") resolve({ name, url: `http://127.0.0.1:${log.annotations.port}`, child })
      } catch {
        // not a log line
      }
    })
    child.on("exit", (code) => reject(new Error(`${name} exited with ${code}`)))
  })

const stop = (s: Server) =>
  new Promise<void>((resolve) => {
    s.child.removeAllListeners("exit")
    s.child.on("exit", () => resolve())
    s.child.kill("SIGTERM")
  })

/** User + system CPU time of a process, in microseconds, from /proc. */
const cpuMicros = (pid: number) => {
  const fields = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN

interface Result {
  readonly rps: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly cpuUsPerReq: number
  readonly non2xx: number
}

const load = async (server: Server, path: string, connections: number, seconds: number): Promise<Result> => {
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
    non2xx: result.non2xx + result.errors
  }
}

const adminUrl = async () => {
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

const sql = async (url: string, text: string) => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return await c.query(text)
  } finally {
    await c.end()
  }
}

const fmt = (n: number, digits = 0) => n.toFixed(digits).padStart(9)

const main = async () => {
  const admin = await adminUrl()
  const dbName = `veza_bench_${NodeCrypto.randomBytes(4).toString("hex")}`
  await sql(admin.url, `create database ${dbName}`)
  const u = new URL(admin.url)
  u.pathname = `/${dbName}`
  const databaseUrl = u.toString()
  const servers: Array<Server> = []
  try {
    const veza = await start("veza", ["dist/src/main.js"], {
      DATABASE_URL: databaseUrl,
      PORT: "0",
      HOST: "127.0.0.1",
      APP_ENV: "test",
      DATA_DIR: NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-bench-")),
      ACCESS_LOG: process.env["ACCESS_LOG"] ?? "false",
      LOG_LEVEL: "info"
    })
    servers.push(veza)
    const username = `bench_${NodeCrypto.randomBytes(4).toString("hex")}`
    const registered = await fetch(`${veza.url}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `${username}@example.com`, username, password: "benchmark password" })
    }).then((r) => r.json() as Promise<{ user: { id: string } }>)
    const userPath = `/api/v1/users/${registered.user.id}`
    const baseline = await start("node:http + pg", ["bench/baseline-server.mjs"], { DATABASE_URL: databaseUrl })
    servers.push(baseline)

    const same = [await fetch(veza.url + userPath).then((r) => r.json()), await fetch(baseline.url + userPath).then((r) => r.json())]
    const canonical = (o: object) => JSON.stringify(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)))
    if (canonical(same[0] as object) !== canonical(same[1] as object)) throw new Error(`responses differ:\n${JSON.stringify(same)}`)

    console.log(`GET /api/v1/users/:id — ${DURATION_S}s per run after ${WARMUP_S}s warm-up, ${NodeOs.cpus().length} cores, load generator in this process`)
    console.log(`${"server".padEnd(16)}${"conns".padStart(6)}${"req/s".padStart(9)}${"p50 ms".padStart(9)}${"p95 ms".padStart(9)}${"p99 ms".padStart(9)}${"CPU µs/req".padStart(12)}${"non-2xx".padStart(9)}`)
    for (const connections of [50, 10]) {
      const results: Record<string, Result> = {}
      for (const s of [baseline, veza]) {
        await load(s, userPath, 10, WARMUP_S)
        const r = await load(s, userPath, connections, DURATION_S)
        results[s.name] = r
        console.log(`${s.name.padEnd(16)}${String(connections).padStart(6)}${fmt(r.rps)}${fmt(r.p50, 2)}${fmt(r.p95, 2)}${fmt(r.p99, 2)}${fmt(r.cpuUsPerReq, 0).padStart(12)}${fmt(r.non2xx)}`)
      }
      const v = results["veza"]!
      const b = results[baseline.name]!
      console.log(
        `  ratio veza/baseline at ${connections} conns: req/s ${(v.rps / b.rps).toFixed(2)}x, p95 ${(v.p95 / b.p95).toFixed(2)}x, CPU/req ${(v.cpuUsPerReq / b.cpuUsPerReq).toFixed(2)}x`
      )
    }
  } finally {
    await Promise.all(servers.map(stop))
    await sql(admin.url, `drop database if exists ${dbName} with (force)`)
    await admin.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
