import * as NodeCrypto from "node:crypto"
import { beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, closeAtEnd, createRoom, newClientId } from "../support/chat.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type JsonResponse, type RunningServer, startServer, tempDataDir } from "../support/server.js"

const db = await freshDatabase("chat_rest")
let server: RunningServer
const track = closeAtEnd()

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), CHAT_RATE_PER_SEC: "200", CHAT_RATE_BURST: "400" })
})

type User = Awaited<ReturnType<typeof registerUser>>

const api = <T = any>(method: string, path: string, who?: User, body?: unknown) =>
  http<T>(server.baseUrl, method, `/api/v1${path}`, { ...(who === undefined ? {} : { token: who.access_token }), ...(body === undefined ? {} : { body }) })

const user = () => registerUser(server.baseUrl)

const admin = async () => {
  const u = await user()
  await query(db, "update users set role = 'admin' where id = $1", [u.user.id])
  return u
}

/** The SPEC §4 error envelope, with this status and code, and nothing else. */
const expectError = (res: JsonResponse, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(Object.keys(res.body)).toEqual(["error"])
  expect(res.body.error).toMatchObject({ code, message: expect.any(String) })
  for (const key of Object.keys(res.body.error)) expect(["code", "message", "details"]).toContain(key)
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(js|ts):\d+/)
}

const room = (owner: User, body: Record<string, unknown> = {}) => createRoom(server.baseUrl, owner.access_token, { name: `room ${NodeCrypto.randomBytes(3).toString("hex")}`, ...body })

const getRoom = async (who: User, id: string) => {
  const res = await api("GET", `/chat/rooms/${id}`, who)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

const memberIds = async (who: User, id: string) => {
  const res = await api("GET", `/chat/rooms/${id}/members`, who)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return (res.body.items as Array<{ user_id: string }>).map((m) => m.user_id)
}

const join = async (who: User, id: string) => {
  const res = await api("POST", `/chat/rooms/${id}/join`, who)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

const invite = async (by: User, id: string, who: User) => {
  const res = await api("POST", `/chat/rooms/${id}/members`, by, { user_id: who.user.id })
  expect(res.status, JSON.stringify(res.body)).toBe(204)
}

const patchMember = (by: User, id: string, who: User, change: Record<string, unknown>) => api("PATCH", `/chat/rooms/${id}/members/${who.user.id}`, by, change)

/** Posts the messages over the WebSocket (the only way to write one) and returns what the server stored. */
const post = async (who: User, roomId: string, contents: ReadonlyArray<string>) => {
  const client = track(await ChatClient.connect(server.baseUrl, who.access_token))
  try {
    const joined = await client.request({ type: "join", room_id: roomId })
    expect(joined.type, JSON.stringify(joined)).toBe("joined")
    const stored: Array<{ id: string; seq: number; content: string; sender_id: string }> = []
    for (const content of contents) {
      const ack = await client.request({ type: "send", room_id: roomId, client_id: newClientId(), content })
      expect(ack.type, JSON.stringify(ack)).toBe("ack")
      stored.push(ack.message)
    }
    return stored
  } finally {
    await client.close()
  }
}

/** Every page of a listing, following next_cursor until it is null. */
const allPages = async (who: User, params: string) => {
  const pages: Array<Array<{ id: string; [k: string]: any }>> = []
  let cursor: string | null = null
  do {
    const res: JsonResponse = await api("GET", `/chat/rooms?${params}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`, who)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    pages.push(res.body.items)
    cursor = res.body.next_cursor
    expect(pages.length).toBeLessThan(1000)
  } while (cursor !== null)
  return pages
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

describe("POST /chat/rooms", () => {
  it("creates a public room by default, owned by its creator who is its only member", async () => {
    const alice = await user()
    const res = await api("POST", "/chat/rooms", alice, { name: "  Late night beats  " })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID),
      type: "public",
      name: "Late night beats",
      description: null,
      creator_id: alice.user.id,
      member_count: 1,
      last_seq: 0,
      my_role: "owner",
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO)
    })
    const members = await api("GET", `/chat/rooms/${res.body.id}/members`, alice)
    expect(members.body.items).toEqual([
      { user_id: alice.user.id, username: alice.user.username, role: "owner", muted: false, last_read_seq: 0, joined_at: expect.stringMatching(ISO) }
    ])
  })

  it("creates a private room with a description, and a 100-character name is accepted", async () => {
    const alice = await user()
    const name = "n".repeat(100)
    const res = await api("POST", "/chat/rooms", alice, { name, type: "private", description: "mixing feedback" })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ type: "private", name, description: "mixing feedback", member_count: 1, my_role: "owner" })
  })

  it("counts characters, not UTF-16 units: 100 emoji make a valid name, 101 do not", async () => {
    const alice = await user()
    const name = "🎵".repeat(100)
    const res = await api("POST", "/chat/rooms", alice, { name, description: "🥁".repeat(1000) })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body.name).toBe(name)
    expectError(await api("POST", "/chat/rooms", alice, { name: `${name}🎵` }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", "/chat/rooms", alice, { name: "r", description: "🥁".repeat(1001) }), 400, "VALIDATION_ERROR")
  })

  it.each([
    ["no name", {}],
    ["an empty name", { name: "" }],
    ["a blank name", { name: " \t\n " }],
    ["a name over 100 characters", { name: "x".repeat(101) }],
    ["a NUL in the name", { name: "bad\u0000name" }],
    ["a non-string name", { name: 42 }],
    ["type dm (DMs are opened, not created)", { name: "dm", type: "dm" }],
    ["an unknown type", { name: "r", type: "secret" }],
    ["a description over 1000 characters", { name: "r", description: "d".repeat(1001) }],
    ["a NUL in the description", { name: "r", description: "a\u0000b" }],
    ["a lone surrogate in the name", { name: "\uDE00 room" }]
  ])("refuses %s with 400 VALIDATION_ERROR and stores nothing", async (_, body) => {
    const alice = await user()
    const res = await api("POST", "/chat/rooms", alice, body)
    expectError(res, 400, "VALIDATION_ERROR")
    expect(await query(db, "select 1 from chat_rooms where creator_id = $1", [alice.user.id])).toHaveLength(0)
  })

  it("refuses broken JSON with 400 MALFORMED_BODY", async () => {
    const alice = await user()
    const res = await http(server.baseUrl, "POST", "/api/v1/chat/rooms", {
      token: alice.access_token,
      raw: '{"name": "unterminated',
      headers: { "content-type": "application/json" }
    })
    expectError(res, 400, "MALFORMED_BODY")
  })
})

