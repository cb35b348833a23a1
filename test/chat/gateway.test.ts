import pg from "pg"
import WebSocket from "ws"
import { beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, closeAtEnd, createRoom, newClientId } from "../support/chat.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer, tempDataDir } from "../support/server.js"

const db = await freshDatabase("chat_gateway")
/** Store statements run at once (the tests that need sends to share one hold them all). */
const STORE_STATEMENTS = 3
let server: RunningServer
const track = closeAtEnd()
const connect = async (token: string, base = server.baseUrl) => track(await ChatClient.connect(base, token))

beforeAll(async () => {
  server = await startServer({
    DATABASE_URL: db,
    DATA_DIR: tempDataDir(),
    CHAT_RATE_PER_SEC: "200",
    CHAT_RATE_BURST: "400",
    CHAT_AUTH_TIMEOUT_MS: "500",
    CHAT_TYPING_TIMEOUT_MS: "400",
    CHAT_RECOVERY_WINDOW: "5",
    CHAT_STORE_STATEMENTS: String(STORE_STATEMENTS)
  })
})

/** Two users in a fresh public room, both connected and joined. */
const pair = async () => {
  const alice = await registerUser(server.baseUrl)
  const bob = await registerUser(server.baseUrl)
  const room = await createRoom(server.baseUrl, alice.access_token, { name: "general" })
  const a = await connect(alice.access_token)
  const b = await connect(bob.access_token)
  expect((await a.request({ type: "join", room_id: room.id })).type).toBe("joined")
  expect((await b.request({ type: "join", room_id: room.id })).type).toBe("joined")
  return { alice, bob, room, a, b }
}

const send = (client: ChatClient, room: string, content: string, extra: Record<string, unknown> = {}) =>
  client.request({ type: "send", room_id: room, client_id: newClientId(), content, ...extra })

/**
 * Holds the node's store statements (CHAT_STORE_STATEMENTS) on a locked
 * room while `queue` sends what must then wait and go together in the next
 * statement; the lock is let go 200 ms later. The blocked sends come from
 * connections of their own, as a connection handles its frames in turn.
 */
const withStoreSlotsHeld = async <A>(queue: () => A) => {
  const users = await Promise.all(Array.from({ length: STORE_STATEMENTS }, () => registerUser(server.baseUrl)))
  const locked = await createRoom(server.baseUrl, users[0]!.access_token, { name: "locked" })
  const blockers = await Promise.all(users.map((u) => connect(u.access_token)))
  await Promise.all(blockers.map((c) => c.request({ type: "join", room_id: locked.id })))
  const lock = new pg.Client({ connectionString: db })
  await lock.connect()
  try {
    await lock.query("begin")
    await lock.query("select 1 from chat_rooms where id = $1 for update", [locked.id])
    // One at a time: sends that reach the node in the same event-loop turn would share one statement.
    const blocked: Array<ReturnType<typeof send>> = []
    for (const [i, c] of blockers.entries()) {
      blocked.push(send(c, locked.id, `blocked ${i}`))
      await expect.poll(async () => (await query<{ n: number }>(db, "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"))[0]!.n).toBe(i + 1)
    }
    const queued = queue()
    await new Promise((r) => setTimeout(r, 200))
    await lock.query("commit")
    expect((await Promise.all(blocked)).map((r) => r.type)).toEqual(Array(STORE_STATEMENTS).fill("ack"))
    return queued
  } finally {
    await lock.end()
  }
}

