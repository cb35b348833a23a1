import { Effect, Either } from "effect"
import * as WS from "ws"
import { beforeAll, describe, expect, it } from "vitest"
// The client as another TypeScript program imports it: from the package's built entry point.
import { makeHttpClient, makeRpcClient } from "veza/client"
import { tokenFromLog, uniqueName } from "./support/accounts.js"
import { freshDatabase, query } from "./support/database.js"
import { type RunningServer, startServer } from "./support/server.js"

let server: RunningServer
let db: string

beforeAll(async () => {
  db = await freshDatabase("rpc")
  server = await startServer({ DATABASE_URL: db })
})

describe("typed clients", () => {
  it("register, log in and read the profile over /rpc", async () => {
    const username = uniqueName()
    const program = Effect.gen(function* () {
      const anonymous = yield* makeRpcClient({ baseUrl: server.baseUrl })
      const session = yield* anonymous.auth.register({ email: `${username}@example.com`, username, password: "rpc password 1" })
      const again = yield* anonymous.auth.login({ email: `${username}@example.com`, password: "rpc password 1" })
      const wrong = yield* Effect.either(anonymous.auth.login({ email: `${username}@example.com`, password: "not it at all" }))
      const signedIn = yield* makeRpcClient({ baseUrl: server.baseUrl, accessToken: again.access_token })
      const me = yield* signedIn.auth.me()
      const updated = yield* signedIn.users.update({ id: me.id, profile: { tagline: "over rpc" } })
      const publicView = yield* anonymous.users.get({ id: me.id })
      const unauthenticated = yield* Effect.either(anonymous.auth.me())
      return { session, me, updated, publicView, wrong, unauthenticated }
    }).pipe(Effect.scoped)
    const r = await Effect.runPromise(program)
    expect(r.session.user.username).toBe(username)
    expect(r.me.id).toBe(r.session.user.id)
    expect(r.updated.tagline).toBe("over rpc")
    expect(r.publicView.tagline).toBe("over rpc")
    expect(Either.isLeft(r.wrong) && r.wrong.left._tag).toBe("Unauthorized")
    expect(Either.isLeft(r.unauthenticated) && r.unauthenticated.left._tag).toBe("Unauthorized")
  })

  it("the HttpApi client decodes successes and the SPEC error envelope into typed errors", async () => {
    const username = uniqueName()
    const program = Effect.gen(function* () {
      const client = yield* makeHttpClient({ baseUrl: server.baseUrl })
      const session = yield* client.auth.register({ payload: { email: `${username}@example.com`, username, password: "http password 1" } })
      const duplicate = yield* Effect.either(
        client.auth.register({ payload: { email: `${username}@example.com`, username: uniqueName(), password: "http password 1" } })
      )
      const user = yield* client.users.byId({ path: { id: session.user.id } })
      return { session, duplicate, user }
    })
    const r = await Effect.runPromise(program)
    expect(r.user.username).toBe(username)
    expect(Either.isLeft(r.duplicate) && r.duplicate.left).toMatchObject({ _tag: "Conflict", code: "EMAIL_TAKEN" })
  })
})

describe("mail flows over RPC", () => {
  it("verify the email and reset the password with the mailed links", async () => {
    const username = uniqueName()
    const email = `${username}@example.com`
    const program = Effect.gen(function* () {
      const rpc = yield* makeRpcClient({ baseUrl: server.baseUrl })
      yield* rpc.auth.register({ email, username, password: "first password" })
      yield* rpc.auth.verifyEmail({ token: tokenFromLog(server, email, "verify_email") })
      const replayed = yield* Effect.either(rpc.auth.verifyEmail({ token: tokenFromLog(server, email, "verify_email") }))
      yield* rpc.auth.requestPasswordReset({ email })
      yield* rpc.auth.resetPassword({ token: tokenFromLog(server, email, "password_reset"), password: "second password" })
      const session = yield* rpc.auth.login({ email, password: "second password" })
      return { replayed, session }
    }).pipe(Effect.scoped)
    const r = await Effect.runPromise(program)
    expect(Either.isLeft(r.replayed) && r.replayed.left).toMatchObject({ _tag: "BadRequest", code: "INVALID_TOKEN" })
    expect(r.session.user.email_verified).toBe(true)
  })
})

describe("RPC over HTTP", () => {
  it("records the real client address, whatever headers the RPC message carries", async () => {
    const email = `${uniqueName()}@example.com`
    const forged = ["x-veza-client-ip", "x-forwarded-for", "x-veza-client-ip-0000000000000000"].map((name) => [name, "6.6.6.6"])
    const message = { _tag: "Request", id: "1", tag: "auth.login", payload: { email, password: "wrong password" }, headers: forged }
    const res = await fetch(`${server.baseUrl}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/ndjson" },
      body: JSON.stringify(message) + "\n"
    })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain("INVALID_CREDENTIALS")
    const attempts = await query<{ ip: string }>(db, "select host(ip_address) as ip from login_attempts where identifier = $1", [email])
    expect(attempts).toEqual([{ ip: "127.0.0.1" }])
  })
})

describe("RPC over WebSocket", () => {
  it("serves the same procedures over one connection, with the token from the upgrade", async () => {
    const username = uniqueName()
    const email = `${username}@example.com`
    const program = Effect.gen(function* () {
      const anonymous = yield* makeRpcClient({ baseUrl: server.baseUrl, transport: "websocket" })
      const session = yield* anonymous.auth.register({ email, username, password: "socket password" })
      const available = yield* anonymous.auth.checkUsername({ username })
      const anonymousMe = yield* Effect.either(anonymous.auth.me())
      const signedIn = yield* makeRpcClient({ baseUrl: server.baseUrl, accessToken: session.access_token, transport: "websocket" })
      const results = yield* Effect.all(
        Array.from({ length: 20 }, () => signedIn.auth.me()),
        { concurrency: "unbounded" }
      )
      return { session, available, anonymousMe, results }
    }).pipe(Effect.scoped)
    const r = await Effect.runPromise(program)
    expect(r.available.available).toBe(false)
    expect(Either.isLeft(r.anonymousMe) && r.anonymousMe.left._tag).toBe("Unauthorized")
    expect(r.results.every((me) => me.id === r.session.user.id)).toBe(true)
  })

  it("records the real client address, whatever headers the messages carry", async () => {
    const email = `${uniqueName()}@example.com`
    const ws = new WS.WebSocket(`${server.baseUrl.replace("http", "ws")}/rpc`)
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject))
    const reply = new Promise<string>((resolve) => ws.once("message", (data) => resolve(String(data))))
    const headers = [["x-veza-client-ip", "6.6.6.6"], ["x-forwarded-for", "6.6.6.6"]]
    ws.send(JSON.stringify({ _tag: "Request", id: "1", tag: "auth.login", payload: { email, password: "wrong password" }, headers }) + "\n")
    expect(await reply).toContain("INVALID_CREDENTIALS")
    ws.close()
    const attempts = await query<{ ip: string }>(db, "select host(ip_address) as ip from login_attempts where identifier = $1", [email])
    expect(attempts).toEqual([{ ip: "127.0.0.1" }])
  })

  it("closes open connections with 1001 when the server shuts down", async () => {
    const own = await startServer({ DATABASE_URL: db })
    const ws = new WS.WebSocket(`${own.baseUrl.replace("http", "ws")}/rpc`)
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject))
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)))
    expect(await own.stop("SIGTERM")).toBe(0)
    expect(await closed).toBe(1001)
  })
})
