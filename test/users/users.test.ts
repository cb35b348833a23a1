import { beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer } from "../support/server.js"

let server: RunningServer
let db: string

beforeAll(async () => {
  db = await freshDatabase("users")
  server = await startServer({ DATABASE_URL: db })
})

describe("profiles", () => {
  it("are readable by id and by username without the private fields", async () => {
    const s = await registerUser(server.baseUrl)
    const byId = await http(server.baseUrl, "GET", `/api/v1/users/${s.user.id}`)
    expect(byId.status).toBe(200)
    expect(byId.body).toMatchObject({ id: s.user.id, username: s.user.username, role: "user", follower_count: 0 })
    expect(byId.body).not.toHaveProperty("email")
    expect(byId.body).not.toHaveProperty("password_hash")
    const byName = await http(server.baseUrl, "GET", `/api/v1/users/by-username/${s.user.username.toUpperCase()}`)
    expect(byName.status).toBe(200)
    expect(byName.body.id).toBe(s.user.id)
  })

  it("answers 404 for unknown or deleted accounts and 400 for a malformed id", async () => {
    const missing = await http(server.baseUrl, "GET", "/api/v1/users/00000000-0000-4000-8000-000000000000")
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe("USER_NOT_FOUND")
    const s = await registerUser(server.baseUrl)
    await query(db, "update users set deleted_at = now() where id = $1", [s.user.id])
    expect((await http(server.baseUrl, "GET", `/api/v1/users/${s.user.id}`)).status).toBe(404)
    const bad = await http(server.baseUrl, "GET", "/api/v1/users/not-a-uuid")
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe("VALIDATION_ERROR")
    expect((await http(server.baseUrl, "GET", "/api/v1/users/by-username/no%20spaces")).status).toBe(400)
  })
})

describe("updating a profile", () => {
  it("is allowed to the owner, and only the given fields change", async () => {
    const s = await registerUser(server.baseUrl)
    const first = await http(server.baseUrl, "PUT", `/api/v1/users/${s.user.id}`, {
      token: s.access_token,
      body: { display_name: "DJ Test", bio: "beats", website_url: "https://example.com/me" }
    })
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({ display_name: "DJ Test", bio: "beats", website_url: "https://example.com/me", email: s.email })
    const second = await http(server.baseUrl, "PUT", `/api/v1/users/${s.user.id}`, { token: s.access_token, body: { location: "Lyon", bio: null } })
    expect(second.body).toMatchObject({ display_name: "DJ Test", bio: null, location: "Lyon" })
    const audit = await query(db, "select action from audit_logs where actor_id = $1 and target_id = $1 order by created_at", [s.user.id])
    expect(audit.filter((a) => a["action"] === "user.profile_updated")).toHaveLength(2)
  })

  it("is refused to other users (403) and to anonymous callers (401)", async () => {
    const owner = await registerUser(server.baseUrl)
    const other = await registerUser(server.baseUrl)
    const res = await http(server.baseUrl, "PUT", `/api/v1/users/${owner.user.id}`, { token: other.access_token, body: { bio: "hijacked" } })
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe("FORBIDDEN")
    expect((await http(server.baseUrl, "PUT", `/api/v1/users/${owner.user.id}`, { body: { bio: "anon" } })).status).toBe(401)
    const unchanged = await http(server.baseUrl, "GET", `/api/v1/users/${owner.user.id}`)
    expect(unchanged.body.bio).toBeNull()
  })

  it("is allowed to an admin", async () => {
    const owner = await registerUser(server.baseUrl)
    const admin = await registerUser(server.baseUrl)
    await query(db, "update users set role = 'admin' where id = $1", [admin.user.id])
    const res = await http(server.baseUrl, "PUT", `/api/v1/users/${owner.user.id}`, { token: admin.access_token, body: { tagline: "moderated" } })
    expect(res.status).toBe(200)
    expect(res.body.tagline).toBe("moderated")
    const audit = await query(db, "select actor_id, action, metadata from audit_logs where target_id = $1", [owner.user.id])
    expect(audit).toContainEqual({ actor_id: admin.user.id, action: "admin.user_profile_updated", metadata: { fields: ["tagline"] } })
  })

  it.each([
    [{ website_url: "javascript:alert(1)" }, "website_url"],
    [{ bio: "x".repeat(4001) }, "bio"],
    [{ display_name: 12 }, "display_name"],
    [{ language: "english" }, "language"],
    [{ bio: "nul\u0000byte" }, "bio"],
    [{ timezone: "UTC\u0000" }, "timezone"],
    [{ bio: "a lone \uD83D surrogate" }, "bio"]
  ])("rejects %j with a 400 naming %s", async (body, field) => {
    const s = await registerUser(server.baseUrl)
    const res = await http(server.baseUrl, "PUT", `/api/v1/users/${s.user.id}`, { token: s.access_token, body })
    expect(res.status).toBe(400)
    expect(res.body.error.message).toContain(field)
  })
})
