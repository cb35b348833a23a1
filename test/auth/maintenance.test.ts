import { describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { freshDatabase, query } from "../support/database.js"
import { startServer } from "../support/server.js"

describe("security table sweep", () => {
  it("deletes attempts, sessions and one-time tokens older than the retention, and keeps the rest", async () => {
    const db = await freshDatabase("sweep")
    // A first server applies the migrations and creates a live session.
    const first = await startServer({ DATABASE_URL: db })
    const live = await registerUser(first.baseUrl)
    const old = await registerUser(first.baseUrl)
    await first.stop()
    await query(db, "insert into login_attempts (identifier, ip_address, success, failure_reason, created_at) values ('old@example.com', '10.0.0.1', false, 'invalid_password', now() - interval '3 days')")
    await query(db, "insert into login_attempts (identifier, ip_address, success, failure_reason) values ('new@example.com', '10.0.0.1', false, 'invalid_password')")
    await query(db, "update refresh_token_families set revoked_at = now() - interval '3 days', revoked_reason = 'logout' where user_id = $1", [old.user.id])
    await query(db, "update email_verification_tokens set created_at = now() - interval '4 days', expires_at = now() - interval '2 days' where user_id = $1", [old.user.id])

    const server = await startServer({ DATABASE_URL: db, SECURITY_RETENTION_DAYS: "1", MAINTENANCE_INTERVAL_MS: "200" })
    for (let i = 0; i < 50 && !server.logs.some((l) => l.message === "security tables swept"); i++) {
      await new Promise((r) => setTimeout(r, 100))
    }
    const swept = server.logs.find((l) => l.message === "security tables swept")
    expect(swept?.annotations).toMatchObject({ login_attempts: 1, refresh_token_families: 1, email_verification_tokens: 1 })
    expect(await query(db, "select identifier from login_attempts where identifier like '%@example.com' and identifier in ('old@example.com', 'new@example.com')")).toEqual([
      { identifier: "new@example.com" }
    ])
    expect(await query(db, "select 1 from refresh_token_families where user_id = $1", [old.user.id])).toHaveLength(0)
    expect(await query(db, "select 1 from refresh_token_families where user_id = $1", [live.user.id])).toHaveLength(1)
    expect(await query(db, "select 1 from email_verification_tokens where user_id = $1", [live.user.id])).toHaveLength(1)
  })
})
