/**
 * How a failed statement reaches a client (src/platform/sql-errors.ts): a
 * transaction PostgreSQL aborts to settle a collision is a 503 to retry, not
 * a 500. The deadlock here is a real one, between two transactions of one
 * @effect/sql-pg pool, as the services run them.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Cause, Deferred, Effect, Exit, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { ServiceUnavailable } from "../../src/platform/api-errors.js"
import { sqlErrors } from "../../src/platform/sql-errors.js"
import { freshDatabase } from "../support/database.js"

const url = await freshDatabase("sqlerrors")

describe("database errors as answers", () => {
  it("a deadlock's aborted transaction is 503 DATABASE_CONFLICT, and the other one commits", async () => {
    const program = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table pair (id int primary key, n int not null)`
      yield* sql`insert into pair values (1, 0), (2, 0)`
      const firstLocked = yield* Deferred.make<void>()
      const secondLocked = yield* Deferred.make<void>()
      // Each locks its row, waits until the other has locked its own, then wants the other's.
      const crossing = (mine: number, theirs: number, locked: Deferred.Deferred<void>, other: Deferred.Deferred<void>) =>
        sqlErrors(
          sql.withTransaction(
            Effect.gen(function* () {
              yield* sql`update pair set n = n + 1 where id = ${mine}`
              yield* Deferred.succeed(locked, undefined)
              yield* Deferred.await(other)
              yield* sql`update pair set n = n + 10 where id = ${theirs}`
            })
          )
        )
      const exits = yield* Effect.all([Effect.exit(crossing(1, 2, firstLocked, secondLocked)), Effect.exit(crossing(2, 1, secondLocked, firstLocked))], {
        concurrency: 2
      })
      const rows = yield* sql<{ id: number; n: number }>`select id, n from pair order by id`
      return { exits, rows }
    })
    const { exits, rows } = await Effect.runPromise(program.pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 }))))
    const failures = exits.flatMap((e) => (Exit.isFailure(e) ? [Cause.failureOption(e.cause)] : []))
    expect(failures).toHaveLength(1)
    const failure = Option.getOrThrow(failures[0]!)
    expect(failure).toBeInstanceOf(ServiceUnavailable)
    expect(failure).toMatchObject({ code: "DATABASE_CONFLICT" })
    // Only the committed transaction's two updates are there: +1 on its row, +10 on the other.
    expect(rows.map((r) => r.n).sort((a, b) => a - b)).toEqual([1, 10])
  }, 30_000)
})
