import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import { describe, expect, it } from "vitest"
import { uniqueName } from "../support/accounts.js"
import { startServer, tempDataDir } from "../support/server.js"

const postgresProcessesUnder = (dir: string) => {
  try {
    return execFileSync("pgrep", ["-f", `postgres -D ${dir}`], { encoding: "utf8" }).trim().split("\n").filter(Boolean)
  } catch {
    return [] // pgrep exits 1 when nothing matches
  }
}

/** A request whose body trickles in, so it is still in flight when the signal lands. */
const slowRegister = (baseUrl: string, onStarted: () => void) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const username = uniqueName()
    const payload = Buffer.from(JSON.stringify({ email: `${username}@example.com`, username, password: "slow but steady" }))
    const req = NodeHttp.request(`${baseUrl}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(payload.length) }
    })
    req.on("response", (res) => {
      let body = ""
      res.on("data", (d) => (body += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
    req.write(payload.subarray(0, 10))
    onStarted()
    setTimeout(() => req.end(payload.subarray(10)), 1500)
  })

describe("graceful shutdown", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} with a request in flight: the request completes, exit 0, no postgres left`, async () => {
      const dataDir = tempDataDir()
      // No DATABASE_URL: the embedded database must be stopped by the process itself.
      const server = await startServer({ DATA_DIR: dataDir, SHUTDOWN_GRACE_MS: "10000" })
      expect(postgresProcessesUnder(dataDir).length).toBeGreaterThan(0)
      // The embedded superuser password is random and readable by the owner only.
      const passwordFile = NodePath.join(dataDir, "pg-password")
      expect(NodeFs.readFileSync(passwordFile, "utf8").trim()).toMatch(/^[A-Za-z0-9_-]{32}$/)
      expect(NodeFs.statSync(passwordFile).mode & 0o077).toBe(0)
      let signalled!: Promise<number | null>
      const response = await slowRegister(server.baseUrl, () => {
        setTimeout(() => (signalled = server.stop(signal)), 200)
      })
      expect(response.status, response.body).toBe(201)
      expect(await signalled).toBe(0)
      const messages = server.logs.map((l) => l.message)
      expect(messages.indexOf("draining HTTP server")).toBeLessThan(messages.indexOf("HTTP server closed"))
      expect(postgresProcessesUnder(dataDir)).toEqual([])
      await expect(fetch(`${server.baseUrl}/healthz`)).rejects.toThrow()
    })
  }

  it("as root, with a DATA_DIR the postgres user cannot reach, still starts and stops cleanly", async (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip()
    const dataDir = tempDataDir()
    NodeFs.chmodSync(dataDir, 0o700) // like a clone under /root
    const server = await startServer({ DATA_DIR: dataDir })
    const moved = server.logs.find((l) => l.message.startsWith("embedded PostgreSQL moved"))
    const clusterDir = String(moved?.annotations["using"])
    expect(clusterDir).toMatch(/^\/var\/tmp\/veza-pg-[0-9a-f]{16}$/)
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200)
    expect(await server.stop("SIGTERM")).toBe(0)
    expect(postgresProcessesUnder(clusterDir)).toEqual([])
    NodeFs.rmSync(clusterDir, { recursive: true, force: true })
  })

  it("cuts requests still running when the grace period ends, and still exits 0", async () => {
    const dataDir = tempDataDir()
    const server = await startServer({ DATA_DIR: dataDir, SHUTDOWN_GRACE_MS: "300" })
    const username = uniqueName()
    const req = NodeHttp.request(`${server.baseUrl}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "500" }
    })
    const outcome = new Promise<string>((resolve) => {
      req.on("response", () => resolve("response"))
      req.on("error", () => resolve("cut"))
    })
    req.write(`{"username":"${username}"`) // never finished
    await new Promise((r) => setTimeout(r, 100))
    const started = Date.now()
    expect(await server.stop("SIGTERM")).toBe(0)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await outcome).toBe("cut")
    expect(postgresProcessesUnder(dataDir)).toEqual([])
  })
})
