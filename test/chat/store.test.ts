/**
 * The store statement of chat messages (`chat_store_runs`) reads by index
 * probes whatever the size of the room: a message to a room of thousands of
 * members must not read the members, and no call may scan the rooms. Counted
 * from the transaction's own table statistics, after the function has been
 * called often enough for PL/pgSQL to plan it generically (as it does on a
 * busy server).
 */
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { migrateDatabase } from "../../scripts/seed-demo.js"
import { freshDatabase } from "../support/database.js"

const MEMBERS = 2000
let client: pg.Client
let room: string
let senders: Array<string>

beforeAll(async () => {
  const url = await freshDatabase("chat_store")
  await migrateDatabase(url)
  client = new pg.Client({ connectionString: url })
  await client.connect()
  senders = (
    await client.query<{ id: string }>(
      `insert into users (email, username) select 'm' || i || '@example.com', 'member' || i from generate_series(1, ${MEMBERS}) i returning id`
    )
  ).rows.map((r) => r.id)
  room = (await client.query<{ id: string }>("insert into chat_rooms (type, name, creator_id) values ('public', 'big', $1) returning id", [senders[0]])).rows[0]!.id
  await client.query("insert into chat_members (room_id, user_id, role) select $1, id, 'member' from users", [room])
  // Many small rooms beside it, as on a real server: the planner then expects few members per room.
  await client.query(
    `with rooms as (insert into chat_rooms (type, name, creator_id) select 'public', 'small ' || i, $1 from generate_series(1, 1000) i returning id)
     insert into chat_members (room_id, user_id, role) select r.id, u.id, 'member' from rooms r, (select id from users limit 3) u`,
    [senders[0]]
  )
  await client.query("analyze")
}, 60_000)

afterAll(async () => {
  await client?.end()
})

const store = (sender: string, clientId: string) =>
  client.query("select * from chat_store_runs($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[])", [[room], [sender], [clientId], ["hello"], [null]])

describe("chat_store_runs", () => {
  it("stores a message in a room of thousands by index probes: no member list read, no scan of the rooms", async () => {
    // Past PL/pgSQL's first custom plans.
    for (let i = 0; i < 8; i++) await store(senders[i]!, `warm-${i}`)
    // This view holds the session's counts not yet reported, so the call is measured as a difference.
    const counts = async () => {
      const rows = (await client.query<{ relname: string; seq_scan: string; idx_tup_fetch: string }>(
        "select relname, seq_scan, idx_tup_fetch from pg_stat_xact_user_tables where relname in ('chat_rooms', 'chat_members')"
      )).rows
      const of = (name: string) => rows.find((r) => r.relname === name)
      return { roomScans: Number(of("chat_rooms")?.seq_scan ?? 0), memberScans: Number(of("chat_members")?.seq_scan ?? 0), membersFetched: Number(of("chat_members")?.idx_tup_fetch ?? 0) }
    }
    await client.query("begin")
    try {
      const before = await counts()
      const stored = await store(senders[MEMBERS - 1]!, "measured")
      expect(stored.rows).toMatchObject([{ created: true, seq: "9" }])
      const after = await counts()
      expect(after.roomScans - before.roomScans).toBe(0)
      expect(after.memberScans - before.memberScans).toBe(0)
      // The sender's own membership row, not the room's 2000.
      expect(after.membersFetched - before.membersFetched).toBe(1)
    } finally {
      await client.query("rollback")
    }
  })
})
