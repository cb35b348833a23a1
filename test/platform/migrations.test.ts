import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { migrationsDir } from "../../src/platform/database.js"
import { loadMigrations, type Migration, migrate } from "../../src/platform/migrator.js"
import { freshDatabase, query } from "../support/database.js"

const run = <A, E>(url: string, effect: Effect.Effect<A, E, PgClient.PgClient | import("@effect/sql").SqlClient.SqlClient>) =>
  Effect.runPromise(effect.pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.scoped))

/** Everything that makes two schemas the same, as sorted text. */
const schemaOf = async (url: string) => {
  const parts = await Promise.all([
    query(url, `select table_name, column_name, data_type, udt_name, column_default, is_nullable, character_maximum_length
                from information_schema.columns where table_schema = 'public' order by 1, 2`),
    query(url, `select conrelid::regclass::text as tbl, conname, pg_get_constraintdef(oid) as def
                from pg_constraint where connamespace = 'public'::regnamespace order by 1, 2`),
    query(url, `select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' order by 1, 2`),
    query(url, `select tgrelid::regclass::text as tbl, tgname, pg_get_triggerdef(oid) as def
                from pg_trigger where not tgisinternal order by 1, 2`),
    query(url, `select t.typname, array_agg(e.enumlabel order by e.enumsortorder) as labels
                from pg_type t join pg_enum e on e.enumtypid = t.oid group by 1 order by 1`),
    query(url, `select p.proname, pg_get_functiondef(p.oid) as def from pg_proc p
                where p.pronamespace = 'public'::regnamespace and p.prokind = 'f' order by 1, 2`),
    query(url, `select extname from pg_extension order by 1`)
  ])
  return parts
}

describe("migrations", () => {
  it("a fresh database and one upgraded step by step end with the same schema", async () => {
    const migrations = await Effect.runPromise(loadMigrations(migrationsDir()))
    expect(migrations.length).toBeGreaterThanOrEqual(3)
    const fresh = await freshDatabase("mig_fresh")
    const stepwise = await freshDatabase("mig_steps")
    expect(await run(fresh, migrate(migrations))).toEqual(migrations.map((m) => m.id))
    for (let k = 1; k <= migrations.length; k++) {
      expect(await run(stepwise, migrate(migrations.slice(0, k)))).toEqual([k])
      // Data written between steps must survive the next ones.
      if (k === 1) await query(stepwise, "insert into users (email, username) values ('keep@example.com', 'keeper')")
    }
    expect(await run(stepwise, migrate(migrations))).toEqual([])
    const [a, b] = [await schemaOf(fresh), await schemaOf(stepwise)]
    expect(b).toEqual(a)
    expect(a[3]!.length).toBeGreaterThan(5) // triggers really were compared
    expect(await query(stepwise, "select username from users")).toEqual([{ username: "keeper" }])
  })

  it("every foreign key has an index and an explicit ON DELETE", async () => {
    const url = await freshDatabase("mig_fk")
    await run(url, Effect.flatMap(loadMigrations(migrationsDir()), migrate))
    const unindexed = await query(
      url,
      `select c.conrelid::regclass::text as tbl, c.conname from pg_constraint c
       where c.contype = 'f' and c.connamespace = 'public'::regnamespace
         and not exists (select 1 from pg_index i where i.indrelid = c.conrelid and (i.indkey::int2[])[0] = c.conkey[1])`
    )
    expect(unindexed).toEqual([])
    const noAction = await query(
      url,
      `select conrelid::regclass::text as tbl, conname from pg_constraint
       where contype = 'f' and connamespace = 'public'::regnamespace and confdeltype = 'a'`
    )
    expect(noAction).toEqual([])
  })

  it("concurrent starts migrate once", async () => {
    const url = await freshDatabase("mig_race")
    const migrations = await Effect.runPromise(loadMigrations(migrationsDir()))
    const results = await Promise.all([run(url, migrate(migrations)), run(url, migrate(migrations)), run(url, migrate(migrations))])
    expect(results.flat().sort((a, b) => a - b)).toEqual(migrations.map((m) => m.id))
  })

  it("refuses a database whose applied migration was edited or removed", async () => {
    const url = await freshDatabase("mig_drift")
    const migrations = await Effect.runPromise(loadMigrations(migrationsDir()))
    await run(url, migrate(migrations))
    const edited: Array<Migration> = migrations.map((m, i) => (i === 1 ? { ...m, checksum: "changed" } : m))
    await expect(run(url, migrate(edited))).rejects.toThrow(/was changed after it was applied/)
    await expect(run(url, migrate(migrations.slice(0, 1)))).rejects.toThrow(/is missing from migrations/)
  })

  it("refuses gaps and badly named files", async () => {
    const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-mig-"))
    NodeFs.writeFileSync(NodePath.join(dir, "0001_a.sql"), "select 1")
    NodeFs.writeFileSync(NodePath.join(dir, "0003_c.sql"), "select 1")
    await expect(Effect.runPromise(loadMigrations(dir))).rejects.toThrow(/should be number 2/)
    NodeFs.renameSync(NodePath.join(dir, "0003_c.sql"), NodePath.join(dir, "2_c.sql"))
    await expect(Effect.runPromise(loadMigrations(dir))).rejects.toThrow(/not named NNNN_name.sql/)
  })
})
