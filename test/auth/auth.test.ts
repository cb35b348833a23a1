import * as Jose from "jose"
import { beforeAll, describe, expect, it } from "vitest"
import { registerUser, tokenFromLog, uniqueName } from "../support/accounts.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type JsonResponse, type RunningServer, startServer } from "../support/server.js"

const JWT_SECRET = "test-secret-that-is-long-enough-0123456789"
let server: RunningServer
let db: string
let api: (method: string, path: string, options?: Parameters<typeof http>[3]) => Promise<JsonResponse<any>>

beforeAll(async () => {
  db = await freshDatabase("auth")
  server = await startServer({
    DATABASE_URL: db,
    JWT_SECRET,
    LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "3",
    LOGIN_MAX_ATTEMPTS_PER_IP: "100",
    LOGIN_WINDOW_SECONDS: "600"
  })
  api = (method, path, options) => http(server.baseUrl, method, path, options)
})

describe("register", () => {
  it("creates a listener account and returns a session", async () => {
    const username = uniqueName("Mixed")
    const res = await api("POST", "/api/v1/auth/register", {
      body: { email: `${username}@Example.COM`, username, password: "long enough pw" }
    })
    expect(res.status).toBe(201)
    expect(res.body.user).toMatchObject({ username, role: "user", email: `${username}@example.com`.toLowerCase(), email_verified: false })
    expect(res.body.token_type).toBe("Bearer")
    expect(res.body.expires_in).toBe(900)
    const claims = Jose.decodeJwt(res.body.access_token)
    expect(claims).toMatchObject({ sub: res.body.user.id, role: "user", token_version: 0, iss: "veza-api", aud: "veza-app" })
    expect(typeof claims.exp).toBe("number")
    const stored = await query<{ password_hash: string }>(db, "select password_hash from users where id = $1", [res.body.user.id])
    expect(stored[0]!.password_hash).toMatch(/^\$argon2id\$/)
    const profile = await query(db, "select 1 from user_profiles where user_id = $1", [res.body.user.id])
    expect(profile).toHaveLength(1)
  })

  it.each(["creator", "artist", "producer", "label"])("gives account_type %s that role", async (accountType) => {
    const s = await registerUser(server.baseUrl, { account_type: accountType })
    expect(s.user.role).toBe(accountType)
  })

  it("refuses a taken email or username with 409, case-insensitively", async () => {
    const s = await registerUser(server.baseUrl)
    const sameEmail = await api("POST", "/api/v1/auth/register", {
      body: { email: s.email.toUpperCase(), username: uniqueName(), password: "long enough pw" }
    })
    expect(sameEmail.status).toBe(409)
    expect(sameEmail.body.error.code).toBe("EMAIL_TAKEN")
    const sameName = await api("POST", "/api/v1/auth/register", {
      body: { email: `${uniqueName()}@example.com`, username: s.user.username.toUpperCase(), password: "long enough pw" }
    })
    expect(sameName.status).toBe(409)
    expect(sameName.body.error.code).toBe("USERNAME_TAKEN")
  })

  it.each([
    [{ username: "ok_name", password: "long enough pw" }, "email"],
    [{ email: "not-an-email", username: "ok_name", password: "long enough pw" }, "email"],
    [{ email: "a@example.com", username: "no spaces allowed", password: "long enough pw" }, "username"],
    [{ email: "a@example.com", username: "ab", password: "long enough pw" }, "username"],
    [{ email: "a@example.com", username: "ok_name", password: "short" }, "password"],
    [{ email: "a@example.com", username: "ok_name", password: "x".repeat(300) }, "password"],
    [{ email: "a@example.com", username: "ok_name", password: "long enough pw", account_type: "admin" }, "account_type"],
    [{ email: 42, username: "ok_name", password: "long enough pw" }, "email"]
  ])("rejects invalid input %j with a 400 naming %s", async (body, field) => {
    const res = await api("POST", "/api/v1/auth/register", { body })
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe("VALIDATION_ERROR")
    expect(res.body.error.message).toContain(field)
  })
})

