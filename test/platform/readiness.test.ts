import * as NodeNet from "node:net"
import { describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { freshDatabase, query } from "../support/database.js"
import { s3Env } from "../support/s3.js"
import { http, startServer, waitUntil } from "../support/server.js"

describe("readiness", () => {
  it("turns false as soon as draining starts, while requests are still served", async () => {
    const server = await startServer({ DATABASE_URL: await freshDatabase("ready_drain"), SHUTDOWN_READINESS_DELAY_MS: "1500" })
    expect((await http(server.baseUrl, "GET", "/readyz")).status).toBe(200)
    const exited = server.stop("SIGTERM")
    await waitUntil("the drain to start", async () => server.logs.some((l) => l.message === "draining HTTP server"))
    const during = await http(server.baseUrl, "GET", "/readyz")
    expect(during.status).toBe(503)
    expect(during.body).toMatchObject({ ready: false, draining: true })
    expect(during.headers.get("connection")).toBe("close")
    expect((await http(server.baseUrl, "GET", "/healthz")).status).toBe(200)
    expect(await exited).toBe(0)
  })

  it("reports an unreachable database (503 on readyz and on calls) and recovers by itself", async () => {
    const db = await freshDatabase("ready_db")
    const name = new URL(db).pathname.slice(1)
    const server = await startServer({ DATABASE_URL: db, DB_CONNECT_TIMEOUT_MS: "1000" })
    const s = await registerUser(server.baseUrl)
    await query(db.replace(`/${name}`, "/postgres"), `alter database ${name} allow_connections false`)
    await query(db.replace(`/${name}`, "/postgres"), `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1`, [name])
    try {
      const ready = await http(server.baseUrl, "GET", "/readyz")
      expect(ready.status).toBe(503)
      expect(ready.body.checks.database).not.toBe("ok")
      const call = await http(server.baseUrl, "GET", `/api/v1/users/${s.user.id}`)
      expect(call.status).toBe(503)
      expect(call.body.error.code).toBe("DATABASE_UNAVAILABLE")
    } finally {
      await query(db.replace(`/${name}`, "/postgres"), `alter database ${name} allow_connections true`)
    }
    await waitUntil("readiness to come back", async () => (await http(server.baseUrl, "GET", "/readyz")).status === 200)
    expect((await http(server.baseUrl, "GET", `/api/v1/users/${s.user.id}`)).status).toBe(200)
  })

  it("reports storage that cannot be reached as not ready, while staying alive", async () => {
    const db = await freshDatabase("ready_storage")
    const closed = NodeNet.createServer()
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r))
    const port = (closed.address() as NodeNet.AddressInfo).port
    await new Promise((r) => closed.close(r))
    const server = await startServer({ DATABASE_URL: db, ...s3Env(port) })
    const ready = await http(server.baseUrl, "GET", "/readyz")
    expect(ready.status).toBe(503)
    expect(ready.body.checks.database).toBe("ok")
    expect(ready.body.checks.storage).not.toBe("ok")
    expect((await http(server.baseUrl, "GET", "/healthz")).status).toBe(200)
  })
})
