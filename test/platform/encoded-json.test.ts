/**
 * The hot reads that skip their success schema's encode (`encodedJson`:
 * search; track get and lists and a playlist's entries, written as JSON by PostgreSQL) must
 * still write exactly the bytes the schema would. Checked on real rows over HTTP: each body is decoded with the
 * endpoint's schema (an unknown field is an error), encoded back and
 * stringified, and must come out byte for byte as it was sent. A field out
 * of the schema's order, a field the schema does not have, a value in a form
 * other than its encoding (a date not in `toISOString` form) all fail.
 */
import { Effect, Schema } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { DEMO_LOGINS, DEMO_PASSWORD, demoTrackId, demoUserId, migrateDatabase, scaled, seedDemo } from "../../scripts/seed-demo.js"
import { makeRpcClient } from "veza/client"
import { PlaylistId, type PlaylistItem, PlaylistItemPage } from "../../src/playlists/schema.js"
import { SearchResults } from "../../src/search/schema.js"
import { TrackListParams } from "../../src/tracks/api.js"
import { Track, TrackPage } from "../../src/tracks/schema.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer } from "../support/server.js"

let url: string
let server: RunningServer
const tokens: Record<"artist" | "listener" | "admin", string> = { artist: "", listener: "", admin: "" }
const artist = demoUserId(1)

beforeAll(async () => {
  url = await freshDatabase("encoded_json")
  await migrateDatabase(url)
  await seedDemo(url, scaled(0.002))
  // What the seed does not have: the fields a page must carry in every form they take.
  const own = (await query<{ id: string }>(url, "select id from tracks where creator_id = $1 and deleted_at is null order by created_at desc limit 4", [artist])).map((r) => r.id)
  expect(own.length).toBe(4)
  await query(url, `update tracks set waveform = '[0, 0.25, 1, 0.123456789]'::jsonb, title = $2, description = $3 where id = $1`, [
    own[0],
    'Café "Noir" \\ </script> \u2028 ☕',
    "tabs\tand\nnewlines, 🎧"
  ])
  await query(url, "update tracks set hidden_at = now() where id = $1", [own[1]])
  await query(url, "update tracks set status = 'processing', published_at = null, hls_prefix = null, hls_backend = null, renditions = '[]' where id = $1", [own[2]])
  await query(url, "delete from hls_renditions where track_id = $1", [own[2]])
  await query(
    url,
    `insert into transcode_jobs (track_id, status, attempts, max_attempts, progress, last_error, created_at, updated_at)
     values ($1, 'failed', 3, 3, 40, 'ffmpeg exited with "1"', now(), now())`,
    [own[3]]
  )
  await query(url, "insert into track_likes (user_id, track_id) values ($1, $2) on conflict do nothing", [demoUserId(2), own[0]])
  server = await startServer({ DATABASE_URL: url })
  for (const [who, login] of [["artist", DEMO_LOGINS[0]], ["listener", DEMO_LOGINS[1]], ["admin", DEMO_LOGINS[2]]] as const) {
    const res = await http<{ access_token: string }>(server.baseUrl, "POST", "/api/v1/auth/login", { body: { email: login.email, password: DEMO_PASSWORD } })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    tokens[who] = res.body.access_token
  }
}, 120_000)

/** The body as sent, after checking it is what `schema` would have written; its decoded value. */
const schemaBytes = async <A, I>(schema: Schema.Schema<A, I>, path: string, who?: keyof typeof tokens) => {
  const res = await fetch(`${server.baseUrl}${path}`, { headers: who === undefined ? {} : { authorization: `Bearer ${tokens[who]}` } })
  const text = await res.text()
  expect(res.status, text).toBe(200)
  expect(res.headers.get("content-type")).toBe("application/json")
  const value = Schema.decodeUnknownSync(schema)(JSON.parse(text), { onExcessProperty: "error" })
  expect(JSON.stringify(Schema.encodeSync(schema)(value))).toBe(text)
  return value
}

/**
 * Every page of a track list, each checked, and each the same bytes as the
 * page RPC answers: HTTP writes pages from the JSON PostgreSQL builds
 * (`selectTrackJson`), RPC from rows made into values (`selectTracks` →
 * `toTrack`) and encoded with the schema, so this is the check that the two
 * say the same thing about every field of every row.
 */