describe("login", () => {
  it("returns a session for the right password and records the login", async () => {
    const s = await registerUser(server.baseUrl)
    const res = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: s.password } })
    expect(res.status).toBe(200)
    expect(res.body.user.id).toBe(s.user.id)
    const rows = await query<{ login_count: number }>(db, "select login_count from users where id = $1", [s.user.id])
    expect(rows[0]!.login_count).toBe(1)
  })

  it("answers wrong password and unknown account identically with 401", async () => {
    const s = await registerUser(server.baseUrl)
    const wrong = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: "not the password" } })
    const unknown = await api("POST", "/api/v1/auth/login", { body: { email: `${uniqueName()}@example.com`, password: "whatever pw" } })
    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(wrong.body).toEqual(unknown.body)
  })

  it("limits failures per account with 429 and Retry-After, even for the right password", async () => {
    const s = await registerUser(server.baseUrl)
    for (let i = 0; i < 3; i++) {
      const res = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: `wrong ${i} pw` } })
      expect(res.status).toBe(401)
    }
    const limited = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: s.password } })
    expect(limited.status).toBe(429)
    expect(limited.body.error.code).toBe("TOO_MANY_ATTEMPTS")
    const retryAfter = Number(limited.headers.get("retry-after"))
    expect(retryAfter).toBeGreaterThan(500)
    expect(retryAfter).toBeLessThanOrEqual(600)
    const metrics = await fetch(`${server.baseUrl}/metrics`).then((r) => r.text())
    expect(metrics).toMatch(/veza_auth_login_attempts_total\{result="rate_limited"\} [1-9]/)
  })

  it("counts parallel guesses before checking them: a burst cannot exceed the limit", async () => {
    const s = await registerUser(server.baseUrl)
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => api("POST", "/api/v1/auth/login", { body: { email: s.email, password: `guess ${i} pw` } }))
    )
    expect(results.filter((r) => r.status === 401)).toHaveLength(3)
    expect(results.filter((r) => r.status === 429)).toHaveLength(9)
    const rows = await query(db, "select failure_reason from login_attempts where identifier = $1", [s.email])
    expect(rows).toEqual(Array.from({ length: 3 }, () => ({ failure_reason: "invalid_password" })))
  })

  it("refuses a banned account with 403", async () => {
    const s = await registerUser(server.baseUrl)
    await query(db, "update users set is_banned = true where id = $1", [s.user.id])
    const res = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: s.password } })
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe("ACCOUNT_DISABLED")
    const me = await api("GET", "/api/v1/auth/me", { token: s.access_token })
    expect(me.status).toBe(401)
  })
})