describe("GET /chat/rooms", () => {
  it("lists public rooms and the caller's own rooms, never other people's private rooms", async () => {
    const alice = await user()
    const bob = await user()
    const alicePublic = await room(alice)
    const alicePrivate = await room(alice, { type: "private" })
    const bobPrivate = await room(bob, { type: "private" })
    const invitedTo = await room(alice, { type: "private" })
    await invite(alice, invitedTo.id, bob)

    const seen = (await allPages(bob, "limit=100")).flat()
    const byId = new Map(seen.map((r) => [r.id, r]))
    expect(byId.get(alicePublic.id)).toMatchObject({ type: "public", my_role: null, member_count: 1 })
    expect(byId.get(bobPrivate.id)).toMatchObject({ type: "private", my_role: "owner" })
    expect(byId.get(invitedTo.id)).toMatchObject({ type: "private", my_role: "member", member_count: 2 })
    expect(byId.has(alicePrivate.id)).toBe(false)
    for (const r of seen) expect(r.type === "public" || r.my_role !== null, JSON.stringify(r)).toBe(true)
  })

  it("with mine=true lists only rooms the caller belongs to, newest first", async () => {
    const alice = await user()
    const bob = await user()
    const other = await room(alice)
    const first = await room(bob)
    const joined = await room(alice)
    await join(bob, joined.id)
    const second = await room(bob, { type: "private" })
    const res = await api("GET", "/chat/rooms?mine=true", bob)
    expect(res.status).toBe(200)
    expect(res.body.items.map((r: { id: string }) => r.id)).toEqual([second.id, joined.id, first.id])
    expect(res.body.items.map((r: { my_role: string }) => r.my_role)).toEqual(["owner", "member", "owner"])
    expect(res.body.next_cursor).toBeNull()
    expect(res.body.items.map((r: { id: string }) => r.id)).not.toContain(other.id)
    const notMine = await api("GET", "/chat/rooms?mine=false&limit=100", bob)
    expect(notMine.body.items.map((r: { id: string }) => r.id)).toContain(other.id)
  })

  it("pages with next_cursor without duplicates or omissions, in (created_at, id) order", async () => {
    const alice = await user()
    const ids = new Set<string>()
    for (let i = 0; i < 7; i++) ids.add((await room(alice)).id)
    const pages = await allPages(alice, "mine=true&limit=2")
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1])
    const listed = pages.flat().map((r) => r.id)
    expect(new Set(listed).size).toBe(listed.length)
    expect(new Set(listed)).toEqual(ids)
    const times = pages.flat().map((r) => Date.parse(r.created_at))
    expect(times).toEqual([...times].sort((a, b) => b - a))
  })

  it("pages without omissions when rooms were created within the same millisecond", async () => {
    // Concurrent creations share a millisecond; PostgreSQL keeps microseconds.
    const alice = await user()
    const ids: Array<string> = []
    for (let i = 0; i < 6; i++) ids.push((await room(alice)).id)
    for (const [i, id] of ids.entries()) {
      await query(db, "update chat_rooms set created_at = $2::timestamptz where id = $1", [id, `2031-03-04T05:06:07.123${String(100 + i * 150).padStart(3, "0")}Z`])
    }
    const pages = await allPages(alice, "mine=true&limit=2")
    const listed = pages.flat().map((r) => r.id)
    expect(new Set(listed).size).toBe(listed.length)
    expect(listed.sort()).toEqual([...ids].sort())
  })

  it("pages through everything visible (public and mine) with no duplicates", async () => {
    const alice = await user()
    const mine = await room(alice, { type: "private" })
    const pages = await allPages(alice, "limit=3")
    const listed = pages.flat().map((r) => r.id)
    expect(new Set(listed).size).toBe(listed.length)
    const [{ count }] = await query<{ count: string }>(
      db,
      "select count(*) from chat_rooms r where deleted_at is null and (type = 'public' or exists (select 1 from chat_members m where m.room_id = r.id and m.user_id = $1 and m.banned_at is null))",
      [alice.user.id]
    )
    expect(listed.length).toBe(Number(count))
    expect(listed).toContain(mine.id)
  })

  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url")
  it.each([
    ["garbage", "not-a-cursor"],
    ["JSON of the wrong shape", b64({ a: 1 })],
    ["null", b64(null)],
    ["a bad date", b64(["yesterday", UNKNOWN_ID])],
    ["an id that is not a UUID", b64([new Date().toISOString(), "------------------------------------"])],
    ["a date PostgreSQL cannot hold", b64(["-271821-04-20T00:00:00.000Z", UNKNOWN_ID])],
    ["a cursor over 200 characters", "a".repeat(201)]
  ])("refuses a cursor that is %s with 400", async (_, cursor) => {
    const alice = await user()
    const res = await api("GET", `/chat/rooms?cursor=${encodeURIComponent(cursor)}`, alice)
    expect(res.status, JSON.stringify(res.body)).toBe(400)
    expectError(res, 400, res.body.error.code)
    expect(["INVALID_CURSOR", "VALIDATION_ERROR"]).toContain(res.body.error.code)
  })

  it.each(["limit=0", "limit=101", "limit=abc", "limit=2.5", "mine=yes"])("refuses %s with 400 VALIDATION_ERROR", async (params) => {
    const alice = await user()
    expectError(await api("GET", `/chat/rooms?${params}`, alice), 400, "VALIDATION_ERROR")
  })
})

