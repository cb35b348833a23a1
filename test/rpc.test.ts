import { Effect, Either } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
// The client as another TypeScript program imports it: from the package's built entry point.
import { makeHttpClient, makeRpcClient } from "veza/client"
import { uniqueName } from "./support/accounts.js"
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
