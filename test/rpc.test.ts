import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as esbuild from "esbuild"
import { Cause, Effect, Either, Exit } from "effect"
import * as WS from "ws"
import { beforeAll, describe, expect, it } from "vitest"
// The client as another TypeScript program imports it: from the package's built entry point.
import { makeHttpClient, makeRpcClient } from "veza/client"
import { registerUser, tokenFromLog, uniqueName } from "./support/accounts.js"
import { generateAudio } from "./support/audio.js"
import { freshDatabase, query } from "./support/database.js"
import { type RunningServer, startServer } from "./support/server.js"
import { uploadTrack, waitForTrack } from "./support/tracks.js"

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

  it("refuses an Eof message from the client as a protocol defect, not as a server shutting down", async () => {
    const request = { _tag: "Request", id: "1", tag: "auth.checkUsername", payload: { username: uniqueName() }, headers: [] }
    const res = await fetch(`${server.baseUrl}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/ndjson" },
      body: `${JSON.stringify(request)}\n${JSON.stringify({ _tag: "Eof" })}\n`
    })
    expect(res.status).toBe(200)
    const replies: unknown[] = (await res.text()).trim().split("\n").map((line) => JSON.parse(line))
    expect(replies).toEqual([expect.objectContaining({ _tag: "Defect", defect: expect.objectContaining({ message: "Eof is not a client message" }) })])
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

describe("every domain over RPC", () => {
  type Rpc = Effect.Effect.Success<ReturnType<typeof makeRpcClient>>
  type Account = Awaited<ReturnType<typeof registerUser>>
  // The accounts; inside the tests, `creator`, `listener` and `admin` are their RPC clients.
  const accounts = {} as { creator: Account; listener: Account; admin: Account }
  let trackId: string
  const title = `Rpcsong${uniqueName("").slice(1).replace(/[0-9]/g, "")}`
  const BAD_CURSOR = "not-a-cursor"

  /** Runs `f` with RPC clients for the anonymous caller and each account, over one transport. */
  const withClients = <A, E>(
    transport: "http" | "websocket",
    f: (c: { anonymous: Rpc; creator: Rpc; listener: Rpc; admin: Rpc }) => Effect.Effect<A, E>
  ) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const make = (accessToken?: string) =>
          makeRpcClient(accessToken === undefined ? { baseUrl: server.baseUrl, transport } : { baseUrl: server.baseUrl, transport, accessToken })
        return yield* f({
          anonymous: yield* make(),
          creator: yield* make(accounts.creator.access_token),
          listener: yield* make(accounts.listener.access_token),
          admin: yield* make(accounts.admin.access_token)
        })
      }).pipe(Effect.scoped)
    )

  const failure = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

  beforeAll(async () => {
    ;[accounts.creator, accounts.listener, accounts.admin] = await Promise.all([
      registerUser(server.baseUrl, { account_type: "producer" }),
      registerUser(server.baseUrl),
      registerUser(server.baseUrl)
    ])
    await query(db, "update users set role = 'admin' where id = $1", [accounts.admin.user.id])
    const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-rpc-"))
    const up = await uploadTrack(server.baseUrl, accounts.creator.access_token, { path: await generateAudio(work, { seconds: 1, format: "wav" }) }, { title })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    trackId = up.body.id
    await waitForTrack(server.baseUrl, accounts.creator.access_token, trackId)
  }, 90_000)

  it("tracks: the library, its comments, plays, stats and share links (HTTP transport)", async () => {
    const r = await withClients("http", ({ anonymous, creator, listener }) =>
      Effect.gen(function* () {
        const id = trackId as any
        const updated = yield* creator.tracks.update({ id, changes: { genre: "ambient", tags: ["rpc"] } })
        const listed = yield* anonymous.tracks.list({ user_id: updated.creator_id, tags: ["rpc"], limit: 5 })
        const liked = yield* listener.tracks.like({ id })
        const comment = yield* listener.tracks.addComment({ id, comment: { content: "lovely over rpc" } })
        const comments = yield* anonymous.tracks.comments({ id })
        const play = yield* listener.tracks.play({ id, play: { played_ms: 900 } })
        const stats = yield* creator.tracks.stats({ id })
        const link = yield* creator.tracks.share({ id })
        const shared = yield* anonymous.tracks.shared({ token: link.token })
        const history = yield* listener.tracks.history({})
        const notOwner = yield* failure(listener.tracks.update({ id, changes: { title: "mine now" } }))
        const anonymousLike = yield* failure(anonymous.tracks.like({ id }))
        const badCursor = yield* failure(anonymous.tracks.list({ cursor: BAD_CURSOR }))
        const badLimit = yield* Effect.exit(anonymous.tracks.list({ limit: 0 }))
        return { updated, listed, liked, comment, comments, play, stats, shared, history, notOwner, anonymousLike, badCursor, badLimit }
      })
    )
    expect(r.updated).toMatchObject({ id: trackId, genre: "ambient", tags: ["rpc"] })
    expect(r.listed.items.map((t) => t.id)).toEqual([trackId])
    expect(r.liked).toMatchObject({ liked: true, like_count: 1 })
    expect(r.comments.items.map((c) => c.id)).toContain(r.comment.id)
    expect(r.play.counted).toBe(true)
    expect(r.stats.like_count).toBe(1)
    expect(r.shared.track.id).toBe(trackId)
    expect(r.history.items.map((h) => h.track.id)).toContain(trackId)
    expect(r.notOwner._tag).toBe("Forbidden")
    expect(r.anonymousLike._tag).toBe("Unauthorized")
    expect(r.badCursor).toMatchObject({ _tag: "BadRequest", code: "INVALID_CURSOR" })
    // The typed client validates with the same schema before sending, and refuses as a defect.
    expect(Exit.isFailure(r.badLimit) && Cause.isDie(r.badLimit.cause) && Cause.pretty(r.badLimit.cause)).toContain("limit must be between 1 and 100")
  })

  it("playlists (WebSocket transport)", async () => {
    const r = await withClients("websocket", ({ anonymous, creator, listener }) =>
      Effect.gen(function* () {
        const playlist = yield* creator.playlists.create({ title: "Over RPC", visibility: "public" })
        const item = yield* creator.playlists.addTrack({ id: playlist.id, track: { track_id: trackId as any } })
        const tracks = yield* anonymous.playlists.tracks({ id: playlist.id })
        const mine = yield* anonymous.playlists.byOwner({ owner_id: accounts.creator.user.id as any })
        yield* listener.playlists.follow({ id: playlist.id })
        const followed = yield* listener.playlists.followed({})
        const notOwner = yield* failure(listener.playlists.update({ id: playlist.id, changes: { title: "taken" } }))
        const anonymousCreate = yield* failure(anonymous.playlists.create({ title: "nobody" }))
        const badCursor = yield* failure(anonymous.playlists.tracks({ id: playlist.id, cursor: BAD_CURSOR }))
        return { playlist, item, tracks, mine, followed, notOwner, anonymousCreate, badCursor }
      })
    )
    expect(r.item.track.id).toBe(trackId)
    expect(r.tracks.items.map((i) => i.track.id)).toEqual([trackId])
    expect(r.mine.items.map((p) => p.id)).toContain(r.playlist.id)
    expect(r.followed.items.map((p) => p.id)).toContain(r.playlist.id)
    expect(r.notOwner._tag).toBe("Forbidden")
    expect(r.anonymousCreate._tag).toBe("Unauthorized")
    expect(r.badCursor._tag).toBe("BadRequest")
  })

  it("social and search (WebSocket transport)", async () => {
    const r = await withClients("websocket", ({ anonymous, creator, listener }) =>
      Effect.gen(function* () {
        yield* listener.social.follow({ id: accounts.creator.user.id as any })
        const followers = yield* anonymous.social.followers({ id: accounts.creator.user.id as any })
        const relationship = yield* listener.social.relationship({ id: accounts.creator.user.id as any })
        const feed = yield* listener.social.feed({})
        const inbox = yield* creator.social.notifications({ unread: "true" })
        yield* creator.social.readAllNotifications()
        const selfFollow = yield* failure(listener.social.follow({ id: accounts.listener.user.id as any }))
        const anonymousFeed = yield* failure(anonymous.social.feed({}))
        const badCursor = yield* failure(listener.social.feed({ cursor: BAD_CURSOR }))
        const found = yield* anonymous.search.search({ q: title.slice(0, 6).toLowerCase() })
        const searchBadCursor = yield* failure(anonymous.search.search({ q: "rpc", cursor: BAD_CURSOR }))
        return { followers, relationship, feed, inbox, selfFollow, anonymousFeed, badCursor, found, searchBadCursor }
      })
    )
    expect(r.followers.items.map((u) => u.id)).toContain(accounts.listener.user.id)
    expect(r.relationship).toMatchObject({ following: true, blocking: false })
    expect(r.feed.items.map((t) => t.id)).toContain(trackId)
    expect(r.inbox.items.map((n) => n.type)).toContain("follow")
    expect(r.selfFollow._tag).toBe("Unprocessable")
    expect(r.anonymousFeed._tag).toBe("Unauthorized")
    expect(r.badCursor._tag).toBe("BadRequest")
    expect(r.found.items.map((t) => t.id)).toContain(trackId)
    expect(r.searchBadCursor).toMatchObject({ _tag: "BadRequest", code: "INVALID_CURSOR" })
  })

  it("marketplace: products, cart, idempotent checkout, orders and the download link", async () => {
    const r = await withClients("http", ({ anonymous, creator, listener }) =>
      Effect.gen(function* () {
        const licenses = [{ type: "basic" as const, price_cents: 1999, currency: "EUR" as const }]
        const product = yield* creator.market.createProduct({ title: "RPC beat", type: "beat", track_id: trackId as any, licenses })
        const notSeller = yield* failure(listener.market.createProduct({ title: "nope", type: "beat", licenses }))
        const seen = yield* anonymous.market.getProduct({ id: product.id })
        const choice = { product_id: product.id, license_id: product.licenses[0]!.id }
        const cart = yield* listener.market.addToCart(choice)
        const noKey = yield* failure(listener.market.checkout({ order: { items: [choice] } }))
        const key = uniqueName("key")
        const order = yield* listener.market.checkout({ idempotency_key: key, order: { items: [choice] } })
        const replay = yield* listener.market.checkout({ idempotency_key: key, order: { items: [choice] } })
        const orders = yield* listener.market.listOrders({})
        const download = yield* listener.market.download({ product_id: product.id })
        const anonymousCart = yield* failure(anonymous.market.cart())
        return { product, notSeller, seen, cart, noKey, order, replay, orders, download, anonymousCart }
      })
    )
    expect(r.seen.id).toBe(r.product.id)
    expect(r.cart.items).toHaveLength(1)
    expect(r.notSeller._tag).toBe("Forbidden")
    expect(r.noKey).toMatchObject({ _tag: "BadRequest", code: "IDEMPOTENCY_KEY_REQUIRED" })
    expect(r.replay.id).toBe(r.order.id)
    expect(r.orders.items.map((o) => o.id)).toEqual([r.order.id])
    expect(r.download.url).toContain(`/downloads/products/${r.product.id}/`)
    expect(r.anonymousCart._tag).toBe("Unauthorized")
  })

  it("chat REST and admin", async () => {
    const r = await withClients("websocket", ({ anonymous, creator, listener, admin }) =>
      Effect.gen(function* () {
        const room = yield* creator.chat.createRoom({ name: `rpc-${uniqueName()}` })
        yield* listener.chat.joinRoom({ id: room.id })
        const members = yield* creator.chat.members({ id: room.id })
        const history = yield* listener.chat.history({ id: room.id })
        const token = yield* listener.chat.token()
        const notOwner = yield* failure(listener.chat.kick({ id: room.id, user_id: accounts.creator.user.id as any }))
        const anonymousRooms = yield* failure(anonymous.chat.listRooms({}))
        const badCursor = yield* failure(listener.chat.listRooms({ cursor: BAD_CURSOR }))

        const report = yield* listener.admin.report({ target_type: "track", target_id: trackId, reason: "spam" })
        const notAdmin = yield* failure(listener.admin.reports({}))
        const queue = yield* admin.admin.reports({ status: "open" })
        const hidden = yield* admin.admin.hideTrack({ id: trackId, reason: "checked over rpc" })
        const logs = yield* admin.admin.auditLogs({ action: "admin.hide_track", target_id: trackId })
        const adminBadCursor = yield* failure(admin.admin.actions({ cursor: BAD_CURSOR }))
        return { members, history, token, notOwner, anonymousRooms, badCursor, report, notAdmin, queue, hidden, logs, adminBadCursor }
      })
    )
    expect(r.members.items.map((m) => m.user_id).sort()).toEqual([accounts.creator.user.id, accounts.listener.user.id].sort())
    expect(r.history.items).toEqual([])
    expect(r.token.expires_in).toBeGreaterThan(0)
    expect(r.notOwner._tag).toBe("Forbidden")
    expect(r.anonymousRooms._tag).toBe("Unauthorized")
    expect(r.badCursor._tag).toBe("BadRequest")
    expect(r.queue.items.map((x) => x.id)).toContain(r.report.id)
    expect(r.notAdmin._tag).toBe("Forbidden")
    expect(r.hidden).toMatchObject({ action: "hide_track", target_id: trackId })
    expect(r.logs.items.map((e) => e.actor_id)).toEqual([accounts.admin.user.id])
    expect(r.adminBadCursor._tag).toBe("BadRequest")
  })

  it("a payload that fails the schema on the server is refused as a defect naming the field, not a crash", async () => {
    const message = { _tag: "Request", id: "1", tag: "tracks.list", payload: { limit: "0" }, headers: [] }
    const res = await fetch(`${server.baseUrl}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/ndjson" },
      body: JSON.stringify(message) + "\n"
    })
    expect(res.status).toBe(200)
    const reply = JSON.parse((await res.text()).trim().split("\n")[0]!)
    expect(reply).toMatchObject({ _tag: "Exit", exit: { _tag: "Failure" } })
    expect(JSON.stringify(reply)).toContain("limit must be between 1 and 100")
  })
})

describe("the RPC definitions", () => {
  it("bundle for a browser: no Node built-in and no server module is reachable from src/rpc.ts", async () => {
    const result = await esbuild.build({ entryPoints: ["src/rpc.ts"], bundle: true, platform: "browser", format: "esm", write: false, metafile: true, logLevel: "silent" })
    const sources = Object.keys(result.metafile.inputs).filter((path) => path.startsWith("src/"))
    expect(sources).toContain("src/market/rpc.ts")
    expect(sources.filter((path) => /\/(handlers|service|repo|main|authentication|gateway)\.ts$/.test(path))).toEqual([])
  })
})