describe("GET /chat/rooms/:id", () => {
  it("shows a public room to anyone signed in, with their own role", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice, { description: "open to all" })
    expect(await getRoom(bob, r.id)).toMatchObject({ id: r.id, name: r.name, description: "open to all", my_role: null, member_count: 1, creator_id: alice.user.id })
    expect(await getRoom(alice, r.id)).toMatchObject({ my_role: "owner" })
  })

  it("answers 404 (not 403) for another user's private room, exactly as for a room that does not exist", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice, { type: "private" })
    const hidden = await api("GET", `/chat/rooms/${r.id}`, bob)
    const missing = await api("GET", `/chat/rooms/${UNKNOWN_ID}`, bob)
    expectError(hidden, 404, "ROOM_NOT_FOUND")
    expect(hidden.body).toEqual(missing.body)
  })

  it("shows a private room to an admin", async () => {
    const alice = await user()
    const boss = await admin()
    const r = await room(alice, { type: "private" })
    expect(await getRoom(boss, r.id)).toMatchObject({ id: r.id, my_role: null })
  })

  it("answers 400 for an id that is not a UUID", async () => {
    expectError(await api("GET", "/chat/rooms/general", await user()), 400, "VALIDATION_ERROR")
  })
})

describe("POST /chat/rooms/:id/join", () => {
  it("joins a public room once: joining again changes nothing", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice)
    expect(await join(bob, r.id)).toMatchObject({ id: r.id, my_role: "member", member_count: 2 })
    expect(await join(bob, r.id)).toMatchObject({ id: r.id, my_role: "member", member_count: 2 })
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id, bob.user.id])
    expect(await join(alice, r.id)).toMatchObject({ my_role: "owner", member_count: 2 })
  })

  it("makes an admin a member of a public room like anyone else", async () => {
    const alice = await user()
    const boss = await admin()
    const r = await room(alice)
    expect(await join(boss, r.id)).toMatchObject({ my_role: "member", member_count: 2 })
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id, boss.user.id])
  })

  it("answers 404 for a private room the caller was not invited to, and adds nobody", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice, { type: "private" })
    expectError(await api("POST", `/chat/rooms/${r.id}/join`, bob), 404, "ROOM_NOT_FOUND")
    expect(await getRoom(alice, r.id)).toMatchObject({ member_count: 1 })
    expectError(await api("POST", `/chat/rooms/${UNKNOWN_ID}/join`, bob), 404, "ROOM_NOT_FOUND")
  })

  it("answers 403 BANNED to a banned user", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice)
    await join(bob, r.id)
    expect((await patchMember(alice, r.id, bob, { banned: true })).status).toBe(200)
    expectError(await api("POST", `/chat/rooms/${r.id}/join`, bob), 403, "BANNED")
    expect(await getRoom(alice, r.id)).toMatchObject({ member_count: 1 })
  })
})

