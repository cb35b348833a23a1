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

let preparedNames = 0

/** A query without parameters that is one statement (a prepared statement cannot hold several). */
const SINGLE_QUERY = /^\s*(?:select|with)\b[^;]*$/i

/**
 * Makes a pooled connection run each statement that has parameters as a
 * named prepared statement of its own: PostgreSQL then parses it once per
 * connection and, once a generic plan costs no more than the custom ones it
 * made for the first runs, stops planning it. Planning was half of
 * PostgreSQL's time for the API's hot reads (a track get: 0.05 ms of 0.08).
 * At most `limit` per connection; the least recently used one is deallocated
 * beyond that (its name is never used again). Other statements without
 * parameters than single queries (transaction control, migrations'
 * multi-statement files) run as before.
 */
export const prepareStatements = (client: Pg.PoolClient, limit: number) => {
  const names = new Map<string, string>()
  const query = client.query.bind(client) as (...args: Array<unknown>) => unknown
  const parsed = () => (client as { connection?: { parsedStatements?: Record<string, string> } }).connection?.parsedStatements
  client.query = ((config: unknown, values?: unknown, callback?: unknown) => {
    if (typeof config !== "string" || !Array.isArray(values) || (values.length === 0 && !SINGLE_QUERY.test(config))) return query(config, values, callback)
    let name = names.get(config)
    if (name === undefined) {
      name = `veza_${++preparedNames}`
      if (names.size >= limit) forget(names.entries().next().value![0])
    } else {
      names.delete(config)
    }
    names.set(config, name)
    // A table whose columns changed under a prepared `select *` (another server's migration, in a rolling
    // deploy) fails it for good: that run fails, the next one prepares the statement anew.
    const changedUnder = (error: { code?: string } | null) => {
      if (error?.code === "0A000") forget(config)
    }
    if (typeof callback !== "function") {
      const result = query({ name, text: config, values }) as Promise<unknown>
      result.then(undefined, changedUnder)
      return result
    }
    return query({ name, text: config, values }, (error: { code?: string } | null, result: unknown) => {
      changedUnder(error)
      ;(callback as (error: unknown, result: unknown) => void)(error, result)
    })
  }) as typeof client.query
  const forget = (text: string) => {
    const name = names.get(text)
    if (name === undefined) return
    names.delete(text)
    delete parsed()?.[name]
    // Queued behind what this connection runs now; a failure (an aborted transaction) only leaves it allocated.
    query(`DEALLOCATE ${name}`, () => {})
  }
}

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
            if (config.dbPreparedStatements > 0) pool.on("connect", (client) => prepareStatements(client, config.dbPreparedStatements))
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
