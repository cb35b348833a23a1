import { type ChildProcess, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeReadline from "node:readline"
import { afterAll } from "vitest"

export interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly annotations: Record<string, unknown>
}

export interface RunningServer {
  readonly baseUrl: string
  readonly port: number
  readonly process: ChildProcess
  readonly logs: Array<LogLine>
  readonly stdout: Array<string>
  readonly stderr: Array<string>
  /** Sends the signal and resolves with the exit code once the process is gone. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

export const tempDataDir = () => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-data-"))
  // The embedded database runs as the postgres user, which must traverse it.
  NodeFs.chmodSync(dir, 0o755)
  return dir
}

export const MAIN = NodePath.resolve("dist/src/main.js")

// Hooks registered here, at import, belong to the importing file; ones
// registered from inside a beforeAll would be silently dropped.
const running = new Set<RunningServer>()
afterAll(async () => {
  await Promise.all(Array.from(running, (s) => s.stop("SIGTERM")))
})
// A crashed or killed test worker must not leave servers behind.
process.on("exit", () => {
  for (const s of running) s.process.kill("SIGKILL")
})

/** Runs `node dist/src/main.js` with the given environment until it exits. */
export const runToExit = (env: Record<string, string>, args: ReadonlyArray<string> = []) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env["PATH"] ?? "", ...env } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

/**
 * Starts the real built server on a free port and waits for its "listening"
 * log line. Stopped (SIGTERM) when the test file ends unless stopped before.
 */
export const startServer = (env: Record<string, string>): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env["PATH"] ?? "",
        APP_ENV: "test",
        HOST: "127.0.0.1",
        PORT: "0",
        DATA_DIR: tempDataDir(),
        LOG_LEVEL: "info",
        // Tests change rows behind the server's back (a deleted account, a hidden track) and read at once:
        // the anonymous-read cache would answer for up to its TTL. test/tracks/public-read-cache.test.ts runs with it.
        PUBLIC_READ_CACHE_MS: "0",
        ...env
      }
    })
    const logs: Array<LogLine> = []
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    let exited = false
    let self: RunningServer | undefined
    const exit = new Promise<number | null>((r) =>
      child.on("exit", (code) => {
        exited = true
        if (self !== undefined) running.delete(self)
        r(code)
      })
    )
    const stop = (signal: NodeJS.Signals = "SIGTERM") => {
      if (!exited) child.kill(signal)
      return exit
    }
    NodeReadline.createInterface({ input: child.stderr }).on("line", (l) => stderr.push(l))
    NodeReadline.createInterface({ input: child.stdout }).on("line", (line) => {
      stdout.push(line)
      let parsed: LogLine
      try {
        parsed = JSON.parse(line)
      } catch {
        return
      }
      logs.push(parsed)
      if (parsed.message === "listening") {
        const port = Number(parsed.annotations["port"])
        self = { baseUrl: `http://127.0.0.1:${port}`, port, process: child, logs, stdout, stderr, stop }
        running.add(self)
        resolve(self)
      }
    })
    void exit.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr.join("\n")}`)))
  })

export interface JsonResponse<T = any> {
  readonly status: number
  readonly headers: Headers
  readonly body: T
}

/** fetch with JSON in and out; the body is parsed when there is one. */
export const http = async <T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {}
): Promise<JsonResponse<T>> => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
  let body: string | undefined
  if (options.raw !== undefined) body = options.raw
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers["content-type"] ??= "application/json"
  }
  const res = await fetch(baseUrl + path, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await res.text()
  let parsed: unknown = undefined
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = text
    }
  }
  return { status: res.status, headers: res.headers, body: parsed as T }
}

/** Polls `check` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export const waitUntil = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}