describe("POST /chat/rooms/:id/leave", () => {
  it("removes a member, who can no longer see a private room", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice, { type: "private" })
    await invite(alice, r.id, bob)
    expect((await api("POST", `/chat/rooms/${r.id}/leave`, bob)).status).toBe(204)
    expect(await getRoom(alice, r.id)).toMatchObject({ member_count: 1 })
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id])
    expectError(await api("GET", `/chat/rooms/${r.id}`, bob), 404, "ROOM_NOT_FOUND")
    expectError(await api("POST", `/chat/rooms/${r.id}/leave`, bob), 404, "ROOM_NOT_FOUND")
  })

  it("answers 403 NOT_A_MEMBER for a public room the caller is not in", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice)
    await join(bob, r.id)
    expect((await api("POST", `/chat/rooms/${r.id}/leave`, bob)).status).toBe(204)
    expect(await getRoom(bob, r.id)).toMatchObject({ my_role: null, member_count: 1 })
    expectError(await api("POST", `/chat/rooms/${r.id}/leave`, bob), 403, "NOT_A_MEMBER")
  })

  it("refuses the owner with 409 OWNER_CANNOT_LEAVE", async () => {
    const alice = await user()
    const r = await room(alice)
    expectError(await api("POST", `/chat/rooms/${r.id}/leave`, alice), 409, "OWNER_CANNOT_LEAVE")
    expect(await getRoom(alice, r.id)).toMatchObject({ my_role: "owner", member_count: 1 })
  })

  it("refuses to leave a DM with 409 DM_ROOM, and a DM is hidden from others", async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const client = track(await ChatClient.connect(server.baseUrl, alice.access_token))
    const opened = await client.request({ type: "dm_open", user_id: bob.user.id })
    expect(opened.type, JSON.stringify(opened)).toBe("joined")
    const dm = opened.room_id as string
    await client.close()
    expectError(await api("POST", `/chat/rooms/${dm}/leave`, bob), 409, "DM_ROOM")
    expect(await getRoom(bob, dm)).toMatchObject({ type: "dm", member_count: 2, my_role: "member" })
    expectError(await api("GET", `/chat/rooms/${dm}`, carol), 404, "ROOM_NOT_FOUND")
    expectError(await api("POST", `/chat/rooms/${dm}/join`, carol), 404, "ROOM_NOT_FOUND")
    // DMs have exactly two members and no moderators.
    expectError(await api("POST", `/chat/rooms/${dm}/members`, alice, { user_id: carol.user.id }), 403, "FORBIDDEN")
    expectError(await patchMember(alice, dm, bob, { muted: true }), 403, "FORBIDDEN")
    expectError(await api("DELETE", `/chat/rooms/${dm}/members/${bob.user.id}`, alice), 403, "FORBIDDEN")
  })
})

describe("GET /chat/rooms/:id/members", () => {
  it("lists members in join order with their roles and mute state", async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const r = await room(alice)
    await join(bob, r.id)
    await join(carol, r.id)
    expect((await patchMember(alice, r.id, bob, { role: "moderator" })).status).toBe(200)
    expect((await patchMember(alice, r.id, carol, { muted: true })).status).toBe(200)
    const res = await api("GET", `/chat/rooms/${r.id}/members`, carol)
    expect(res.status).toBe(200)
    expect(res.body.items.map((m: any) => [m.user_id, m.username, m.role, m.muted])).toEqual([
      [alice.user.id, alice.user.username, "owner", false],
      [bob.user.id, bob.user.username, "moderator", false],
      [carol.user.id, carol.user.username, "member", true]
    ])
  })

  it("answers 404 for another user's private room", async () => {
    const alice = await user()
    const r = await room(alice, { type: "private" })
    expectError(await api("GET", `/chat/rooms/${r.id}/members`, await user()), 404, "ROOM_NOT_FOUND")
  })
})

