import fc from "fast-check"
import WebSocket from "ws"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, createRoom, type Frame, newClientId } from "../support/chat.js"
import { freshDatabase } from "../support/database.js"
import { fcParams, hostileJson, INJECTIONS, PROTO_KEYS, rawJsonBody, rawRequest, snapshotter, UNICODE_EDGES } from "../support/fuzz.js"
import { http, type RunningServer, startServer } from "../support/server.js"
import { signToken, TEST_JWT_SECRET, tokenFor, unsignedToken } from "../support/tokens.js"

/**
 * Every client frame type of SPEC §5 (and frames that are none of them),
 * malformed every way fast-check can think of, on a live connection. The
 * answer is an error frame or the frame's normal reply, or a documented close
 * code; the connection (or, after a documented close, a new one) still
 * answers a ping; a refused frame changes no row; the server stays up.
 */

const db = await freshDatabase("fuzz_ws")
let server: RunningServer
let snap: Awaited<ReturnType<typeof snapshotter>>

type User = Awaited<ReturnType<typeof registerUser>>
let owner: User
let member: User
let stranger: User
let room: string
let publicRoom: string
let dm: string
let message: string

/** Close codes SPEC §5 and docs/chat.md give a meaning to. */
const DOCUMENTED_CLOSES = new Set([1001, 1009, 4000, 4001, 4003, 4008, 4009, 4029])
/** Error codes that would mean the server failed rather than the frame. */
const SERVER_FAILURES = new Set(["INTERNAL_ERROR", "DATABASE_UNAVAILABLE"])

beforeAll(async () => {
  server = await startServer({
    DATABASE_URL: db,
    JWT_SECRET: TEST_JWT_SECRET,
    // The fuzzer sends hundreds of frames a second; the rate limits have their own tests.
    CHAT_RATE_PER_SEC: "100000",
    CHAT_RATE_BURST: "100000",
    CHAT_MAX_CONNS_PER_USER: "50"
  })
  ;[owner, member, stranger] = await Promise.all([registerUser(server.baseUrl), registerUser(server.baseUrl), registerUser(server.baseUrl)])
  room = (await createRoom(server.baseUrl, owner.access_token, { type: "private" })).id
  publicRoom = (await createRoom(server.baseUrl, owner.access_token)).id
  expect((await http(server.baseUrl, "POST", `/api/v1/chat/rooms/${room}/members`, { token: owner.access_token, body: { user_id: member.user.id } })).status).toBe(204)
  const c = await ChatClient.connect(server.baseUrl, owner.access_token)
  expect((await c.request({ type: "join", room_id: room })).type).toBe("joined")
  message = (await c.request({ type: "send", room_id: room, client_id: newClientId(), content: "first" })).message.id
  const opened = await c.request({ type: "dm_open", user_id: member.user.id })
  dm = opened.room?.id ?? opened.room_id ?? ""
  expect(dm).not.toBe("")
  await c.close()
  snap = await snapshotter(db)
}, 60_000)

afterAll(async () => {
  await snap?.close()
})

const expectAlive = async () => {
  expect(server.process.exitCode, "server exited").toBeNull()
  expect((await rawRequest(server.baseUrl, "GET", "/healthz", {}, undefined, 5_000)).status).toBe(200)
}

// ---------------------------------------------------------------- frames

const uuidField = (real: () => Array<string>) => fc.oneof({ weight: 3, arbitrary: fc.constant(null).map(() => real()).chain((ids) => fc.constantFrom(...ids)) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 2, arbitrary: hostileJson })
const roomId = uuidField(() => [room, publicRoom, dm].filter((s) => s !== ""))
const messageId = uuidField(() => [message])
const content = fc.oneof(
  fc.string({ minLength: 1, maxLength: 50 }),
  fc.constantFrom(...INJECTIONS, ...UNICODE_EDGES),
  fc.constantFrom(3999, 4000, 4001, 20_000).map((n) => "é".repeat(n)),
  hostileJson
)
const seq = fc.oneof(fc.nat({ max: 1000 }), hostileJson)

/** Field generators per client frame type (SPEC §5): right shapes, with hostile values mixed in. */
const FIELDS: Record<string, Record<string, fc.Arbitrary<unknown>>> = {
  authenticate: { token: fc.oneof(fc.string({ maxLength: 100 }), hostileJson) },
  join: { room_id: roomId, since_seq: seq },
  leave: { room_id: roomId },
  send: { room_id: roomId, client_id: fc.oneof(fc.uuid(), hostileJson), content, reply_to: fc.oneof(messageId, fc.constant(null)) },
  edit: { message_id: messageId, content },
  delete: { message_id: messageId },
  react: { message_id: messageId, emoji: fc.oneof(fc.constantFrom("👍", "🏳️‍🌈", "x", ""), hostileJson) },
  unreact: { message_id: messageId, emoji: fc.oneof(fc.constantFrom("👍", ""), hostileJson) },
  typing: { room_id: roomId, state: fc.oneof(fc.constantFrom("start", "stop"), hostileJson) },
  read: { room_id: roomId, message_id: messageId },
  history: { room_id: roomId, before_seq: seq, limit: fc.oneof(fc.integer({ min: -5, max: 150 }), hostileJson) },
  presence: { status: fc.oneof(fc.constantFrom("online", "away", "offline"), hostileJson) },
  dm_open: { user_id: uuidField(() => [member.user.id, stranger.user.id, owner.user.id]) },
  ping: { ts: fc.oneof(fc.double(), hostileJson) }
}