describe("chat gateway: authentication", () => {
  it("accepts a bearer header, a ?token= access or chat token, or an authenticate frame", async () => {
    const user = await registerUser(server.baseUrl)
    const header = await connect(user.access_token)
    expect(header.ready.user_id).toBe(user.user.id)

    const chatToken = await http(server.baseUrl, "POST", "/api/v1/chat/token", { token: user.access_token })
    expect(chatToken.status).toBe(200)
    const byQuery = track(ChatClient.open(server.baseUrl, { query: `token=${chatToken.body.token}` }))
    expect((await byQuery.next((f) => f.type === "ready")).user_id).toBe(user.user.id)

    const byFrame = track(ChatClient.open(server.baseUrl))
    await new Promise((r) => byFrame.ws.once("open", r))
    byFrame.send({ type: "authenticate", token: user.access_token })
    expect((await byFrame.next((f) => f.type === "ready")).user_id).toBe(user.user.id)
    // Once is enough.
    expect(await byFrame.request({ type: "authenticate", token: user.access_token })).toMatchObject({ type: "error", code: "ALREADY_AUTHENTICATED" })
  })

  it("closes 4001 for a bad token, a chat token used as an access token elsewhere, or no authentication in time", async () => {
    const user = await registerUser(server.baseUrl)
    const tampered = track(ChatClient.open(server.baseUrl, { token: `${user.access_token.slice(0, -3)}abc` }))
    expect(await tampered.next((f) => f.type === "error")).toMatchObject({ code: "UNAUTHORIZED" })
    expect((await tampered.closed).code).toBe(4001)

    const silent = track(ChatClient.open(server.baseUrl))
    expect((await silent.closed).code).toBe(4001)
    expect(silent.all("error")[0]).toMatchObject({ code: "UNAUTHORIZED" })

    // A chat token is for /ws only: the REST API refuses it.
    const chatToken = await http(server.baseUrl, "POST", "/api/v1/chat/token", { token: user.access_token })
    expect((await http(server.baseUrl, "GET", "/api/v1/auth/me", { token: chatToken.body.token })).status).toBe(401)

    // Logging out everywhere retires tokens already issued.
    const before = await http(server.baseUrl, "POST", "/api/v1/chat/token", { token: user.access_token })
    expect((await http(server.baseUrl, "POST", "/api/v1/auth/logout-all", { token: user.access_token })).status).toBe(204)
    const stale = track(ChatClient.open(server.baseUrl, { query: `token=${before.body.token}` }))
    expect((await stale.closed).code).toBe(4001)
  })

  it("closes the open connections of a user who signs out everywhere (4001), and only theirs", async () => {
    const { alice, a, b } = await pair()
    const second = await connect(alice.access_token)
    expect((await http(server.baseUrl, "POST", "/api/v1/auth/logout-all", { token: alice.access_token })).status).toBe(204)
    expect((await a.closed).code).toBe(4001)
    expect((await second.closed).code).toBe(4001)
    expect((await b.request({ type: "ping" })).type).toBe("pong")
  })
})