describe("POST /chat/rooms/:id/members (invite)", () => {
  it("lets only the owner or a moderator add someone to a private room", async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const dave = await user()
    const r = await room(alice, { type: "private" })
    await invite(alice, r.id, bob)
    expect(await getRoom(bob, r.id)).toMatchObject({ my_role: "member", member_count: 2 })
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, bob, { user_id: carol.user.id }), 403, "FORBIDDEN")
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id, bob.user.id])
    expect((await patchMember(alice, r.id, bob, { role: "moderator" })).body.role).toBe("moderator")
    await invite(bob, r.id, carol)
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id, bob.user.id, carol.user.id])
    // An outsider does not even learn the room exists.
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, dave, { user_id: dave.user.id }), 404, "ROOM_NOT_FOUND")
  })

  it("lets any member of a public room add someone, but not an outsider", async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const r = await room(alice)
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, bob, { user_id: carol.user.id }), 403, "FORBIDDEN")
    await join(bob, r.id)
    await invite(bob, r.id, carol)
    expect(await getRoom(carol, r.id)).toMatchObject({ my_role: "member", member_count: 3 })
  })

  it("answers 404 USER_NOT_FOUND for an unknown user, 409 for a member or a banned user, 400 for a bad id", async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const r = await room(alice, { type: "private" })
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, alice, { user_id: UNKNOWN_ID }), 404, "USER_NOT_FOUND")
    await invite(alice, r.id, bob)
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, alice, { user_id: bob.user.id }), 409, "ALREADY_MEMBER")
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, alice, { user_id: alice.user.id }), 409, "ALREADY_MEMBER")
    await invite(alice, r.id, carol)
    expect((await patchMember(alice, r.id, carol, { banned: true })).status).toBe(200)
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, alice, { user_id: carol.user.id }), 409, "BANNED")
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id, bob.user.id])
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, alice, { user_id: "carol" }), 400, "VALIDATION_ERROR")
    expectError(await api("POST", `/chat/rooms/${r.id}/members`, alice, {}), 400, "VALIDATION_ERROR")
  })
})

