import { type ChildProcess, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect, Exit, Redacted, Scope } from "effect"
import { afterAll } from "vitest"
import { embeddedPostgres } from "../../src/platform/embedded-postgres.js"

/**
 * Dependencies of our own, on free ports, that a chaos test may stop and
 * start at will: the machine's shared Postgres and Redis are never touched.
 */

const cleanups: Array<() => Promise<void>> = []
// Registered at import, so it belongs to the importing file (after its servers' own hooks).
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = NodeNet.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as NodeNet.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

export const scratchDir = (label: string) => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), `veza-chaos-${label}-`))
  // The postgres user (when running as root) must traverse it.
  NodeFs.chmodSync(dir, 0o755)
  cleanups.push(async () => NodeFs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A PostgreSQL cluster of our own (the binaries `embedded-postgres` ships),
 * that keeps its port and password across `stop()` / `start()`.
 */
export const scratchPostgres = async () => {
  const dir = NodePath.join(scratchDir("pg"), "pg")
  let scope: Scope.CloseableScope | undefined
  let port: number | undefined
  const start = async () => {
    if (scope !== undefined) throw new Error("scratch PostgreSQL already running")
    const opened = Effect.runSync(Scope.make())
    const url = await Effect.runPromise(Scope.extend(embeddedPostgres(dir, port), opened))
    scope = opened
    port = Number(new URL(Redacted.value(url)).port)
    return Redacted.value(url)
  }
  /** Fast shutdown (SIGINT): sessions are terminated, like a database restart in production. */
  const stop = async () => {
    const closing = scope
    scope = undefined
    if (closing !== undefined) await Effect.runPromise(Scope.close(closing, Exit.void))
  }
  const url = await start()
  cleanups.push(stop)
  return { url, dir, start, stop, databaseUrl: (name: string) => url.replace(/\/postgres$/, `/${name}`) }
}

/** `redis-server` without persistence on a fixed free port, so a restart keeps REDIS_URL. */
export const scratchRedis = async () => {
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      proc.stdout!.on("data", (d) => {
        output += d
        if (output.includes("Ready to accept connections")) resolve()
      })
      proc.once("error", reject)
      proc.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${output}`)))
      child = proc
    })
  const stop = () =>
    new Promise<void>((resolve) => {
      const proc = child
      child = undefined
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return resolve()
      proc.once("exit", () => resolve())
      proc.kill("SIGKILL")
    })
  await start()
  cleanups.push(stop)
  return { url: `redis://127.0.0.1:${port}`, port, start, stop }
}

/** Processes whose command line mentions `needle` (ffmpeg and postgres name their folders). */
export const processesMentioning = (needle: string) =>
  NodeFs.readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return NodeFs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)
      } catch {
        return false
      }
    })
    .map(Number)

/** Kills what a dead server left behind under `needle`, so a failed test leaves nothing running. */
export const killMentioning = (needle: string) => {
  for (const pid of processesMentioning(needle)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
}

/** Files (not folders) under `dir`, relative to it. */
export const filesUnder = (dir: string) =>
  NodeFs.existsSync(dir)
    ? NodeFs.readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => NodePath.relative(dir, NodePath.join(e.parentPath, e.name)))
    : []

export interface Sample {
  readonly status: number
  readonly code: string | undefined
  readonly ms: number
  readonly at: number
}

/** One timed request; a connection failure or a timeout is status 0 with the reason as code. */
export const timed = async (url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Sample> => {
  const at = Date.now()
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
    const text = await res.text()
    let code: string | undefined
    try {
      code = JSON.parse(text)?.error?.code
    } catch {
      code = undefined
    }
    return { status: res.status, code, ms: Date.now() - at, at }
  } catch (e) {
    return { status: 0, code: e instanceof Error ? e.name : String(e), ms: Date.now() - at, at }
  }
}

export const percentile = (values: ReadonlyArray<number>, p: number) => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Prints one `chaos-figure` line that docs/reliability.md quotes. */
export const figure = (name: string, values: Record<string, unknown>) => {
  console.log(`chaos-figure ${name} ${JSON.stringify(values)}`)
}

/**
 * A plain HTTP proxy on a port of its own in front of `targetPort`, so a test
 * can stop the server behind it at an exact request (`onRequest` sees each
 * one before it is forwarded) and start it again without the clients noticing
 * a new address. A request the target cannot take gets its socket destroyed,
 * as a dead server would.
 */
export const interposer = async (targetPort: number, onRequest: (method: string, url: string) => Promise<void> | void = () => {}) => {
  const server = NodeHttp.createServer(async (req, res) => {
    await onRequest(req.method ?? "", req.url ?? "")
    const upstream = NodeHttp.request(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      }
    )
    upstream.once("error", () => res.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      })
  )
  return { port: (server.address() as NodeNet.AddressInfo).port }
}