describe("tokens", () => {
  it("me answers with the account for a valid token and 401 otherwise", async () => {
    const s = await registerUser(server.baseUrl)
    const me = await api("GET", "/api/v1/auth/me", { token: s.access_token })
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ id: s.user.id, email: s.email, username: s.user.username, role: "user" })
    expect((await api("GET", "/api/v1/auth/me")).status).toBe(401)
    expect((await api("GET", "/api/v1/auth/me", { token: "garbage" })).status).toBe(401)
  })

  it("refuses tokens that are expired, for another audience or issuer, unsigned or signed with another key", async () => {
    const s = await registerUser(server.baseUrl)
    const key = new TextEncoder().encode(JWT_SECRET)
    const sign = (claims: { iss?: string; aud?: string; exp?: number }, secret = key) =>
      new Jose.SignJWT({ role: "admin", token_version: 0 })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(s.user.id)
        .setIssuer(claims.iss ?? "veza-api")
        .setAudience(claims.aud ?? "veza-app")
        .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 600)
        .sign(secret)
    const valid = await sign({})
    expect((await api("GET", "/api/v1/auth/me", { token: valid })).status).toBe(200)
    const unsigned = new Jose.UnsecuredJWT({ role: "admin", token_version: 0 }).setSubject(s.user.id).setIssuer("veza-api").setAudience("veza-app").setExpirationTime("10m").encode()
    for (const token of [
      await sign({ exp: Math.floor(Date.now() / 1000) - 10 }),
      await sign({ aud: "someone-else" }),
      await sign({ iss: "someone-else" }),
      await sign({}, new TextEncoder().encode("another-secret-another-secret-another")),
      unsigned
    ]) {
      const res = await api("GET", "/api/v1/auth/me", { token })
      expect(res.status).toBe(401)
      expect(res.body.error.code).toBe("INVALID_TOKEN")
    }
  })

  it("refuses a token once it expires, although it was accepted (and remembered as verified) before", async () => {
    const s = await registerUser(server.baseUrl)
    const exp = Math.floor(Date.now() / 1000) + 2
    const token = await new Jose.SignJWT({ role: "user", token_version: 0 })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(s.user.id)
      .setIssuer("veza-api")
      .setAudience("veza-app")
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(JWT_SECRET))
    expect((await api("GET", "/api/v1/auth/me", { token })).status).toBe(200)
    expect((await api("GET", "/api/v1/auth/me", { token })).status).toBe(200)
    while (Date.now() < exp * 1000 + 50) await new Promise((r) => setTimeout(r, 100))
    const res = await api("GET", "/api/v1/auth/me", { token })
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe("INVALID_TOKEN")
  })

  it("rotates refresh tokens, and re-use of a rotated one revokes the whole family", async () => {
    const s = await registerUser(server.baseUrl)
    const first = await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: s.refresh_token } })
    expect(first.status).toBe(200)
    expect(first.body.refresh_token).not.toBe(s.refresh_token)
    const second = await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: first.body.refresh_token } })
    expect(second.status).toBe(200)

    const reuse = await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: s.refresh_token } })
    expect(reuse.status).toBe(401)
    expect(reuse.body.error.code).toBe("REFRESH_TOKEN_REUSED")
    // The newest token of that family is dead too: whoever holds it is signed out.
    const newest = await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: second.body.refresh_token } })
    expect(newest.status).toBe(401)
    expect(newest.body.error.code).toBe("REFRESH_TOKEN_REVOKED")
    const audit = await query(db, "select 1 from audit_logs where actor_id = $1 and action = 'auth.refresh_token_reuse'", [s.user.id])
    expect(audit).toHaveLength(1)
    const stored = await query<{ token_hash: string }>(db, "select token_hash from refresh_tokens where user_id = $1", [s.user.id])
    expect(stored.map((r) => r.token_hash)).not.toContain(s.refresh_token)
  })

  it("serialises concurrent refreshes of one token: exactly one rotation wins", async () => {
    const s = await registerUser(server.baseUrl)
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api("POST", "/api/v1/auth/refresh", { body: { refresh_token: s.refresh_token } }))
    )
    expect(results.filter((r) => r.status === 200)).toHaveLength(1)
    expect(results.filter((r) => r.status === 401)).toHaveLength(4)
  })

  it("logout ends that session only", async () => {
    const s = await registerUser(server.baseUrl)
    const other = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: s.password } })
    const out = await api("POST", "/api/v1/auth/logout", { body: { refresh_token: s.refresh_token } })
    expect(out.status).toBe(204)
    expect((await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: s.refresh_token } })).status).toBe(401)
    expect((await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: other.body.refresh_token } })).status).toBe(200)
    // Unknown tokens are not an error: logging out twice is fine.
    expect((await api("POST", "/api/v1/auth/logout", { body: { refresh_token: "never-issued" } })).status).toBe(204)
  })

  it("logout-all refuses every access token issued before and every session", async () => {
    const s = await registerUser(server.baseUrl)
    const other = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: s.password } })
    expect((await api("POST", "/api/v1/auth/logout-all", { token: s.access_token })).status).toBe(204)
    expect((await api("GET", "/api/v1/auth/me", { token: s.access_token })).status).toBe(401)
    expect((await api("GET", "/api/v1/auth/me", { token: other.body.access_token })).status).toBe(401)
    expect((await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: other.body.refresh_token } })).status).toBe(401)
    const again = await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: s.password } })
    expect(again.status).toBe(200)
    expect(Jose.decodeJwt(again.body.access_token).token_version).toBe(1)
    expect((await api("GET", "/api/v1/auth/me", { token: again.body.access_token })).status).toBe(200)
  })
})

describe("username and email", () => {
  it("check-username tells whether a name is free", async () => {
    const s = await registerUser(server.baseUrl)
    const taken = await api("GET", `/api/v1/auth/check-username?username=${s.user.username.toUpperCase()}`)
    expect(taken.body).toEqual({ username: s.user.username.toUpperCase(), available: false })
    const free = await api("GET", `/api/v1/auth/check-username?username=${uniqueName()}`)
    expect(free.body.available).toBe(true)
    expect((await api("GET", "/api/v1/auth/check-username?username=a b")).status).toBe(400)
    expect((await api("GET", "/api/v1/auth/check-username")).status).toBe(400)
  })

  it("verifies the email with the mailed link, once", async () => {
    const s = await registerUser(server.baseUrl)
    const token = await tokenFromLog(server, s.email, "verify_email")
    expect((await api("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(204)
    const me = await api("GET", "/api/v1/auth/me", { token: s.access_token })
    expect(me.body.email_verified).toBe(true)
    const again = await api("POST", "/api/v1/auth/verify-email", { body: { token } })
    expect(again.status).toBe(400)
    expect(again.body.error.code).toBe("INVALID_TOKEN")
    const [stored] = await query<{ body_text: string }>(db, "select body_text from email_outbox where to_address = $1", [s.email])
    expect(stored!.body_text).toContain("verify-email?token=[redacted]")
    expect(stored!.body_text).not.toContain(token)
  })

  it("resend-verification answers 202 whether or not the account exists, and throttles mails", async () => {
    const s = await registerUser(server.baseUrl)
    expect((await api("POST", "/api/v1/auth/resend-verification", { body: { email: s.email } })).status).toBe(202)
    expect((await api("POST", "/api/v1/auth/resend-verification", { body: { email: "nobody@example.com" } })).status).toBe(202)
    const mails = await query(db, "select 1 from email_outbox where to_address = $1 and template = 'verify_email'", [s.email])
    // The registration mail went out seconds ago: the resend within a minute is not sent again.
    expect(mails).toHaveLength(1)
  })

  it("resets the password with the mailed link and signs out everything else", async () => {
    const s = await registerUser(server.baseUrl)
    expect((await api("POST", "/api/v1/auth/password/reset-request", { body: { email: s.email } })).status).toBe(202)
    expect((await api("POST", "/api/v1/auth/password/reset-request", { body: { email: "nobody@example.com" } })).status).toBe(202)
    const token = await tokenFromLog(server, s.email, "password_reset")
    const weak = await api("POST", "/api/v1/auth/password/reset", { body: { token, password: "short" } })
    expect(weak.status).toBe(400)
    expect((await api("POST", "/api/v1/auth/password/reset", { body: { token, password: "a brand new password" } })).status).toBe(204)
    expect((await api("GET", "/api/v1/auth/me", { token: s.access_token })).status).toBe(401)
    expect((await api("POST", "/api/v1/auth/refresh", { body: { refresh_token: s.refresh_token } })).status).toBe(401)
    expect((await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: s.password } })).status).toBe(401)
    expect((await api("POST", "/api/v1/auth/login", { body: { email: s.email, password: "a brand new password" } })).status).toBe(200)
    const reused = await api("POST", "/api/v1/auth/password/reset", { body: { token, password: "yet another password" } })
    expect(reused.status).toBe(400)
  })
})