describe("PATCH /chat/rooms/:id/members/:user_id", () => {
  /** A public room: alice owns it, bob and dave moderate it, carol is a member. */
  const staffedRoom = async () => {
    const [alice, bob, carol, dave] = [await user(), await user(), await user(), await user()]
    const r = await room(alice)
    for (const u of [bob, carol, dave]) await join(u, r.id)
    for (const u of [bob, dave]) expect((await patchMember(alice, r.id, u, { role: "moderator" })).status).toBe(200)
    return { alice, bob, carol, dave, r }
  }

  it("lets the owner change roles and returns the updated member", async () => {
    const { alice, carol, r } = await staffedRoom()
    const res = await patchMember(alice, r.id, carol, { role: "moderator" })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ user_id: carol.user.id, username: carol.user.username, role: "moderator", muted: false, last_read_seq: 0, joined_at: expect.stringMatching(ISO) })
    expect((await patchMember(alice, r.id, carol, { role: "member" })).body.role).toBe("member")
    expect(await getRoom(carol, r.id)).toMatchObject({ my_role: "member" })
  })

  it("hands ownership over: the new owner is the only one, the old one stays as a moderator and may then leave", async () => {
    const { alice, carol, r } = await staffedRoom()
    const res = await patchMember(alice, r.id, carol, { role: "owner" })
    expect(res.status).toBe(200)
    expect(res.body.role).toBe("owner")
    const members = (await api("GET", `/chat/rooms/${r.id}/members`, carol)).body.items
    expect(members.filter((m: any) => m.role === "owner").map((m: any) => m.user_id)).toEqual([carol.user.id])
    expect(members.find((m: any) => m.user_id === alice.user.id).role).toBe("moderator")
    expectError(await patchMember(alice, r.id, carol, { role: "member" }), 403, "FORBIDDEN")
    expect((await api("POST", `/chat/rooms/${r.id}/leave`, alice)).status).toBe(204)
  })

  it("refuses role changes by a moderator (403) and roles that do not exist (400)", async () => {
    const { alice, bob, carol, r } = await staffedRoom()
    expectError(await patchMember(bob, r.id, carol, { role: "moderator" }), 403, "FORBIDDEN")
    expectError(await patchMember(bob, r.id, carol, { role: "owner" }), 403, "FORBIDDEN")
    expectError(await patchMember(alice, r.id, carol, { role: "owner", banned: true }), 400, "VALIDATION_ERROR")
    expectError(await patchMember(alice, r.id, carol, { role: "admin" }), 400, "VALIDATION_ERROR")
    expectError(await patchMember(alice, r.id, carol, { muted: "yes" }), 400, "VALIDATION_ERROR")
    const roles = (await api("GET", `/chat/rooms/${r.id}/members`, alice)).body.items.map((m: any) => m.role)
    expect(roles).toEqual(["owner", "moderator", "member", "moderator"])
  })

  it("refuses a moderator moderating another moderator or the owner, and a member moderating anyone", async () => {
    const { alice, bob, carol, dave, r } = await staffedRoom()
    expectError(await patchMember(bob, r.id, dave, { muted: true }), 403, "FORBIDDEN")
    expectError(await patchMember(bob, r.id, alice, { muted: true }), 403, "FORBIDDEN")
    expectError(await patchMember(carol, r.id, bob, { muted: true }), 403, "FORBIDDEN")
    expectError(await patchMember(carol, r.id, carol, { muted: false }), 403, "FORBIDDEN")
    const muted = (await api("GET", `/chat/rooms/${r.id}/members`, alice)).body.items.map((m: any) => m.muted)
    expect(muted).toEqual([false, false, false, false])
  })

  it("mutes a member, who then cannot post, and unmutes them", async () => {
    const { bob, carol, r } = await staffedRoom()
    const res = await patchMember(bob, r.id, carol, { muted: true })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ user_id: carol.user.id, muted: true, role: "member" })
    const client = track(await ChatClient.connect(server.baseUrl, carol.access_token))
    await client.request({ type: "join", room_id: r.id })
    expect(await client.request({ type: "send", room_id: r.id, client_id: newClientId(), content: "hello?" })).toMatchObject({ type: "error", code: "MUTED" })
    expect((await patchMember(bob, r.id, carol, { muted: false })).body.muted).toBe(false)
    expect(await client.request({ type: "send", room_id: r.id, client_id: newClientId(), content: "hello!" })).toMatchObject({ type: "ack" })
    await client.close()
  })

  it("bans a member: gone from the list, member_count down, cannot rejoin; unbanning lets them back", async () => {
    const { alice, bob, carol, r } = await staffedRoom()
    expect(await getRoom(alice, r.id)).toMatchObject({ member_count: 4 })
    const banned = await patchMember(bob, r.id, carol, { banned: true })
    expect(banned.status, JSON.stringify(banned.body)).toBe(200)
    expect(banned.body).toMatchObject({ user_id: carol.user.id, role: "member" })
    expect(await memberIds(alice, r.id)).not.toContain(carol.user.id)
    expect(await getRoom(alice, r.id)).toMatchObject({ member_count: 3 })
    expect(await getRoom(carol, r.id)).toMatchObject({ my_role: null })
    expect((await api("GET", "/chat/rooms?mine=true", carol)).body.items).toEqual([])
    expectError(await api("POST", `/chat/rooms/${r.id}/join`, carol), 403, "BANNED")
    // Banning again changes nothing.
    expect((await patchMember(bob, r.id, carol, { banned: true })).status).toBe(200)
    expect(await getRoom(alice, r.id)).toMatchObject({ member_count: 3 })

    const unbanned = await patchMember(bob, r.id, carol, { banned: false })
    expect(unbanned.status, JSON.stringify(unbanned.body)).toBe(200)
    expect(await join(carol, r.id)).toMatchObject({ my_role: "member", member_count: 4 })
    expect(await memberIds(alice, r.id)).toContain(carol.user.id)
  })

  it("a ban keeps a banned user out of a private room they were in", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice, { type: "private" })
    await invite(alice, r.id, bob)
    expect((await patchMember(alice, r.id, bob, { banned: true })).status).toBe(200)
    expectError(await api("GET", `/chat/rooms/${r.id}`, bob), 404, "ROOM_NOT_FOUND")
    expectError(await api("GET", `/chat/rooms/${r.id}/messages`, bob), 404, "ROOM_NOT_FOUND")
    expectError(await api("POST", `/chat/rooms/${r.id}/join`, bob), 403, "BANNED")
    expect((await allPages(bob, "limit=100")).flat().map((x) => x.id)).not.toContain(r.id)
  })

  it("answers 404 MEMBER_NOT_FOUND for someone who is not a member", async () => {
    const { alice, r } = await staffedRoom()
    const stranger = await user()
    expectError(await patchMember(alice, r.id, stranger, { muted: true }), 404, "MEMBER_NOT_FOUND")
    expectError(await api("PATCH", `/chat/rooms/${r.id}/members/${UNKNOWN_ID}`, alice, { muted: true }), 404, "MEMBER_NOT_FOUND")
  })

  it("never lets anyone, an admin included, demote, ban or kick the owner", async () => {
    const { alice, r } = await staffedRoom()
    const boss = await admin()
    expectError(await patchMember(boss, r.id, alice, { role: "member" }), 403, "FORBIDDEN")
    expectError(await patchMember(boss, r.id, alice, { banned: true }), 403, "FORBIDDEN")
    expectError(await api("DELETE", `/chat/rooms/${r.id}/members/${alice.user.id}`, boss), 403, "FORBIDDEN")
    expect(await getRoom(alice, r.id)).toMatchObject({ my_role: "owner", member_count: 4 })
  })
})

