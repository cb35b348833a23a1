import * as NodePath from "node:path"
import { PgClient } from "@effect/sql-pg"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Option, Redacted } from "effect"
import Pg from "pg"
import { AppConfig } from "./config.js"
import { embeddedPostgres } from "./embedded-postgres.js"
import { loadMigrations, migrate } from "./migrator.js"
import { projectRoot } from "./paths.js"

export const migrationsDir = () => NodePath.join(projectRoot(), "migrations")

/**
 * The SQL client: `DATABASE_URL` when set, otherwise an embedded PostgreSQL
 * under `DATA_DIR/pg` that lives exactly as long as this layer. Migrations
 * are applied before anything else can use the client.
 */
export const DatabaseLive = Layer.unwrapScoped(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const url = Option.isSome(config.databaseUrl)
      ? config.databaseUrl.value
      : yield* embeddedPostgres(NodePath.join(config.dataDir, "pg"))
    const client = PgClient.layerFromPool({
      acquire: Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const pool = new Pg.Pool({
              connectionString: Redacted.value(url),
              max: config.dbPoolMax,
              connectionTimeoutMillis: config.dbConnectTimeoutMs,
              // The database bounds every statement, so no request waits on it forever
              // and the server cancels the work too (cheaper than a timer per request).
              statement_timeout: config.dbStatementTimeoutMs,
              idle_in_transaction_session_timeout: config.dbStatementTimeoutMs * 2,
              application_name: "veza"
            })
            // A broken idle connection (database restarted) is dropped by the pool; don't crash.
            pool.on("error", () => {})
            await pool.query("select 1").catch(async (e) => {
              await pool.end()
              throw e
            })
            return pool
          },
          catch: (cause) => new SqlError({ cause, message: `PostgreSQL: cannot connect (${String((cause as Error)?.message ?? cause)})` })
        }),
        (pool) => Effect.promise(() => pool.end())
      ),
      applicationName: "veza"
    })
    const migrations = Layer.effectDiscard(Effect.flatMap(loadMigrations(migrationsDir()), migrate))
    return Layer.provideMerge(migrations, client)
  })
)