const trackPages = async (params: Record<string, string>, who?: keyof typeof tokens) => {
  const rpc = (cursor: string | null) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const client = yield* makeRpcClient({ baseUrl: server.baseUrl, ...(who === undefined ? {} : { accessToken: tokens[who] }) })
        return yield* client.tracks.list(Schema.decodeUnknownSync(TrackListParams)({ ...params, ...(cursor === null ? {} : { cursor }) }))
      }).pipe(Effect.scoped)
    )
  const items: Array<Track> = []
  let cursor: string | null = null
  do {
    const query = new URLSearchParams({ ...params, ...(cursor === null ? {} : { cursor }) })
    const res = await fetch(`${server.baseUrl}/api/v1/tracks?${query}`, { headers: who === undefined ? {} : { authorization: `Bearer ${tokens[who]}` } })
    const text = await res.text()
    expect(res.status, text).toBe(200)
    const page = Schema.decodeUnknownSync(TrackPage)(JSON.parse(text), { onExcessProperty: "error" })
    expect(JSON.stringify(Schema.encodeSync(TrackPage)(page))).toBe(text)
    expect(JSON.stringify(Schema.encodeSync(TrackPage)(await rpc(cursor)))).toBe(text)
    items.push(...page.items)
    cursor = page.next_cursor
  } while (cursor !== null)
  return items
}

/** Every page of a list, each checked. */
const pages = async <A extends { items: ReadonlyArray<unknown>; next_cursor: string | null }, I>(schema: Schema.Schema<A, I>, path: string, who?: keyof typeof tokens) => {
  const items: Array<A["items"][number]> = []
  let cursor: string | null = null
  do {
    const page: A = await schemaBytes(schema, cursor === null ? path : `${path}&cursor=${encodeURIComponent(cursor)}`, who)
    items.push(...page.items)
    cursor = page.next_cursor
  } while (cursor !== null)
  return items
}