describe("DELETE /chat/rooms/:id/members/:user_id (kick)", () => {
  it("removes a member, who can rejoin a public room", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice)
    await join(bob, r.id)
    expect((await api("DELETE", `/chat/rooms/${r.id}/members/${bob.user.id}`, alice)).status).toBe(204)
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id])
    expect(await getRoom(alice, r.id)).toMatchObject({ member_count: 1 })
    expect(await join(bob, r.id)).toMatchObject({ my_role: "member", member_count: 2 })
  })

  it("removes a member of a private room, who cannot come back uninvited", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice, { type: "private" })
    await invite(alice, r.id, bob)
    expect((await api("DELETE", `/chat/rooms/${r.id}/members/${bob.user.id}`, alice)).status).toBe(204)
    expectError(await api("POST", `/chat/rooms/${r.id}/join`, bob), 404, "ROOM_NOT_FOUND")
  })

  it("never kicks the owner, and only moderators kick members ranked below them", async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const r = await room(alice)
    await join(bob, r.id)
    await join(carol, r.id)
    expectError(await api("DELETE", `/chat/rooms/${r.id}/members/${alice.user.id}`, alice), 403, "FORBIDDEN")
    expectError(await api("DELETE", `/chat/rooms/${r.id}/members/${bob.user.id}`, carol), 403, "FORBIDDEN")
    expect((await patchMember(alice, r.id, bob, { role: "moderator" })).status).toBe(200)
    expectError(await api("DELETE", `/chat/rooms/${r.id}/members/${alice.user.id}`, bob), 403, "FORBIDDEN")
    expect((await api("DELETE", `/chat/rooms/${r.id}/members/${carol.user.id}`, bob)).status).toBe(204)
    expect(await memberIds(alice, r.id)).toEqual([alice.user.id, bob.user.id])
  })

  it("answers 404 MEMBER_NOT_FOUND for a non-member or a banned user", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice)
    expectError(await api("DELETE", `/chat/rooms/${r.id}/members/${bob.user.id}`, alice), 404, "MEMBER_NOT_FOUND")
    await join(bob, r.id)
    expect((await patchMember(alice, r.id, bob, { banned: true })).status).toBe(200)
    expectError(await api("DELETE", `/chat/rooms/${r.id}/members/${bob.user.id}`, alice), 404, "MEMBER_NOT_FOUND")
    // The ban outlives the failed kick.
    expectError(await api("POST", `/chat/rooms/${r.id}/join`, bob), 403, "BANNED")
  })
})

describe("GET /chat/rooms/:id/messages", () => {
  it("returns messages oldest first, pages back with before_seq and says has_more", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice)
    const sent = await post(alice, r.id, ["one", "two", "three", "four", "five"])
    expect(sent.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])

    const all = await api("GET", `/chat/rooms/${r.id}/messages`, bob)
    expect(all.status).toBe(200)
    expect(all.body.has_more).toBe(false)
    expect(all.body.items).toEqual(
      sent.map((m, i) => ({
        id: m.id,
        room_id: r.id,
        seq: i + 1,
        sender_id: alice.user.id,
        content: ["one", "two", "three", "four", "five"][i],
        reply_to: null,
        created_at: expect.stringMatching(ISO),
        edited_at: null,
        reactions: []
      }))
    )

    const page = async (params: string) => {
      const res = await api("GET", `/chat/rooms/${r.id}/messages?${params}`, alice)
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      return { seqs: res.body.items.map((m: { seq: number }) => m.seq), has_more: res.body.has_more }
    }
    expect(await page("limit=2")).toEqual({ seqs: [4, 5], has_more: true })
    expect(await page("limit=2&before_seq=4")).toEqual({ seqs: [2, 3], has_more: true })
    expect(await page("limit=2&before_seq=2")).toEqual({ seqs: [1], has_more: false })
    expect(await page("limit=4&before_seq=5")).toEqual({ seqs: [1, 2, 3, 4], has_more: false })
    expect(await page("before_seq=1")).toEqual({ seqs: [], has_more: false })
    expect(await page("limit=100&before_seq=1000")).toEqual({ seqs: [1, 2, 3, 4, 5], has_more: false })
    expect(await getRoom(alice, r.id)).toMatchObject({ last_seq: 5 })
  })

  it("leaves deleted messages out", async () => {
    const alice = await user()
    const r = await room(alice)
    const [first, second] = await post(alice, r.id, ["keep", "remove"])
    const client = track(await ChatClient.connect(server.baseUrl, alice.access_token))
    await client.request({ type: "join", room_id: r.id })
    expect((await client.request({ type: "delete", message_id: second!.id })).type).not.toBe("error")
    await client.close()
    const res = await api("GET", `/chat/rooms/${r.id}/messages`, alice)
    expect(res.body.items.map((m: { id: string }) => m.id)).toEqual([first!.id])
  })

  it("answers 404 for another user's private room and for an unknown room", async () => {
    const alice = await user()
    const bob = await user()
    const r = await room(alice, { type: "private" })
    await post(alice, r.id, ["secret"])
    expectError(await api("GET", `/chat/rooms/${r.id}/messages`, bob), 404, "ROOM_NOT_FOUND")
    expectError(await api("GET", `/chat/rooms/${UNKNOWN_ID}/messages`, bob), 404, "ROOM_NOT_FOUND")
    await invite(alice, r.id, bob)
    expect((await api("GET", `/chat/rooms/${r.id}/messages`, bob)).body.items.map((m: { content: string }) => m.content)).toEqual(["secret"])
  })

  it.each(["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5", "before_seq=0", "before_seq=-3", "before_seq=x", "before_seq=99999999999999999999"])(
    "refuses %s with 400 VALIDATION_ERROR",
    async (params) => {
      const alice = await user()
      const r = await room(alice)
      expectError(await api("GET", `/chat/rooms/${r.id}/messages?${params}`, alice), 400, "VALIDATION_ERROR")
    }
  )

  it("accepts the limits 1 and 100", async () => {
    const alice = await user()
    const r = await room(alice)
    await post(alice, r.id, ["a", "b"])
    const one = await api("GET", `/chat/rooms/${r.id}/messages?limit=1`, alice)
    expect(one.body).toMatchObject({ items: [{ content: "b", seq: 2 }], has_more: true })
    expect((await api("GET", `/chat/rooms/${r.id}/messages?limit=100`, alice)).body.items).toHaveLength(2)
  })
})

