import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"

export class MigrationError extends Data.TaggedError("MigrationError")<{ readonly message: string }> {}

export interface Migration {
  readonly id: number
  readonly name: string
  readonly sql: string
  readonly checksum: string
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/

/**
 * Reads `NNNN_name.sql` files. Numbering must run 1..N without gaps or
 * duplicates: a skipped number is how the old system's fresh databases
 * silently diverged from upgraded ones (seed 003).
 */
export const loadMigrations = (dir: string) =>
  Effect.try({
    try: () => NodeFs.readdirSync(dir).filter((f) => f.endsWith(".sql")).sort(),
    catch: (e) => new MigrationError({ message: `cannot read migrations from ${dir}: ${String(e)}` })
  }).pipe(
    Effect.flatMap((files) =>
      Effect.forEach(files, (file, index) => {
        const match = FILE_PATTERN.exec(file)
        if (match === null) {
          return Effect.fail(new MigrationError({ message: `migration file ${file} is not named NNNN_name.sql` }))
        }
        const id = Number(match[1])
        if (id !== index + 1) {
          return Effect.fail(new MigrationError({ message: `migration ${file} should be number ${index + 1}: numbers must be contiguous` }))
        }
        const sql = NodeFs.readFileSync(NodePath.join(dir, file), "utf8")
        const checksum = NodeCrypto.createHash("sha256").update(sql).digest("hex")
        return Effect.succeed<Migration>({ id, name: match[2]!, sql, checksum })
      })
    )
  )

/**
 * Applies what is pending in one transaction under an advisory lock, so
 * several nodes starting together migrate once. Refuses to run when an applied
 * migration was edited or removed: that database would no longer match a
 * fresh one.
 */
export const migrate = (migrations: ReadonlyArray<Migration>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`select pg_advisory_xact_lock(hashtext('veza.schema_migrations'))`
        yield* sql`create table if not exists schema_migrations (
          id integer primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default now()
        )`
        const applied = yield* sql<{ id: number; name: string; checksum: string }>`
          select id, name, checksum from schema_migrations order by id`
        const byId = new Map(migrations.map((m) => [m.id, m]))
        for (const row of applied) {
          const file = byId.get(row.id)
          if (file === undefined) {
            return yield* new MigrationError({ message: `applied migration ${row.id}_${row.name} is missing from migrations/` })
          }
          if (file.checksum !== row.checksum) {
            return yield* new MigrationError({
              message: `migration ${row.id}_${row.name} was changed after it was applied; add a new migration instead`
            })
          }
        }
        const pending = migrations.filter((m) => m.id > applied.length)
        for (const m of pending) {
          yield* sql.unsafe(m.sql).pipe(
            Effect.mapError((e) => new MigrationError({ message: `migration ${m.id}_${m.name} failed: ${String(e.cause ?? e.message)}` }))
          )
          yield* sql`insert into schema_migrations (id, name, checksum) values (${m.id}, ${m.name}, ${m.checksum})`
          yield* Effect.logInfo("migration applied").pipe(Effect.annotateLogs({ migration: `${m.id}_${m.name}` }))
        }
        return pending.map((m) => m.id)
      })
    )
  })