describe("hot reads written without the schema encode", () => {
  it("track lists are byte for byte the TrackPage encoding, for every kind of viewer and row", async () => {
    const anonymous = await trackPages({ limit: "100" })
    const listener = await trackPages({ limit: "100" }, "listener")
    const admin = await trackPages({ limit: "100" }, "admin")
    const own = await trackPages({ user_id: artist, limit: "7" }, "artist")
    await trackPages({ genre: "house", tags: "piano,dark", limit: "5" })

    expect(anonymous.length).toBeGreaterThan(100)
    expect(anonymous.every((t) => t.transcode === undefined && t.hidden_at === undefined && !t.liked_by_me)).toBe(true)
    expect(listener.some((t) => t.liked_by_me)).toBe(true)
    expect(admin.length).toBeGreaterThan(anonymous.length)
    // The forms a field takes that a public list does not show: the owner's and admins' view.
    for (const view of [own, admin]) {
      expect(view.some((t) => t.hidden_at instanceof Date)).toBe(true)
      expect(view.some((t) => t.transcode?.last_error !== null && t.transcode?.status === "failed")).toBe(true)
      expect(view.some((t) => t.published_at === null && t.hls_url === null && t.renditions.length === 0)).toBe(true)
      expect(view.some((t) => t.waveform !== null && t.description?.includes("\n"))).toBe(true)
      expect(view.some((t) => t.visibility === "private")).toBe(true)
    }
  })

  it("track lists show a track's edits, likes, comments, plays and publication at once", async () => {
    // Lists read each track's JSON partly from the row (migration 0015): a part left stale by a write differs from RPC's page.
    const [track] = (await trackPages({ user_id: artist, limit: "100" }, "listener")).filter((t) => t.status === "ready" && !t.liked_by_me)
    const id = track!.id
    const edit = { title: "Édité \"encore\"", description: null, artist: "Other Artist", album: "B-Sides", genre: "Ambient", tags: ["edited", "tag two"], is_downloadable: !track!.is_downloadable }
    // One field per write: each of them alone must bring the JSON up to date.
    for (const [field, value] of Object.entries(edit)) {
      expect((await http(server.baseUrl, "PATCH", `/api/v1/tracks/${id}`, { token: tokens.artist, body: { [field]: value } })).status).toBe(200)
    }
    expect((await http(server.baseUrl, "POST", `/api/v1/tracks/${id}/like`, { token: tokens.listener })).status).toBe(200)
    expect((await http(server.baseUrl, "POST", `/api/v1/tracks/${id}/comments`, { token: tokens.listener, body: { content: "nice" } })).status).toBe(201)
    expect((await http(server.baseUrl, "POST", `/api/v1/tracks/${id}/plays`, { token: tokens.listener, body: {} })).status).toBeLessThan(300)
    // What a new transcode's publication writes (src/transcoding/queue.ts), and a moderator's hide.
    for (const set of [
      "waveform = '[1, 0.5]'::jsonb",
      `renditions = '[{"bitrate_kbps":96,"bandwidth":105600,"average_bandwidth":96000,"codecs":"mp4a.40.2"}]'`,
      "published_at = '2026-01-02T03:04:05.678Z'"
    ]) {
      await query(url, `update tracks set ${set} where id = $1`, [id])
    }
    const find = async (who?: keyof typeof tokens) => (await trackPages({ user_id: artist, limit: "100" }, who)).find((t) => t.id === id)!
    for (const who of [undefined, "listener", "artist"] as const) {
      const t = await find(who)
      expect({ title: t.title, description: t.description, artist: t.artist, album: t.album, genre: t.genre, tags: t.tags, is_downloadable: t.is_downloadable }).toEqual(edit)
      expect([t.like_count, t.comment_count, t.play_count]).toEqual([track!.like_count + 1, track!.comment_count + 1, track!.play_count + 1])
      if (who !== "artist") expect(t.liked_by_me).toBe(who === "listener")
      expect([t.waveform, t.renditions.length, t.published_at?.toISOString()]).toEqual([[1, 0.5], 1, "2026-01-02T03:04:05.678Z"])
      expect(t.updated_at.getTime()).toBeGreaterThan(track!.updated_at.getTime())
    }
    // Search hits keep their parts in the row as well (migration 0018).
    const hits = await pages(SearchResults, `/api/v1/search?type=tracks&q=${encodeURIComponent("édité encore other")}`, "listener")
    expect(hits.map((h) => h.id)).toEqual([id])
    expect(hits[0]).toMatchObject({ title: edit.title, artist: edit.artist, genre: edit.genre, tags: edit.tags })
    await query(url, "update tracks set hidden_at = now() where id = $1", [id])
    expect((await find("artist")).hidden_at).toBeInstanceOf(Date)
  })

  it("a track is byte for byte the Track encoding", async () => {
    const own = (await trackPages({ user_id: artist, limit: "100" }, "artist")).slice(0, 6)
    for (const t of own) {
      await schemaBytes(Track, `/api/v1/tracks/${t.id}`, "artist")
      await schemaBytes(Track, `/api/v1/tracks/${t.id}`, "admin")
    }
    const seen = await schemaBytes(Track, `/api/v1/tracks/${demoTrackId(2)}`)
    expect(seen.transcode).toBeUndefined()
  })

  it("a playlist's entries are byte for byte the PlaylistItemPage encoding, and the pages RPC answers", async () => {
    const [playlist] = await query<{ id: string }>(
      url,
      `select pt.playlist_id as id from playlist_tracks pt join playlists p on p.id = pt.playlist_id
        where p.visibility = 'public' group by pt.playlist_id order by count(*) desc, pt.playlist_id limit 1`
    )
    const id = playlist!.id
    // The forms the seed does not give: an entry whose adder is gone, a track without artist or genre, a title to escape,
    // and a track concealed from all but its owner and admins (the others' positions close up).
    const trackAt = (position: number) => `(select track_id from playlist_tracks where playlist_id = '${id}' and position = ${position})`
    await query(url, "update playlist_tracks set added_by = null where playlist_id = $1 and position = 1", [id])
    await query(url, `update tracks set artist = null, genre = null where id = ${trackAt(2)}`)
    await query(url, `update tracks set title = $1 where id = ${trackAt(3)}`, ['Café "Noir" \\ </script> \u2028 ☕\ttab'])
    await query(url, `update tracks set visibility = 'private' where id = ${trackAt(4)}`)
    const rpcPage = (cursor: string | null, who?: keyof typeof tokens) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const client = yield* makeRpcClient({ baseUrl: server.baseUrl, ...(who === undefined ? {} : { accessToken: tokens[who] }) })
          return yield* client.playlists.tracks({ id: PlaylistId.make(id), limit: 3, ...(cursor === null ? {} : { cursor }) })
        }).pipe(Effect.scoped)
      )
    for (const who of [undefined, "listener", "admin"] as const) {
      const items: Array<PlaylistItem> = []
      let cursor: string | null = null
      do {
        const page: typeof PlaylistItemPage.Type = await schemaBytes(PlaylistItemPage, `/api/v1/playlists/${id}/tracks?limit=3${cursor === null ? "" : `&cursor=${cursor}`}`, who)
        expect(JSON.stringify(Schema.encodeSync(PlaylistItemPage)(await rpcPage(cursor, who)))).toBe(JSON.stringify(Schema.encodeSync(PlaylistItemPage)(page)))
        items.push(...page.items)
        cursor = page.next_cursor
      } while (cursor !== null)
      expect(items.length).toBeGreaterThan(3)
      expect(items.map((i) => i.position)).toEqual(items.map((_, k) => k + 1))
      expect(items.some((i) => i.added_by === null)).toBe(true)
      expect(items.some((i) => i.track.artist === null && i.track.genre === null)).toBe(true)
      expect(items.some((i) => i.track.title.includes("\u2028"))).toBe(true)
      const privateOnes = items.filter((i) => i.track.visibility === "private")
      if (who === "admin") expect(privateOnes.length).toBeGreaterThan(0)
      // Others see only their own.
      else expect(privateOnes.filter((i) => i.track.creator_id !== (who === "listener" ? demoUserId(2) : null))).toEqual([])
    }
  })

  it("search results are byte for byte the SearchResults encoding, for each kind of hit", async () => {
    const firstWord = async (sql: string) => (await query<{ w: string }>(url, sql))[0]!.w
    const track = await firstWord("select split_part(lower(title), ' ', 1) as w from tracks where visibility = 'public' limit 1")
    const playlist = await firstWord("select split_part(lower(title), ' ', 1) as w from playlists where visibility = 'public' limit 1")
    const person = await firstWord("select split_part(lower(display_name), ' ', 1) as w from users where display_name is not null limit 1")
    const searches = [["tracks", track], ["tracks", track.slice(0, 3)], ["users", "demo"], ["users", person.slice(0, 3)], ["playlists", playlist.slice(0, 3)]] as const
    for (const [type, q] of searches) {
      for (const who of [undefined, "admin"] as const) {
        const hits = await pages(SearchResults, `/api/v1/search?type=${type}&q=${encodeURIComponent(q)}&limit=50`, who)
        expect(hits.length, `${type} ${q}`).toBeGreaterThan(0)
        expect(hits.every((h) => h.type === type.slice(0, -1))).toBe(true)
      }
    }
    // Track hits over HTTP are PostgreSQL's JSON; over RPC, values encoded by the schema: the same bytes, page by page.
    for (const q of [track, track.slice(0, 3), `${track.slice(0, 3)} ${track.slice(0, 1)}`]) {
      for (const who of [undefined, "artist", "admin"] as const) {
        let cursor: string | null = null
        // The first three pages: cursors and merged branches included, without walking a broad prefix to its end.
        for (let page = 0; page < 3 && (page === 0 || cursor !== null); page++) {
          const params: { q: string; limit: number; cursor?: string } = { q, limit: 20, ...(cursor === null ? {} : { cursor }) }
          const res = await fetch(`${server.baseUrl}/api/v1/search?${new URLSearchParams({ ...params, limit: "20" })}`, {
            headers: who === undefined ? {} : { authorization: `Bearer ${tokens[who]}` }
          })
          const text = await res.text()
          const rpc: typeof SearchResults.Type = await Effect.runPromise(
            Effect.gen(function* () {
              const client = yield* makeRpcClient({ baseUrl: server.baseUrl, ...(who === undefined ? {} : { accessToken: tokens[who] }) })
              return yield* client.search.search(params)
            }).pipe(Effect.scoped)
          )
          expect(JSON.stringify(Schema.encodeSync(SearchResults)(rpc)), `${who} ${q}`).toBe(text)
          cursor = rpc.next_cursor
        }
      }
    }
    await schemaBytes(SearchResults, "/api/v1/search?type=tracks&q=%20%2B%2B%20")
  })
})