describe("POST /chat/token", () => {
  it("issues a short-lived token that opens /ws?token=", async () => {
    const alice = await user()
    const res = await api("POST", "/chat/token", alice)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ token: expect.any(String), expires_in: 60 })
    const client = track(ChatClient.open(server.baseUrl, { query: `token=${encodeURIComponent(res.body.token)}` }))
    const ready = await client.next((f) => f.type === "ready")
    expect(ready).toMatchObject({ user_id: alice.user.id, session_id: expect.any(String), heartbeat_ms: expect.any(Number) })
    await client.close()
  })

  it("a tampered chat token is closed with 4001", async () => {
    const alice = await user()
    const { token } = (await api("POST", "/chat/token", alice)).body
    const client = track(ChatClient.open(server.baseUrl, { query: `token=${encodeURIComponent(`${token.slice(0, -4)}AAAA`)}` }))
    expect(await client.next((f) => f.type === "error")).toMatchObject({ code: "UNAUTHORIZED" })
    expect((await client.closed).code).toBe(4001)
    expect(client.all("ready")).toEqual([])
  })
})

describe("authentication", () => {
  it.each([
    ["POST", "/chat/rooms", { name: "r" }],
    ["GET", "/chat/rooms", undefined],
    ["GET", `/chat/rooms/${UNKNOWN_ID}`, undefined],
    ["POST", `/chat/rooms/${UNKNOWN_ID}/join`, undefined],
    ["POST", `/chat/rooms/${UNKNOWN_ID}/leave`, undefined],
    ["GET", `/chat/rooms/${UNKNOWN_ID}/members`, undefined],
    ["POST", `/chat/rooms/${UNKNOWN_ID}/members`, { user_id: UNKNOWN_ID }],
    ["PATCH", `/chat/rooms/${UNKNOWN_ID}/members/${UNKNOWN_ID}`, { muted: true }],
    ["DELETE", `/chat/rooms/${UNKNOWN_ID}/members/${UNKNOWN_ID}`, undefined],
    ["GET", `/chat/rooms/${UNKNOWN_ID}/messages`, undefined],
    ["POST", "/chat/token", undefined]
  ])("%s %s without a token answers 401", async (method, path, body) => {
    expectError(await api(method, path, undefined, body), 401, "INVALID_TOKEN")
    expectError(await http(server.baseUrl, method, `/api/v1${path}`, { token: "not.a.jwt", ...(body === undefined ? {} : { body }) }), 401, "INVALID_TOKEN")
  })

  it("a chat token is not an access token for the REST API", async () => {
    const alice = await user()
    const { token } = (await api("POST", "/chat/token", alice)).body
    expectError(await http(server.baseUrl, "GET", "/api/v1/chat/rooms", { token }), 401, "INVALID_TOKEN")
  })
})
