/**
 * Pooled connections run statements prepared (src/platform/database.ts),
 * checked against PostgreSQL's own list of a session's prepared statements.
 */
import pg from "pg"
import { afterAll, describe, expect, it } from "vitest"
import { prepareStatements } from "../../src/platform/database.js"
import { freshDatabase } from "../support/database.js"

const url = await freshDatabase("prepared")
const pool = new pg.Pool({ connectionString: url, max: 1 })
pool.on("connect", (client) => prepareStatements(client, 2))
afterAll(() => pool.end())

/** Runs `body` on the pool's one connection, giving it back after. */
const onConnection = async (body: (client: pg.PoolClient) => Promise<void>) => {
  const client = await pool.connect()
  try {
    await body(client)
  } finally {
    client.release()
  }
}

describe("prepared statements", () => {
  it("prepares each statement once per connection, keeping the most recently used up to the limit", () =>
    onConnection(async (client) => {
      // A query config object is passed through as it is: this one is not prepared itself.
      const prepared = async () =>
        (await client.query<{ statement: string }>({ text: "select statement from pg_prepared_statements order by prepare_time" })).rows.map((r) => r.statement)
      const plusOne = "select $1::int + 1 as n"
      expect((await client.query(plusOne, [1])).rows).toEqual([{ n: 2 }])
      expect((await client.query(plusOne, [41])).rows).toEqual([{ n: 42 }])
      expect(await prepared()).toEqual([plusOne])

      await client.query("select $1::text as a", ["x"])
      // A single query without parameters is prepared too.
      expect((await client.query("select 3 as c", [])).rows).toEqual([{ c: 3 }])
      expect(await prepared()).toEqual(["select $1::text as a", "select 3 as c"])

      // The statement deallocated to keep the limit runs again, prepared anew.
      expect((await client.query(plusOne, [2])).rows).toEqual([{ n: 3 }])
      expect(await prepared()).toEqual(["select 3 as c", plusOne])
    }))

  it("prepares a statement anew when the table under its `select *` changed", () =>
    onConnection(async (client) => {
      await client.query("create table widened (x int); insert into widened values (1)", [])
      const all = "select * from widened where x = $1"
      expect((await client.query(all, [1])).rows).toEqual([{ x: 1 }])
      await client.query("alter table widened add column y int default 2", [])
      // PostgreSQL refuses the prepared statement once; the next run is prepared for the new columns.
      await expect(client.query(all, [1])).rejects.toThrow(/cached plan must not change result type/)
      expect((await client.query(all, [1])).rows).toEqual([{ x: 1, y: 2 }])
      // The same through a callback, as @effect/sql-pg calls it.
      await client.query("alter table widened add column z int default 3", [])
      const viaCallback = () =>
        new Promise<unknown>((resolve, reject) =>
          client.query(all, [1], (error: Error | undefined, result: pg.QueryResult) => (error ? reject(error) : resolve(result.rows)))
        )
      await expect(viaCallback()).rejects.toThrow(/cached plan must not change result type/)
      expect(await viaCallback()).toEqual([{ x: 1, y: 2, z: 3 }])
    }))

  it("runs several statements without parameters as before, and recovers from a failing one", () =>
    onConnection(async (client) => {
      await client.query("create temp table kept (x int); insert into kept values (1), (2)", [])
      await expect(client.query("select 1 / $1::int as q", [0])).rejects.toThrow(/division by zero/)
      expect((await client.query("select 1 / $1::int as q", [1])).rows).toEqual([{ q: 1 }])
      expect((await client.query("select count(*)::int as n from kept where x >= $1", [1])).rows).toEqual([{ n: 2 }])
    }))
})
