import * as NodePath from "node:path"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option } from "effect"
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
    const client = PgClient.layer({
      url,
      maxConnections: config.dbPoolMax,
      connectTimeout: Duration.millis(config.dbConnectTimeoutMs),
      applicationName: "veza"
    })
    const migrations = Layer.effectDiscard(Effect.flatMap(loadMigrations(migrationsDir()), migrate))
    return Layer.provideMerge(migrations, client)
  })
)