describe("chat gateway: messages", () => {
  it("joins, sends, and every member sees the message with its seq; a retried send is not stored twice", async () => {
    const { alice, bob, room, a, b } = await pair()
    const clientId = newClientId()
    const ack = await a.request({ type: "send", room_id: room.id, client_id: clientId, content: "hello 👋" })
    expect(ack).toMatchObject({
      type: "ack",
      client_id: clientId,
      message: { room_id: room.id, seq: 1, sender_id: alice.user.id, content: "hello 👋", reply_to: null, edited_at: null }
    })
    expect((await b.next((f) => f.type === "message")).message).toEqual(ack.message)
    expect((await a.next((f) => f.type === "message")).message).toEqual(ack.message)

    const retry = await a.request({ type: "send", room_id: room.id, client_id: clientId, content: "hello 👋" })
    expect(retry.message).toEqual(ack.message)
    const history = await http(server.baseUrl, "GET", `/api/v1/chat/rooms/${room.id}/messages`, { token: bob.access_token })
    expect(history.body.items.map((m: any) => m.id)).toEqual([ack.message.id])
    await new Promise((r) => setTimeout(r, 100))
    expect(b.all("message")).toEqual([])
  })

  it("keeps seq order for concurrent senders: every client sees 1..n once, in order", async () => {
    const { room, a, b, bob } = await pair()
    const b2 = await connect(bob.access_token)
    await b2.request({ type: "join", room_id: room.id })
    await Promise.all(Array.from({ length: 40 }, (_, i) => send(i % 2 === 0 ? a : b, room.id, `m${i}`)))
    for (const client of [a, b, b2]) {
      const seqs: Array<number> = []
      while (seqs.length < 40) seqs.push((await client.next((f) => f.type === "message")).message.seq)
      expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    }
  })

  it("stores a burst of sends together, in order, with one ack or error per frame and no gap in seqs", async () => {
    const { room, a, b } = await pair()
    const earlier = await send(a, room.id, "before the burst")
    // Every fifth frame replies to nothing, one repeats a stored client_id, one repeats a client_id of the burst.
    const frames = Array.from({ length: 40 }, (_, i) => ({
      type: "send",
      room_id: room.id,
      client_id: i === 10 ? earlier.client_id : i === 21 ? "burst-20" : `burst-${i}`,
      content: `m${i}`,
      ...(i % 5 === 4 ? { reply_to: newClientId() } : {})
    }))
    const replies = await Promise.all(frames.map((frame) => a.request(frame)))
    for (const [i, reply] of replies.entries()) {
      if (i % 5 === 4) expect(reply).toMatchObject({ type: "error", code: "INVALID_REPLY" })
      else if (i === 10) expect(reply.message).toEqual(earlier.message)
      else if (i === 21) expect(reply.message).toEqual(replies[20].message)
      else expect(reply).toMatchObject({ type: "ack", client_id: frames[i]!.client_id, message: { content: `m${i}` } })
    }
    const stored = replies.filter((r, i) => r.type === "ack" && i !== 10 && i !== 21).map((r) => r.message)
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 2))
    // One commit per run: the burst shares far fewer transaction timestamps than it has messages.
    expect(new Set(stored.map((m) => m.created_at)).size).toBeLessThan(stored.length / 2)
    const seen: Array<unknown> = []
    while (seen.length < stored.length + 1) seen.push((await b.next((f) => f.type === "message")).message)
    expect(seen).toEqual([earlier.message, ...stored])
  })

  it("stores sends of many connections to many rooms together (group commit), each room's seqs dense and in order", async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => registerUser(server.baseUrl)))
    const rooms = await Promise.all(users.map((u, i) => createRoom(server.baseUrl, u.access_token, { name: `group ${i}` })))
    const clients = await Promise.all(users.map((u) => connect(u.access_token)))
    await Promise.all(clients.map((c, i) => c.request({ type: "join", room_id: rooms[i]!.id })))
    // Every connection sends one message at a time, all connections at once; the first round
    // certainly waits for one statement together, the later ones as they happen to meet.
    const acks = await Promise.all(
      await withStoreSlotsHeld(() =>
        clients.map(async (c, i) => {
          const mine = []
          for (let k = 0; k < 8; k++) mine.push(await send(c, rooms[i]!.id, `room ${i} message ${k}`))
          return mine
        })
      )
    )
    for (const [i, roomAcks] of acks.entries()) {
      expect(roomAcks.map((a) => a.type)).toEqual(Array(8).fill("ack"))
      expect(roomAcks.map((a) => a.message.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      expect(roomAcks.map((a) => a.message.content)).toEqual(Array.from({ length: 8 }, (_, k) => `room ${i} message ${k}`))
    }
    // Messages of different rooms committed together were written by one transaction.
    const [{ transactions, rooms_per_transaction }] = await query<{ transactions: number; rooms_per_transaction: number }>(
      db,
      `select count(distinct xmin::text)::int as transactions, max(n)::int as rooms_per_transaction
         from chat_messages, (select xmin::text as x, count(distinct room_id) as n from chat_messages where room_id = any($1) group by 1) t
        where room_id = any($1) and xmin::text = t.x`,
      [rooms.map((r) => r.id)]
    )
    expect(transactions).toBeLessThan(48)
    expect(rooms_per_transaction).toBeGreaterThan(1)
  })

  it("a client_id sent from two connections at once is stored once: to one room both get the message, to two rooms the second is refused", async () => {
    const { room, a, alice } = await pair()
    const other = await createRoom(server.baseUrl, alice.access_token, { name: "other" })
    const a2 = await connect(alice.access_token)
    await a2.request({ type: "join", room_id: room.id })
    await a2.request({ type: "join", room_id: other.id })
    const sameRoom = Array.from({ length: 20 }, () => newClientId())
    const sameReplies = await Promise.all(sameRoom.flatMap((clientId) => [a, a2].map((c) => c.request({ type: "send", room_id: room.id, client_id: clientId, content: `once ${clientId}` }))))
    for (let i = 0; i < sameRoom.length; i++) {
      const [first, second] = [sameReplies[2 * i]!, sameReplies[2 * i + 1]!]
      expect([first.type, second.type]).toEqual(["ack", "ack"])
      expect(second.message).toEqual(first.message)
    }
    const twoRooms = Array.from({ length: 20 }, () => newClientId())
    const twoReplies = await Promise.all(
      twoRooms.flatMap((clientId) => [a.request({ type: "send", room_id: room.id, client_id: clientId, content: "here?" }), a2.request({ type: "send", room_id: other.id, client_id: clientId, content: "there?" })])
    )
    for (let i = 0; i < twoRooms.length; i++) {
      const pairReplies = [twoReplies[2 * i]!, twoReplies[2 * i + 1]!]
      expect(pairReplies.filter((r) => r.type === "ack")).toHaveLength(1)
      expect(pairReplies.find((r) => r.type !== "ack")).toMatchObject({ type: "error", code: "CLIENT_ID_REUSED" })
    }
    const [{ n }] = await query<{ n: number }>(db, "select count(*)::int as n from chat_messages where sender_id = $1", [alice.user.id])
    expect(n).toBe(40)
  })

  it("a run the database refuses fails alone: the runs that shared its statement are stored, its sender gets an error and goes on", async () => {
    const users = await Promise.all(Array.from({ length: 5 }, () => registerUser(server.baseUrl)))
    const rooms = await Promise.all(users.map((u, i) => createRoom(server.baseUrl, u.access_token, { name: `shared ${i}` })))
    const clients = await Promise.all(users.map((u) => connect(u.access_token)))
    await Promise.all(clients.map((c, i) => c.request({ type: "join", room_id: rooms[i]!.id })))
    // A fault only the database knows of, standing in for any statement that fails.
    await query(db, `create function poison() returns trigger language plpgsql as $$
                     begin if new.content = 'poison' then raise exception 'poisoned'; end if; return new; end $$;
                     create trigger poison before insert on chat_messages for each row execute function poison()`)
    try {
      const shared = await withStoreSlotsHeld(() => clients.map((c, i) => send(c, rooms[i]!.id, i === 2 ? "poison" : `shared ${i}`)))
      const replies = await Promise.all(shared)
      expect(replies.map((r) => r.type)).toEqual(["ack", "ack", "error", "ack", "ack"])
      expect(replies[2]).toMatchObject({ code: "INTERNAL_ERROR" })
      expect(replies.filter((r) => r.type === "ack").map((r) => [r.message.content, r.message.seq])).toEqual([["shared 0", 1], ["shared 1", 1], ["shared 3", 1], ["shared 4", 1]])
      expect(await clients[2]!.request({ type: "ping" })).toMatchObject({ type: "pong" })
      expect(await send(clients[2]!, rooms[2]!.id, "after the fault")).toMatchObject({ type: "ack", message: { seq: 1 } })
    } finally {
      await query(db, "drop trigger poison on chat_messages; drop function poison()")
    }
  })

  it("refuses text that cannot be stored as sent (a lone surrogate) as invalid, and goes on", async () => {
    const { room, a } = await pair()
    for (const content of ["\uDFFF\uD800", "a\uD800b", "\uDC00"]) {
      expect(await send(a, room.id, content)).toMatchObject({ type: "error", code: "VALIDATION_ERROR" })
    }
    expect(await send(a, room.id, "👩‍👩‍👧‍👦 pairs are fine")).toMatchObject({ type: "ack", message: { content: "👩‍👩‍👧‍👦 pairs are fine", seq: 1 } })
  })

  it("replies, edits, deletes, reactions and read receipts reach the room; only the author edits", async () => {
    const { alice, bob, room, a, b } = await pair()
    const first = (await send(a, room.id, "first")).message
    const reply = await send(b, room.id, "a reply", { reply_to: first.id })
    expect(reply.message.reply_to).toBe(first.id)

    const edited = await a.request({ type: "edit", message_id: first.id, content: "first, edited" })
    expect(edited).toMatchObject({ type: "message_edited", message: { id: first.id, content: "first, edited" } })
    expect(edited.message.edited_at).not.toBeNull()
    expect((await b.next((f) => f.type === "message_edited")).message.content).toBe("first, edited")
    expect(await b.request({ type: "edit", message_id: first.id, content: "hijack" })).toMatchObject({ type: "error", code: "FORBIDDEN" })

    await b.request({ type: "react", message_id: first.id, emoji: "🔥" })
    expect(await a.next((f) => f.type === "reaction_added")).toMatchObject({ message_id: first.id, user_id: bob.user.id, emoji: "🔥" })
    await b.request({ type: "unreact", message_id: first.id, emoji: "🔥" })
    expect(await a.next((f) => f.type === "reaction_removed")).toMatchObject({ message_id: first.id, emoji: "🔥" })

    await b.request({ type: "read", room_id: room.id, message_id: reply.message.id })
    expect(await a.next((f) => f.type === "read_receipt" && f.ref === undefined)).toMatchObject({ user_id: bob.user.id, message_id: reply.message.id, seq: 2 })
    const members = await http(server.baseUrl, "GET", `/api/v1/chat/rooms/${room.id}/members`, { token: alice.access_token })
    expect(members.body.items.find((m: any) => m.user_id === bob.user.id).last_read_seq).toBe(2)

    expect(await b.request({ type: "delete", message_id: first.id })).toMatchObject({ type: "error", code: "FORBIDDEN" })
    expect(await a.request({ type: "delete", message_id: first.id })).toMatchObject({ type: "message_deleted", message_id: first.id })
    expect(await b.next((f) => f.type === "message_deleted")).toMatchObject({ message_id: first.id, deleted_by: alice.user.id })
    const history = await b.request({ type: "history", room_id: room.id })
    expect(history.messages.map((m: any) => m.id)).toEqual([reply.message.id])
    expect(await a.request({ type: "edit", message_id: first.id, content: "too late" })).toMatchObject({ type: "error", code: "MESSAGE_NOT_FOUND" })
  })

  it("messages read back carry their reactions (history, REST, a rejoin's replay); live frames of new messages do not", async () => {
    const { alice, bob, room, a, b } = await pair()
    const sent = await send(a, room.id, "react to me")
    expect("reactions" in sent.message).toBe(false)
    expect("reactions" in (await b.next((f) => f.type === "message")).message).toBe(false)
    const first = sent.message
    const second = (await send(b, room.id, "and me")).message
    const doomed = (await send(a, room.id, "soon gone")).message

    // Sequential requests: each reaction commits before the next, so the order of first use is known.
    await a.request({ type: "react", message_id: first.id, emoji: "👍" })
    await b.request({ type: "react", message_id: first.id, emoji: "🔥" })
    await b.request({ type: "react", message_id: first.id, emoji: "👍" })
    await a.request({ type: "react", message_id: second.id, emoji: "🎉" })
    await a.request({ type: "unreact", message_id: second.id, emoji: "🎉" })
    await b.request({ type: "react", message_id: doomed.id, emoji: "❤️" })
    await a.request({ type: "delete", message_id: doomed.id })
    expect(await b.request({ type: "react", message_id: doomed.id, emoji: "👀" })).toMatchObject({ type: "error", code: "MESSAGE_NOT_FOUND" })

    const expected = [
      { id: first.id, reactions: [{ emoji: "👍", count: 2, user_ids: [alice.user.id, bob.user.id] }, { emoji: "🔥", count: 1, user_ids: [bob.user.id] }] },
      { id: second.id, reactions: [] }
    ]
    const shape = (messages: Array<any>) => messages.map((m) => ({ id: m.id, reactions: m.reactions }))

    expect(shape((await b.request({ type: "history", room_id: room.id })).messages)).toEqual(expected)
    const rest = await http(server.baseUrl, "GET", `/api/v1/chat/rooms/${room.id}/messages`, { token: bob.access_token })
    expect(rest.status).toBe(200)
    expect(shape(rest.body.items)).toEqual(expected)
    // Paging back reads them too.
    expect(shape((await b.request({ type: "history", room_id: room.id, before_seq: second.seq })).messages)).toEqual(expected.slice(0, 1))

    const again = await connect(bob.access_token)
    const joined = await again.request({ type: "join", room_id: room.id, since_seq: 0 })
    expect(joined).toMatchObject({ recovered: true, last_seq: doomed.seq })
    expect(shape(joined.messages)).toEqual(expected)

    // A removed reaction is gone from what is read back, the last one of an emoji taking the entry with it.
    await b.request({ type: "unreact", message_id: first.id, emoji: "🔥" })
    await a.request({ type: "unreact", message_id: first.id, emoji: "👍" })
    const after = await http(server.baseUrl, "GET", `/api/v1/chat/rooms/${room.id}/messages`, { token: alice.access_token })
    expect(shape(after.body.items)).toEqual([{ id: first.id, reactions: [{ emoji: "👍", count: 1, user_ids: [bob.user.id] }] }, expected[1]])
  })

  it("leave stops this connection's events; client_id and reply_to are checked", async () => {
    const { room, a, b } = await pair()
    const other = await createRoom(server.baseUrl, (await registerUser(server.baseUrl)).access_token, { name: "elsewhere" })
    expect(await b.request({ type: "leave", room_id: other.id })).toMatchObject({ type: "error", code: "NOT_JOINED" })
    expect(await b.request({ type: "leave", room_id: room.id })).toMatchObject({ type: "left", room_id: room.id, reason: "left" })
    const sent = await send(a, room.id, "anyone there?")
    await a.next((f) => f.type === "message" && f.message.id === sent.message.id)
    await new Promise((r) => setTimeout(r, 150))
    expect(b.all("message")).toEqual([])

    const clientId = newClientId()
    await a.request({ type: "join", room_id: other.id })
    expect((await a.request({ type: "send", room_id: room.id, client_id: clientId, content: "here" })).type).toBe("ack")
    expect(await a.request({ type: "send", room_id: other.id, client_id: clientId, content: "there" })).toMatchObject({ type: "error", code: "CLIENT_ID_REUSED" })
    const elsewhere = (await send(a, other.id, "in the other room")).message
    expect(await send(a, room.id, "replying across rooms", { reply_to: elsewhere.id })).toMatchObject({ type: "error", code: "INVALID_REPLY" })
    expect(await send(a, room.id, "replying to nothing", { reply_to: newClientId() })).toMatchObject({ type: "error", code: "INVALID_REPLY" })
  })

  it("pages history backwards with before_seq and has_more", async () => {
    const { room, a } = await pair()
    for (let i = 1; i <= 7; i++) await send(a, room.id, `n${i}`)
    const last = await a.request({ type: "history", room_id: room.id, limit: 3 })
    expect(last.messages.map((m: any) => m.content)).toEqual(["n5", "n6", "n7"])
    expect(last.has_more).toBe(true)
    const earlier = await a.request({ type: "history", room_id: room.id, limit: 3, before_seq: 5 })
    expect(earlier.messages.map((m: any) => m.seq)).toEqual([2, 3, 4])
    const first = await a.request({ type: "history", room_id: room.id, limit: 3, before_seq: 2 })
    expect(first).toMatchObject({ messages: [{ seq: 1 }], has_more: false })
  })

  it("replays what a client missed after since_seq exactly once and in order, or says recovered: false past the window", async () => {
    const { bob, room, a, b } = await pair()
    const seen = [(await send(a, room.id, "before")).message.seq]
    await b.next((f) => f.type === "message")
    await b.close()
    for (let i = 0; i < 3; i++) seen.push((await send(a, room.id, `missed ${i}`)).message.seq)
    const again = await connect(bob.access_token)
    const joined = await again.request({ type: "join", room_id: room.id, since_seq: 1 })
    expect(joined).toMatchObject({ recovered: true, last_seq: 4 })
    expect(joined.messages.map((m: any) => m.content)).toEqual(["missed 0", "missed 1", "missed 2"])
    const live = await send(a, room.id, "live")
    expect((await again.next((f) => f.type === "message")).message.seq).toBe(live.message.seq)

    await again.close()
    for (let i = 0; i < 6; i++) await send(a, room.id, `flood ${i}`)
    const late = await connect(bob.access_token)
    expect(await late.request({ type: "join", room_id: room.id, since_seq: 5 })).toMatchObject({ recovered: false, last_seq: 11, messages: [] })
  })

  it("typing is relayed to others and lapses by itself when not refreshed", async () => {
    const { alice, room, a, b } = await pair()
    await a.send({ type: "typing", room_id: room.id, state: "start" })
    expect(await b.next((f) => f.type === "typing")).toMatchObject({ room_id: room.id, user_id: alice.user.id, state: "start" })
    const stopped = await b.next((f) => f.type === "typing", 2_000)
    expect(stopped).toMatchObject({ user_id: alice.user.id, state: "stop" })
    expect(a.all("typing")).toEqual([])
  })

  it("opens one DM room per pair, joins both sides, and tells the sender when the message was delivered", async () => {
    const alice = await registerUser(server.baseUrl)
    const bob = await registerUser(server.baseUrl)
    const a = await connect(alice.access_token)
    const b = await connect(bob.access_token)
    const opened = await a.request({ type: "dm_open", user_id: bob.user.id })
    expect(opened).toMatchObject({ type: "joined", room: { type: "dm", member_count: 2 } })
    const bJoined = await b.next((f) => f.type === "joined")
    expect(bJoined.room_id).toBe(opened.room_id)
    const again = await b.request({ type: "dm_open", user_id: alice.user.id })
    expect(again.room_id).toBe(opened.room_id)

    const sent = await send(a, opened.room_id, "psst")
    expect((await b.next((f) => f.type === "message")).message.id).toBe(sent.message.id)
    expect(await a.next((f) => f.type === "delivered")).toMatchObject({ room_id: opened.room_id, message_id: sent.message.id, user_id: bob.user.id })
    expect(await a.request({ type: "dm_open", user_id: alice.user.id })).toMatchObject({ type: "error", code: "VALIDATION_ERROR" })
  })

  it("shows presence: online when connected, away on request, offline when the last connection leaves", async () => {
    const { alice, bob, room, a, b } = await pair()
    const joined = await connect(alice.access_token).then((c) => c.request({ type: "join", room_id: room.id }))
    expect(joined.presence).toEqual(
      expect.arrayContaining([
        { user_id: alice.user.id, status: "online" },
        { user_id: bob.user.id, status: "online" }
      ])
    )
    expect(await b.request({ type: "presence", status: "away" })).toMatchObject({ type: "presence", user_id: bob.user.id, status: "away" })
    expect(await a.next((f) => f.type === "presence" && f.user_id === bob.user.id && f.status === "away")).toBeDefined()
    await b.close()
    expect(await a.next((f) => f.type === "presence" && f.user_id === bob.user.id && f.status === "offline")).toBeDefined()
  })
})

