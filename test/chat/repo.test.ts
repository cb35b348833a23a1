/**
 * Group commit in `ChatRepo.insertMessages`: the runs that several
 * connections hand over in one event-loop turn are stored by one statement
 * and one commit, even while store slots are free, rather than the first ones
 * taking a statement each.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Redacted } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { migrateDatabase } from "../../scripts/seed-demo.js"
import { ChatConfig } from "../../src/chat/config.js"
import { ChatRepo } from "../../src/chat/repo.js"
import type { MessageId, RoomId } from "../../src/chat/schema.js"
import type { UserId } from "../../src/users/schema.js"
import { freshDatabase, query } from "../support/database.js"

const ROOMS = 6
let url: string
let rooms: Array<{ room: RoomId; sender: UserId }>

beforeAll(async () => {
  url = await freshDatabase("chat_repo")
  await migrateDatabase(url)
  rooms = await query<{ room: RoomId; sender: UserId }>(
    url,
    `with u as (insert into users (email, username) select 'g' || i || '@example.com', 'grouped' || i from generate_series(1, ${ROOMS}) i returning id),
          r as (insert into chat_rooms (type, name, creator_id) select 'public', 'room of ' || id, id from u returning id, creator_id)
     insert into chat_members (room_id, user_id, role) select id, creator_id, 'owner' from r returning room_id as room, user_id as sender`
  )
}, 60_000)

const withRepo = <A, E>(use: (repo: ChatRepo) => Effect.Effect<A, E>) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(ChatRepo, use)).pipe(
      Effect.provide(ChatRepo.Default.pipe(Layer.provide(Layer.merge(PgClient.layer({ url: Redacted.make(url) }), ChatConfig.Default))))
    )
  )

describe("ChatRepo.insertMessages", () => {
  it("stores the runs handed over in one turn together, with store slots free: one transaction, each run's results in its own order", async () => {
    const results = await withRepo((repo) =>
      Effect.all(
        rooms.map(({ room, sender }, i) =>
          repo.insertMessages(room, sender, [
            { clientId: `turn-${i}-a`, content: `first of ${i}`, replyTo: null },
            { clientId: `turn-${i}-b`, content: `second of ${i}`, replyTo: null }
          ])
        ),
        { concurrency: "unbounded" }
      )
    )
    for (const [i, run] of results.entries()) {
      const stored = run.map((r) => Option.getOrThrow(r))
      expect(stored.map((s) => [s.created, s.message.room_id, s.message.seq, s.message.content])).toEqual([
        [true, rooms[i]!.room, 1, `first of ${i}`],
        [true, rooms[i]!.room, 2, `second of ${i}`]
      ])
    }
    const [{ transactions }] = await query<{ transactions: number }>(
      url,
      "select count(distinct xmin::text)::int as transactions from chat_messages where client_id like 'turn-%'"
    )
    expect(transactions).toBe(1)
  })

  it("a run refused (not a member, bad reply) or stored before gets None or the stored message, beside runs stored in the same statement", async () => {
    const [a, b] = [rooms[2]!, rooms[3]!]
    const results = await withRepo((repo) =>
      Effect.zipRight(
        repo.insertMessages(a.room, a.sender, [{ clientId: "stored-before", content: "before", replyTo: null }]),
        Effect.all(
          [
            repo.insertMessages(a.room, a.sender, [{ clientId: "stored-before", content: "again", replyTo: null }]),
            repo.insertMessages(a.room, b.sender, [{ clientId: "stranger", content: "not a member here", replyTo: null }]),
            repo.insertMessages(b.room, b.sender, [{ clientId: "bad-reply", content: "to nothing", replyTo: "00000000-0000-4000-8000-000000000000" as MessageId }]),
            repo.insertMessages(b.room, b.sender, [{ clientId: "fresh", content: "fresh", replyTo: null }])
          ],
          { concurrency: "unbounded" }
        )
      )
    )
    expect(results.map((run) => run.map((r) => Option.map(r, (s) => [s.created, s.message.content, s.message.seq])))).toEqual([
      [Option.some([false, "before", 3])],
      [Option.none()],
      [Option.none()],
      [Option.some([true, "fresh", 3])]
    ])
  })
})