const frameObject = fc
  .oneof(
    { weight: 6, arbitrary: fc.constantFrom(...Object.keys(FIELDS)) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom("", "JOIN", "message", "ready", "error", ...PROTO_KEYS), hostileJson) }
  )
  .chain((type) =>
    fc
      .tuple(
        typeof type === "string" && FIELDS[type] !== undefined ? fc.record(FIELDS[type]!, { requiredKeys: [] }) : fc.dictionary(fc.string({ maxLength: 10 }), hostileJson, { maxKeys: 3 }),
        fc.array(fc.tuple(fc.constantFrom(...PROTO_KEYS, "type", "extra"), hostileJson), { maxLength: 2 })
      )
      .map(([fields, extras]) => {
        const frame: Record<string, unknown> = { type, ...fields }
        for (const [k, v] of extras) if (k !== "type") Object.defineProperty(frame, k, { value: v, enumerable: true, writable: true, configurable: true })
        return frame
      })
  )

interface FuzzFrame {
  /** What goes on the wire. */
  readonly data: string | Buffer
  readonly binary: boolean
  /** The ref it carries when we chose it, so its reply can be found. */
  readonly ref?: string
}

let refs = 0
const fuzzFrame = (f: FuzzFrame): FuzzFrame =>
  Object.assign(f, { [fc.toStringMethod]: () => `${f.binary ? "binary" : "text"}(${f.data.length}) ${String(f.data).slice(0, 400)}` })

const frameArb: fc.Arbitrary<FuzzFrame> = fc.oneof(
  { weight: 8, arbitrary: frameObject.map((o) => {
    const ref = `fz${++refs}`
    return fuzzFrame({ data: JSON.stringify({ ...o, ref }), binary: false, ref })
  }) },
  { weight: 1, arbitrary: frameObject.map((o) => fuzzFrame({ data: JSON.stringify(o), binary: false })) },
  { weight: 1, arbitrary: rawJsonBody({ type: "send", room_id: "x", content: "x" }).filter((t) => Buffer.byteLength(t) < 60_000).map((t) => fuzzFrame({ data: t, binary: false })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => fuzzFrame({ data: Buffer.from(a), binary: true })) },
  { weight: 1, arbitrary: fc.constantFrom("", "null", "[]", "42", '"ping"', '{"type":1}', "{", "\u0000").map((t) => fuzzFrame({ data: t, binary: false })) }
)

// ---------------------------------------------------------------- the property

describe("WebSocket frames", () => {
  let client: ChatClient
  let probes = 0

  const connect = async () => {
    client = await ChatClient.connect(server.baseUrl, await tokenFor(db, owner.user.id))
    expect((await client.request({ type: "join", room_id: room })).type).toBe("joined")
  }

  /** A ping with a fresh ref must come back: the connection still reads, and (frames being handled in order) whatever came before is answered. */
  const probe = async (c: ChatClient) => {
    const ref = `probe${++probes}`
    const pong = c.next((f) => f.ref === ref, 5_000)
    c.send({ type: "ping", ref })
    expect((await pong).type).toBe("pong")
  }

  const closedWith = async (c: ChatClient) => {
    const result = await Promise.race([c.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))])
    return result?.code
  }

  it("any frame gets its reply or an error frame, the connection keeps working, refusals change nothing", async () => {
    await connect()
    let baseline = await snap.take()
    const counts: Record<string, number> = {}
    await fc.assert(
      fc.asyncProperty(frameArb, async (f) => {
        client.ws.send(f.data, { binary: f.binary })
        const closed = await closedWith(client)
        if (closed !== undefined) {
          expect(DOCUMENTED_CLOSES.has(closed), `closed ${closed}`).toBe(true)
          counts[`close ${closed}`] = (counts[`close ${closed}`] ?? 0) + 1
          await connect()
          baseline = await snap.take()
          return
        }
        await probe(client)
        const replies = client.frames.splice(0)
        for (const r of replies) {
          expect(typeof r.type).toBe("string")
          if (r.type !== "error") continue
          expect(r.code).toMatch(/^[A-Z_]+$/)
          expect(typeof r.message).toBe("string")
          expect(SERVER_FAILURES.has(r.code), `${r.code}: ${r.message}`).toBe(false)
        }
        const reply: Frame | undefined = f.ref === undefined ? undefined : replies.find((r) => r.ref === f.ref)
        const kind = reply === undefined ? "no reply" : reply.type === "error" ? `error ${reply.code}` : reply.type
        counts[kind] = (counts[kind] ?? 0) + 1
        const after = await snap.take()
        // An error frame, or no reply to a frame that was no valid request, is a refusal: nothing may have changed.
        if (reply?.type === "error" || (f.ref === undefined && replies.every((r) => r.type === "error"))) expect(snap.diff(baseline, after)).toEqual([])
        baseline = after
      }),
      fcParams(200)
    )
    console.log(`ws frames: ${JSON.stringify(counts)}`)
    await client.close()
    await expectAlive()
  }, 120_000)

  it("a frame over 64 KiB closes 1009, and the server takes new connections", async () => {
    const c = await ChatClient.connect(server.baseUrl, owner.access_token)
    c.send({ type: "send", room_id: room, client_id: newClientId(), content: "x".repeat(70_000) })
    expect((await c.closed).code).toBe(1009)
    const again = await ChatClient.connect(server.baseUrl, owner.access_token)
    await probe(again)
    await again.close()
  })
})