describe("login limit per address", () => {
  it("blocks an address that fails across many accounts, and only that address", async () => {
    const limited = await startServer({ DATABASE_URL: db, JWT_SECRET, TRUST_PROXY: "true", LOGIN_MAX_ATTEMPTS_PER_IP: "4" })
    const victim = await registerUser(limited.baseUrl)
    const from = (ip: string, email: string, password: string) =>
      http(limited.baseUrl, "POST", "/api/v1/auth/login", { body: { email, password }, headers: { "x-forwarded-for": ip } })
    for (let i = 0; i < 4; i++) {
      expect((await from("203.0.113.7", `${uniqueName()}@example.com`, "guessing pw")).status).toBe(401)
    }
    const blocked = await from("203.0.113.7", victim.email, victim.password)
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0)
    expect((await from("198.51.100.9", victim.email, victim.password)).status).toBe(200)
    const recorded = await query(db, "select 1 from login_attempts where ip_address = '203.0.113.7' and not success")
    expect(recorded).toHaveLength(4)
  })

  it("holds under a parallel burst across many accounts", async () => {
    const limited = await startServer({ DATABASE_URL: db, JWT_SECRET, TRUST_PROXY: "true", LOGIN_MAX_ATTEMPTS_PER_IP: "4" })
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        http(limited.baseUrl, "POST", "/api/v1/auth/login", {
          body: { email: `${uniqueName()}@example.com`, password: "guessing pw" },
          headers: { "x-forwarded-for": "203.0.113.99" }
        })
      )
    )
    expect(results.filter((r) => r.status === 401)).toHaveLength(4)
    expect(results.filter((r) => r.status === 429)).toHaveLength(8)
  })
})

describe("registration is atomic", () => {
  it("a failure after the account row leaves nothing behind, so a retry succeeds", async () => {
    // Fault injection: the first session of this client fails inside the registration transaction.
    await query(db, `create or replace function fail_session() returns trigger as $$
      begin if new.user_agent = 'inject-failure' then raise exception 'injected failure'; end if; return new; end $$ language plpgsql`)
    await query(db, "create trigger trg_fail_session before insert on refresh_token_families for each row execute function fail_session()")
    const username = uniqueName()
    const body = { email: `${username}@example.com`, username, password: "atomic password" }
    try {
      const failed = await api("POST", "/api/v1/auth/register", { body, headers: { "user-agent": "inject-failure" } })
      expect(failed.status).toBe(500)
      expect(failed.body.error.code).toBe("INTERNAL")
      expect(await query(db, "select 1 from users where email = $1", [body.email])).toHaveLength(0)
      expect(await query(db, "select 1 from email_outbox where to_address = $1", [body.email])).toHaveLength(0)
      expect(server.logs.some((l) => l.message.startsWith("email") && l.annotations["to"] === body.email)).toBe(false)
    } finally {
      await query(db, "drop trigger trg_fail_session on refresh_token_families")
      await query(db, "drop function fail_session()")
    }
    const retried = await api("POST", "/api/v1/auth/register", { body })
    expect(retried.status).toBe(201)
  })
})