describe("chat gateway: bad input and checks", () => {
  it("answers malformed frames with error frames and keeps the connection", async () => {
    const { room, a } = await pair()
    a.ws.send("not json")
    expect(await a.next((f) => f.type === "error")).toMatchObject({ code: "BAD_FRAME" })
    a.ws.send(Buffer.from([1, 2, 3]), { binary: true })
    expect(await a.next((f) => f.type === "error")).toMatchObject({ code: "BAD_FRAME" })
    a.ws.send("[1,2]")
    expect(await a.next((f) => f.type === "error")).toMatchObject({ code: "BAD_FRAME" })
    expect(await a.request({ type: "shout" })).toMatchObject({ type: "error", code: "UNKNOWN_TYPE" })
    expect(await a.request({ type: "join", room_id: "nope" })).toMatchObject({ type: "error", code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "send", room_id: room.id, client_id: newClientId(), content: "" })).toMatchObject({ code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "send", room_id: room.id, client_id: newClientId(), content: "   " })).toMatchObject({ code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "send", room_id: room.id, client_id: newClientId(), content: "x".repeat(4001) })).toMatchObject({ code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "send", room_id: room.id, client_id: newClientId(), content: "a\u0000b" })).toMatchObject({ code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "send", room_id: room.id, client_id: "", content: "x" })).toMatchObject({ code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "history", room_id: room.id, limit: 101 })).toMatchObject({ code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "typing", room_id: room.id, state: "maybe" })).toMatchObject({ code: "VALIDATION_ERROR" })
    expect(await a.request({ type: "__proto__", constructor: { prototype: { polluted: true } } })).toMatchObject({ code: "UNKNOWN_TYPE" })
    // 4000 emoji are 4000 characters (8000 UTF-16 units): accepted.
    const long = await a.request({ type: "send", room_id: room.id, client_id: newClientId(), content: "🎵".repeat(4000) })
    expect(long.type).toBe("ack")
    expect((await a.request({ type: "ping", ts: 42 })).ts).toBe(42)
  })

  it("closes 1009 for a frame over the size limit", async () => {
    const { a } = await pair()
    a.ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(70_000) }))
    expect((await a.closed).code).toBe(1009)
  })

  it("checks membership and roles on every action", async () => {
    const owner = await registerUser(server.baseUrl)
    const outsider = await registerUser(server.baseUrl)
    const secret = await createRoom(server.baseUrl, owner.access_token, { name: "secret", type: "private" })
    const o = await connect(owner.access_token)
    await o.request({ type: "join", room_id: secret.id })
    const message = (await send(o, secret.id, "inside")).message
    const x = await connect(outsider.access_token)
    expect(await x.request({ type: "join", room_id: secret.id })).toMatchObject({ type: "error", code: "ROOM_NOT_FOUND" })
    expect(await send(x, secret.id, "let me in")).toMatchObject({ type: "error", code: "ROOM_NOT_FOUND" })
    expect(await x.request({ type: "history", room_id: secret.id })).toMatchObject({ code: "ROOM_NOT_FOUND" })
    expect(await x.request({ type: "react", message_id: message.id, emoji: "👀" })).toMatchObject({ code: "MESSAGE_NOT_FOUND" })
    expect(await x.request({ type: "delete", message_id: message.id })).toMatchObject({ code: "MESSAGE_NOT_FOUND" })
    expect(await x.request({ type: "read", room_id: secret.id, message_id: message.id })).toMatchObject({ code: "MESSAGE_NOT_FOUND" })
    expect(await x.request({ type: "typing", room_id: secret.id, state: "start" })).toMatchObject({ code: "NOT_JOINED" })

    // Muted members read but do not post; a ban removes them from the room at once.
    const member = await registerUser(server.baseUrl)
    expect((await http(server.baseUrl, "POST", `/api/v1/chat/rooms/${secret.id}/members`, { token: owner.access_token, body: { user_id: member.user.id } })).status).toBe(204)
    const m = await connect(member.access_token)
    expect((await m.request({ type: "join", room_id: secret.id })).type).toBe("joined")
    await http(server.baseUrl, "PATCH", `/api/v1/chat/rooms/${secret.id}/members/${member.user.id}`, { token: owner.access_token, body: { muted: true } })
    expect(await send(m, secret.id, "hello?")).toMatchObject({ code: "MUTED" })
    await http(server.baseUrl, "PATCH", `/api/v1/chat/rooms/${secret.id}/members/${member.user.id}`, { token: owner.access_token, body: { banned: true } })
    expect(await m.next((f) => f.type === "left")).toMatchObject({ room_id: secret.id, reason: "banned" })
    await send(o, secret.id, "after the ban")
    await new Promise((r) => setTimeout(r, 200))
    expect(m.all("message").filter((f) => f.message.content === "after the ban")).toEqual([])
    expect(await m.request({ type: "join", room_id: secret.id })).toMatchObject({ code: "BANNED" })
  })

  it("lets moderators delete the messages of members, not of the owner", async () => {
    const [owner, mod, member] = await Promise.all([registerUser(server.baseUrl), registerUser(server.baseUrl), registerUser(server.baseUrl)])
    const room = await createRoom(server.baseUrl, owner.access_token)
    const [o, m, u] = await Promise.all([connect(owner.access_token), connect(mod.access_token), connect(member.access_token)])
    for (const c of [o, m, u]) await c.request({ type: "join", room_id: room.id })
    await http(server.baseUrl, "PATCH", `/api/v1/chat/rooms/${room.id}/members/${mod.user.id}`, { token: owner.access_token, body: { role: "moderator" } })
    const ownerMessage = (await send(o, room.id, "owner speaking")).message
    const modMessage = (await send(m, room.id, "moderator speaking")).message
    const memberMessage = (await send(u, room.id, "member speaking")).message
    expect(await m.request({ type: "delete", message_id: memberMessage.id })).toMatchObject({ type: "message_deleted" })
    expect(await m.request({ type: "delete", message_id: ownerMessage.id })).toMatchObject({ type: "error", code: "FORBIDDEN" })
    expect(await u.request({ type: "delete", message_id: modMessage.id })).toMatchObject({ type: "error", code: "FORBIDDEN" })
    expect(await o.request({ type: "delete", message_id: modMessage.id })).toMatchObject({ type: "message_deleted" })
  })

  it("rate-limits a flooding user with retry_after_ms, then closes 4029 when it keeps going", async () => {
    const limited = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), CHAT_RATE_PER_SEC: "5", CHAT_RATE_BURST: "5" })
    try {
      const user = await registerUser(limited.baseUrl)
      const c = track(await ChatClient.connect(limited.baseUrl, user.access_token))
      for (let i = 0; i < 8; i++) c.send({ type: "ping", ts: i, ref: `p${i}` })
      const refused = await c.next((f) => f.type === "error" && f.code === "RATE_LIMITED")
      expect(refused.retry_after_ms).toBeGreaterThan(0)
      expect(refused.retry_after_ms).toBeLessThanOrEqual(1000)
      await c.next((f) => f.type === "pong" && f.ref === "p4")
      expect(c.all("pong")).toHaveLength(4)
      expect(c.all("error").filter((f) => f.code === "RATE_LIMITED")).toHaveLength(2)
      for (let i = 0; i < 20; i++) c.send({ type: "ping", ts: i })
      expect((await c.closed).code).toBe(4029)

      // Frames ahead of authentication are never handled: a burst's worth at most waits for it (more closes
      // 4029), and a first frame that is not `authenticate` fails it (4001) — whichever the server sees first.
      const eager = track(ChatClient.open(limited.baseUrl))
      await new Promise((r) => eager.ws.once("open", r))
      for (let i = 0; i < 10; i++) eager.send({ type: "ping", ts: i })
      expect([4001, 4029]).toContain((await eager.closed).code)
      expect(eager.all("pong")).toEqual([])
    } finally {
      await limited.stop()
    }
  })

  it("caps connections per user (4009) and closes 4000 when pongs stop", async () => {
    const strict = await startServer({
      DATABASE_URL: db,
      DATA_DIR: tempDataDir(),
      CHAT_MAX_CONNS_PER_USER: "2",
      CHAT_HEARTBEAT_MS: "200",
      CHAT_PONG_TIMEOUT_MS: "300"
    })
    try {
      const user = await registerUser(strict.baseUrl)
      const first = track(await ChatClient.connect(strict.baseUrl, user.access_token))
      track(await ChatClient.connect(strict.baseUrl, user.access_token))
      const third = track(ChatClient.open(strict.baseUrl, { token: user.access_token }))
      expect(await third.next((f) => f.type === "error")).toMatchObject({ code: "TOO_MANY_CONNECTIONS" })
      expect((await third.closed).code).toBe(4009)

      // The ws client answers pings by itself: the first connection stays through several heartbeats.
      await new Promise((r) => setTimeout(r, 1200))
      expect(first.ws.readyState).toBe(WebSocket.OPEN)
      const other = await registerUser(strict.baseUrl)
      const mute = track(await ChatClient.connect(strict.baseUrl, other.access_token, { autoPong: false }))
      expect((await mute.closed).code).toBe(4000)
    } finally {
      await strict.stop()
    }
  })
})