describe("WebSocket authentication", () => {
  const credential = fc.oneof(
    fc.string({ maxLength: 100 }),
    fc.constantFrom(...INJECTIONS, ...UNICODE_EDGES, "Bearer", "null", "x".repeat(5000)),
    fc.constant(null).chain(() => fc.constantFrom("expired", "alg-none", "wrong-secret", "wrong-aud", "stale-version"))
  )
  const forge = async (kind: string) => {
    const sub = owner.user.id
    switch (kind) {
      case "expired":
        return signToken({ sub, exp: Math.floor(Date.now() / 1000) - 60 })
      case "alg-none":
        return unsignedToken({ sub })
      case "wrong-secret":
        return signToken({ sub }, "some-other-secret-some-other-secret-000")
      case "wrong-aud":
        return signToken({ sub, aud: "veza-app:other" })
      case "stale-version":
        return signToken({ sub, token_version: 99 })
      default:
        return kind
    }
  }

  it("hostile tokens at the upgrade (header, ?token=) or in an authenticate frame never get a session", async () => {
    const attempt = fc.record({ where: fc.constantFrom("header", "query", "frame"), token: credential })
    await fc.assert(
      fc.asyncProperty(attempt, async ({ where, token }) => {
        const value = await forge(token)
        const safeHeader = Buffer.from(value, "utf8").toString("latin1").replace(/[\x00-\x1f\x7f]/g, "")
        const c =
          where === "header"
            ? ChatClient.open(server.baseUrl, { headers: { authorization: `Bearer ${safeHeader}` } })
            : where === "query"
              ? ChatClient.open(server.baseUrl, { query: `token=${encodeURIComponent(value.replace(/[\uD800-\uDFFF]/g, "?"))}` })
              : ChatClient.open(server.baseUrl)
        if (where === "frame") c.ws.on("open", () => c.send({ type: "authenticate", token: value }))
        const ending = await Promise.race([c.closed, c.next((f) => f.type === "ready", 8_000).then((f) => ({ code: -1, reason: JSON.stringify(f) }))]).catch((e: Error) => ({ code: -2, reason: e.message }))
        // Refused at the upgrade (an HTTP 401, seen here as 1006) or closed 4001: never a session.
        expect([1006, 4001], `${where} ${value.slice(0, 80)}: ${ending.code} ${ending.reason}`).toContain(ending.code)
        c.ws.terminate()
      }),
      fcParams(30)
    )
    await expectAlive()
  }, 60_000)
})

describe("/rpc over WebSocket", () => {
  it("hostile NDJSON frames get protocol answers or a close, and the server stays up", async () => {
    const TAGS = ["users.get", "auth.login", "auth.me", "auth.register", "users.update"]
    const line = fc.oneof(
      fc.record({ _tag: fc.oneof(fc.constant<unknown>("Request"), hostileJson), id: fc.oneof(fc.constant<unknown>("1"), hostileJson), tag: fc.oneof(fc.constantFrom<unknown>(...TAGS), hostileJson), payload: hostileJson, headers: fc.oneof(fc.constant<unknown>([]), hostileJson) }).map((m) => JSON.stringify(m)),
      rawJsonBody({ _tag: "Request", id: "1", tag: "auth.me", payload: {}, headers: [] }).filter((t) => t.length < 100_000)
    )
    const ws = new WebSocket(`${server.baseUrl.replace(/^http/, "ws")}/rpc`)
    ws.on("error", () => {})
    await new Promise((r) => ws.once("open", r))
    let closed: number | undefined
    ws.on("close", (code) => (closed = code))
    const before = await snap.take()
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 3 }), async (lines) => {
        if (closed !== undefined) return
        ws.send(lines.join("\n") + "\n")
        await new Promise((r) => setTimeout(r, 20))
      }),
      fcParams(40)
    )
    ws.terminate()
    // Nothing valid was ever sent (no registration got through with hostile values): no row changed.
    expect(snap.diff(before, await snap.take())).toEqual([])
    await expectAlive()
  })
})
