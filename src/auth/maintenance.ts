import { SqlClient } from "@effect/sql"
import { Duration, Effect, Layer, Schedule } from "effect"
import { AppConfig } from "../platform/config.js"

/**
 * Keeps the security tables from growing without bound: login attempts older
 * than the retention, refresh tokens and families dead for longer than that,
 * and spent or expired one-time tokens. Runs on every node; the deletes are
 * idempotent, so nodes racing each other is harmless.
 */
export const AuthMaintenanceLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const days = config.securityRetentionDays
    const sweep = Effect.gen(function* () {
      const attempts = yield* sql`delete from login_attempts where created_at < now() - make_interval(days => ${days})`.raw
      const families = yield* sql`
        delete from refresh_token_families f
        where (f.revoked_at is not null and f.revoked_at < now() - make_interval(days => ${days}))
           or not exists (select 1 from refresh_tokens t where t.family_id = f.id
                          and t.expires_at > now() - make_interval(days => ${days}))`.raw
      const verifications = yield* sql`delete from email_verification_tokens
        where coalesce(used_at, expires_at) < now() - make_interval(days => ${days})`.raw
      const resets = yield* sql`delete from password_reset_tokens
        where coalesce(used_at, expires_at) < now() - make_interval(days => ${days})`.raw
      const count = (r: unknown) => (r as { rowCount?: number }).rowCount ?? 0
      yield* Effect.logInfo("security tables swept").pipe(
        Effect.annotateLogs({
          login_attempts: count(attempts),
          refresh_token_families: count(families),
          email_verification_tokens: count(verifications),
          password_reset_tokens: count(resets)
        })
      )
    }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("security table sweep failed", cause)))
    yield* sweep.pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(config.maintenanceIntervalMs))),
      Effect.interruptible,
      Effect.forkScoped
    )
  })
)
