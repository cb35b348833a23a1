import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { freshDatabase, query } from "../support/database.js"
import { http, runToExit, startServer, tempDataDir } from "../support/server.js"

const LONG_SECRET = "a-production-secret-of-at-least-32-chars!"

describe("production start-up rules", () => {
  it("refuses to start without JWT_SECRET, CORS_ALLOWED_ORIGINS and DATABASE_URL, in one line", async () => {
    const r = await runToExit({ APP_ENV: "production", DATA_DIR: tempDataDir() })
    expect(r.code).toBe(1)
    const lines = r.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^veza: refusing to start in production: /)
    expect(lines[0]).toContain("JWT_SECRET")
    expect(lines[0]).toContain("CORS_ALLOWED_ORIGINS")
    expect(lines[0]).toContain("DATABASE_URL")
  })

  const complete = {
    APP_ENV: "production",
    JWT_SECRET: LONG_SECRET,
    CORS_ALLOWED_ORIGINS: "https://veza.example",
    DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test"
  }
  it.each([
    [{ DATABASE_URL: "" }, "DATABASE_URL must be set"], // empty counts as unset
    [{ JWT_SECRET: "too-short" }, "JWT_SECRET must be set to at least 32 characters"],
    [{ CORS_ALLOWED_ORIGINS: " , " }, "CORS_ALLOWED_ORIGINS must list the allowed origins"]
  ])("with %j otherwise complete, refuses with exactly that reason", async (override, reason) => {
    const r = await runToExit({ ...complete, ...override, DATA_DIR: tempDataDir() })
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe(`veza: refusing to start in production: ${reason}`)
  })

  it("starts when the rules are met, and never logs the secret", async () => {
    const db = await freshDatabase("cfg_prod")
    const server = await startServer({ APP_ENV: "production", JWT_SECRET: LONG_SECRET, CORS_ALLOWED_ORIGINS: "https://veza.example", DATABASE_URL: db })
    const s = await registerUser(server.baseUrl)
    expect((await http(server.baseUrl, "GET", "/healthz")).headers.get("strict-transport-security")).toContain("max-age")
    expect(await server.stop()).toBe(0)
    const output = server.stdout.join("\n") + server.stderr.join("\n")
    expect(output).not.toContain(LONG_SECRET)
    expect(output).not.toContain(s.refresh_token)
    expect(output).not.toContain(s.password)
    // In production the mail's body is neither logged nor stored with its token.
    const mailLine = server.logs.find((l) => l.message.startsWith("email") && l.annotations["to"] === s.email)
    expect(mailLine?.annotations).not.toHaveProperty("body")
    const [stored] = await query<{ body_text: string }>(db, "select body_text from email_outbox where to_address = $1", [s.email])
    expect(stored!.body_text).toContain("token=[redacted]")
  })

  it("reports invalid settings by name", async () => {
    const r = await runToExit({ PORT: "eighty", DATA_DIR: tempDataDir() })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^veza: configuration error: .*PORT/)
    const roles = await runToExit({ VEZA_ROLES: "api,cooking", DATA_DIR: tempDataDir() })
    expect(roles.code).toBe(1)
    expect(roles.stderr).toContain("unknown role(s) cooking")
  })

  it("refuses broken storage and streaming settings in one line naming the variable", async () => {
    const db = await freshDatabase("config_streaming")
    for (const [env, needle] of [
      [{ TRACK_STORAGE_BACKEND: "s3" }, "S3_BUCKET"],
      [{ TRACK_STORAGE_BACKEND: "gcs" }, "TRACK_STORAGE_BACKEND"],
      [{ HLS_LADDER_KBPS: "64,loud" }, "HLS_LADDER_KBPS"],
      [{ HLS_SEGMENT_SECONDS: "0" }, "HLS_SEGMENT_SECONDS"],
      [{ MAX_UPLOAD_BYTES: "-5" }, "MAX_UPLOAD_BYTES"],
      [{ FFMPEG_PATH: "/nonexistent/ffmpeg" }, "FFMPEG_PATH"]
    ] as const) {
      const r = await runToExit({ ...env, DATABASE_URL: db, DATA_DIR: tempDataDir() })
      expect(r.code, JSON.stringify(env)).toBe(1)
      const lines = r.stderr.trim().split("\n")
      expect(lines, r.stderr).toHaveLength(1)
      expect(lines[0]).toMatch(/^veza: /)
      expect(lines[0]).toContain(needle)
    }
  }, 60_000)
})

describe("development defaults", () => {
  it("generates a JWT secret once under DATA_DIR, so tokens survive a restart", async () => {
    const db = await freshDatabase("cfg_dev")
    const dataDir = tempDataDir()
    const first = await startServer({ DATABASE_URL: db, DATA_DIR: dataDir })
    const s = await registerUser(first.baseUrl)
    expect(await first.stop()).toBe(0)
    const secretFile = NodePath.join(dataDir, "jwt-secret")
    expect(NodeFs.readFileSync(secretFile, "utf8").trim().length).toBeGreaterThanOrEqual(32)
    expect(NodeFs.statSync(secretFile).mode & 0o077).toBe(0)
    const second = await startServer({ DATABASE_URL: db, DATA_DIR: dataDir })
    expect((await http(second.baseUrl, "GET", "/api/v1/auth/me", { token: s.access_token })).status).toBe(200)
  })
})

describe("roles", () => {
  it("a process without the api role serves operations but not the API", async () => {
    const server = await startServer({ DATABASE_URL: await freshDatabase("cfg_roles"), VEZA_ROLES: "chat" })
    expect((await http(server.baseUrl, "GET", "/healthz")).status).toBe(200)
    expect((await http(server.baseUrl, "GET", "/readyz")).status).toBe(200)
    expect((await http(server.baseUrl, "GET", "/api/v1/auth/check-username?username=abc")).status).toBe(404)
    expect((await http(server.baseUrl, "POST", "/rpc", { raw: "{}" })).status).toBe(404)
    expect(server.logs.find((l) => l.message === "listening")?.annotations["roles"]).toBe("chat")
  })
})

describe("npm run migrate", () => {
  it("applies the migrations and exits 0", async () => {
    const db = await freshDatabase("cfg_migrate")
    const r = await runToExit({ DATABASE_URL: db, DATA_DIR: tempDataDir() }, ["migrate"])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain("migrations up to date")
    const applied = await query(db, "select id from schema_migrations order by id")
    expect(applied.length).toBeGreaterThanOrEqual(3)
  })
})
