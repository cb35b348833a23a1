import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { MAX_PREFIX_WORDS } from "../../src/search/repo.js"
import { COMMON_WORD_TRACKS } from "../../src/search/service.js"
import pg from "pg"
import { freshDatabase, query } from "../support/database.js"
import { capturingSql, planOf, readCaptured } from "../support/query-plans.js"
import { http, type JsonResponse, type RunningServer, startServer, tempDataDir } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

const db = await freshDatabase("search")
let server: RunningServer
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-search-"))

type User = Awaited<ReturnType<typeof registerUser>>
let owner: User
let other: User
let adminUser: User
let song: string
/** Each track's id by a name the tests use. */
const tracks: Record<string, string> = {}

const search = (params: Record<string, string>, who?: User) =>
  http(server.baseUrl, "GET", `/api/v1/search?${new URLSearchParams(params)}`, who === undefined ? {} : { token: who.access_token })

const ids = (res: JsonResponse) => {
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body.items.map((i: any) => i.id)
}

const expectError = (res: JsonResponse, status: number, code?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(Object.keys(res.body)).toEqual(["error"])
  expect(res.body.error).toMatchObject({ code: code ?? expect.any(String), message: expect.any(String) })
}

/** Every page of a search, following its cursors: the hits' ids and ranks in order. */
const allPages = async (get: typeof search, q: string, limit: string, who?: User) => {
  const seen: Array<string> = []
  const ranks: Array<number> = []
  let cursor: string | null = null
  do {
    const res: JsonResponse = await get({ q, limit, ...(cursor === null ? {} : { cursor }) }, who)
    seen.push(...ids(res))
    ranks.push(...res.body.items.map((i: any) => i.rank))
    cursor = res.body.next_cursor
  } while (cursor !== null)
  return { seen, ranks }
}

/** Uploads a track as `who` and sets its searchable metadata directly (metadata editing is another issue's API). */
const addTrack = async (name: string, who: User, fields: { title: string; artist?: string; tags?: Array<string>; description?: string; visibility?: string }) => {
  const res = await uploadTrack(server.baseUrl, who.access_token, { path: song }, { title: fields.title, visibility: fields.visibility ?? "public" })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  await query(db, "update tracks set artist = $2, tags = $3, description = $4 where id = $1", [res.body.id, fields.artist ?? null, fields.tags ?? [], fields.description ?? null])
  tracks[name] = res.body.id
}

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir() })
  song = await generateAudio(work, { seconds: 1, format: "mp3" })
  owner = await registerUser(server.baseUrl, { account_type: "artist" })
  other = await registerUser(server.baseUrl)
  adminUser = await registerUser(server.baseUrl)
  await query(db, "update users set role = 'admin' where id = $1", [adminUser.user.id])
  await addTrack("inTitle", owner, { title: "Nebula Drift" })
  await addTrack("inArtist", owner, { title: "Untitled one", artist: "Nebula Crew" })
  await addTrack("inTags", owner, { title: "Untitled two", tags: ["nebula", "ambient"] })
  await addTrack("inDescription", owner, { title: "Untitled three", description: "recorded under a nebula sky" })
  await addTrack("lofi", owner, { title: "Lo-Fi Morning Café", tags: ["chill_hop"] })
  await addTrack("private", owner, { title: "Nebula Secret", visibility: "private" })
  await addTrack("unlisted", owner, { title: "Nebula Hidden", visibility: "unlisted" })
  await addTrack("deleted", owner, { title: "Nebula Gone" })
  for (const id of Object.values(tracks)) await waitForTrack(server.baseUrl, owner.access_token, id)
  await query(db, "update tracks set deleted_at = now() where id = $1", [tracks["deleted"]])
}, 180_000)

describe("track search", () => {
  it("ranks title over artist over tags over description, and matches prefixes", async () => {
    const expected = [tracks["inTitle"], tracks["inArtist"], tracks["inTags"], tracks["inDescription"]]
    expect(ids(await search({ q: "nebula" }))).toEqual(expected)
    expect(ids(await search({ q: "neb", type: "tracks" }))).toEqual(expected)
    expect(ids(await search({ q: "NEBU" }))).toEqual(expected)
    const hit = (await search({ q: "nebula drift" })).body.items
    expect(hit).toEqual([
      expect.objectContaining({ type: "track", id: tracks["inTitle"], title: "Nebula Drift", creator_id: owner.user.id, creator_username: owner.user.username, rank: expect.any(Number) })
    ])
  })

  it("every word must match; punctuation splits words on both sides", async () => {
    expect(ids(await search({ q: "lo fi" }))).toEqual([tracks["lofi"]])
    expect(ids(await search({ q: "lo-fi caf" }))).toEqual([tracks["lofi"]])
    expect(ids(await search({ q: "chill_hop" }))).toEqual([tracks["lofi"]])
    expect(ids(await search({ q: "hop" }))).toEqual([tracks["lofi"]])
    expect(ids(await search({ q: "café" }))).toEqual([tracks["lofi"]])
    expect(ids(await search({ q: "nebula morning" }))).toEqual([])
  })

  it("every word is a prefix, whichever its place", async () => {
    expect(ids(await search({ q: "neb dri" }))).toEqual([tracks["inTitle"]])
    expect(ids(await search({ q: "drift neb" }))).toEqual([tracks["inTitle"]])
    expect(ids(await search({ q: "nebu crew" }))).toEqual([tracks["inArtist"]])
  })

  it("several words: a prefix stands for the words it begins, whatever characters they hold, and for more than MAX_PREFIX_WORDS stays a prefix", async () => {
    const creator = await registerUser(server.baseUrl, { account_type: "artist" })
    const many = Array.from({ length: MAX_PREFIX_WORDS + 6 }, (_, i) => `zorq${String.fromCharCode(97 + Math.floor(i / 26))}${String.fromCharCode(97 + (i % 26))}`)
    // The last of the words in byte order is the only one of a second track: a prefix cut to its first words would miss it.
    const [kestrel, harbor, mist] = await query(
      db,
      `insert into tracks (creator_id, title, description, visibility, status, original_filename, format_name, file_size,
                           storage_backend, storage_key, duration_ms, codec, hls_backend, hls_prefix)
       select $1, d.title, d.description, 'public', 'ready', 'w.mp3', 'mp3', 1, 'local', 'tracks/words/' || d.n, 1000, 'mp3', 'local', 'hls/words/' || d.n || '/'
         from (values (1, 'Kestrel Lantern', 'notes at kestrel.example.com'), (2, 'Harbor Lights', $2), (3, 'Harbor Mist', $3)) d(n, title, description)
       returning id`,
      [creator.user.id, many.slice(0, -1).join(" "), many.at(-1)]
    )
    expect(await query(db, "select 1 from track_search_lexemes where lexeme like 'zorq%'")).toHaveLength(many.length)
    // Punctuation never reaches a track's words today, but the words are kept for good: one written otherwise is quoted.
    await query(db, String.raw`insert into track_search_lexemes values ('kes''tr\el'), ('kes&|!:*()')`)
    expect(ids(await search({ q: "kes lant" }))).toEqual([kestrel!["id"]])
    expect(ids(await search({ q: "lantern kestrel example" }))).toEqual([kestrel!["id"]])
    expect(new Set(ids(await search({ q: "zorq harb" })))).toEqual(new Set([harbor!["id"], mist!["id"]]))
    expect(ids(await search({ q: "harbor zorqcd" }))).toEqual([harbor!["id"]])
    expect(ids(await search({ q: "harbor zorqcr" }))).toEqual([mist!["id"]])
    expect(ids(await search({ q: "harbor zorqzz" }))).toEqual([])
    expect(ids(await search({ q: "harbor kes" }))).toEqual([])
  })

  it("words of one or two characters match whole words only; longer ones match as prefixes", async () => {
    // "Lo-Fi Morning Café": lo and fi are words of it, mo and ca only beginnings.
    expect(ids(await search({ q: "lo" }))).toEqual([tracks["lofi"]])
    expect(ids(await search({ q: "mo" }))).toEqual([])
    expect(ids(await search({ q: "fi mo" }))).toEqual([])
    expect(ids(await search({ q: "fi mor" }))).toEqual([tracks["lofi"]])
    expect(ids(await search({ q: "ne" }))).toEqual([])
    expect(ids(await search({ q: "ca", type: "tracks" }))).toEqual([])
    expect(ids(await search({ q: "caf" }))).toEqual([tracks["lofi"]])
  })

  it("private and unlisted tracks are found only by their owner and admins; deleted ones by nobody", async () => {
    const visibleToAll = [tracks["inTitle"], tracks["inArtist"], tracks["inTags"], tracks["inDescription"]]
    expect(ids(await search({ q: "nebula" }, other)).sort()).toEqual([...visibleToAll].sort())
    const mine = ids(await search({ q: "nebula" }, owner))
    expect(mine).toContain(tracks["private"])
    expect(mine).toContain(tracks["unlisted"])
    expect(mine).not.toContain(tracks["deleted"])
    const admins = ids(await search({ q: "nebula" }, adminUser))
    expect(admins.sort()).toEqual([...mine].sort())
    expect(ids(await search({ q: "secret" }))).toEqual([])
    expect(ids(await search({ q: "gone" }, owner))).toEqual([])
  })

  it("the tracks of a deleted account are found by nobody", async () => {
    const leaving = await registerUser(server.baseUrl, { account_type: "artist" })
    await addTrack("leaving", leaving, { title: "Quasar Echo" })
    await waitForTrack(server.baseUrl, leaving.access_token, tracks["leaving"]!)
    expect(ids(await search({ q: "quas" }))).toEqual([tracks["leaving"]])
    await query(db, "update users set deleted_at = now() where id = $1", [leaving.user.id])
    expect(ids(await search({ q: "quas" }))).toEqual([])
    expect(ids(await search({ q: "quasar" }, adminUser))).toEqual([])
  })

  it("pages with a cursor, without gaps or repeats", async () => {
    const all = ids(await search({ q: "untitled", limit: "50" }))
    expect(all).toHaveLength(3)
    const seen: Array<string> = []
    let cursor: string | null = null
    do {
      const res: JsonResponse = await search({ q: "untitled", limit: "1", ...(cursor === null ? {} : { cursor }) })
      seen.push(...ids(res))
      cursor = res.body.next_cursor
    } while (cursor !== null)
    expect(seen).toEqual(all)
  })

  it("uses the GIN indexes", async () => {
    // Enough rows that scanning them all would cost more than the index, as in production.
    await query(
      db,
      `insert into tracks (creator_id, title, original_filename, format_name, file_size, storage_backend, storage_key, duration_ms, codec)
       select $1, 'filler ' || i, 'f.mp3', 'mp3', 1, 'local', 'tracks/filler/' || i, 1000, 'mp3' from generate_series(1, 5000) i`,
      [owner.user.id]
    )
    await query(db, `insert into users (email, username) select 'filler' || i || '@example.com', 'filler_' || i from generate_series(1, 5000) i`)
    await query(db, "analyze tracks")
    await query(db, "analyze users")
    const plan = async (text: string) => (await query(db, `explain ${text}`)).map((r) => r["QUERY PLAN"]).join("\n")
    expect(await plan(`select id from tracks where search_vector @@ to_tsquery('simple', '''neb'':*') and deleted_at is null`)).toContain("idx_tracks_search_vector_gin")
    expect(await plan(`select id from users where search_vector @@ to_tsquery('simple', '''zo'':*') and deleted_at is null`)).toContain("idx_users_search_vector_gin")
    expect(ids(await search({ q: "nebula" }))).toHaveLength(4)
  })
})

/** The keys migration 0014's triggers keep, recomputed from the tracks: empty when they are in step. */
const keysOutOfStep = async () =>
  query(
    db,
    `with expected as (
       select k.key, k.rank, t.id as track_id
         from tracks t join users u on u.id = t.creator_id, track_search_keys_of(t.search_vector) k
        where t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null and t.deleted_at is null and u.deleted_at is null)
     (select 'missing' as what, * from expected except all select 'missing', * from track_search_keys)
     union all
     (select 'stale', * from track_search_keys except all select 'stale', * from expected)`
  )

describe("track search keys (migration 0014)", () => {
  it("follow edits, visibility, moderation, deletion and the creator's account", async () => {
    const creator = await registerUser(server.baseUrl, { account_type: "artist" })
    await addTrack("kept", creator, { title: "Zephyrine Lullaby", description: "glimmer" })
    const id = tracks["kept"]!
    await waitForTrack(server.baseUrl, creator.access_token, id)
    const found = async (q: string, who?: User) => ids(await search({ q }, who)).includes(id)
    const patch = async (body: Record<string, unknown>) => {
      const res = await http(server.baseUrl, "PATCH", `/api/v1/tracks/${id}`, { token: creator.access_token, body })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
    }
    expect(await found("zephyr")).toBe(true)
    expect(await found("glim")).toBe(true)

    await patch({ title: "Quillwort Lullaby", description: null })
    expect(await found("quillw")).toBe(true)
    // Several words are matched by the words tracks hold: the edit's new ones included, its old ones no longer.
    expect(await found("lull quillw")).toBe(true)
    expect(await found("lull zephyr")).toBe(false)
    expect(await found("zephyr")).toBe(false)
    expect(await found("glim")).toBe(false)

    await patch({ visibility: "private" })
    expect(await found("quillw")).toBe(false)
    expect(await found("quillw", other)).toBe(false)
    expect(await found("quillw", creator)).toBe(true)
    expect(await found("quillw", adminUser)).toBe(true)
    await patch({ visibility: "public" })
    expect(await found("quillw")).toBe(true)

    await query(db, "update tracks set hidden_at = now() where id = $1", [id])
    expect(await found("quillw")).toBe(false)
    expect(await found("quillw", adminUser)).toBe(true)
    await query(db, "update tracks set hidden_at = null where id = $1", [id])
    expect(await found("quillw")).toBe(true)

    await query(db, "update tracks set status = 'processing' where id = $1", [id])
    expect(await found("quillw")).toBe(false)
    await query(db, "update tracks set status = 'ready' where id = $1", [id])
    expect(await found("quillw")).toBe(true)

    await query(db, "update users set deleted_at = now() where id = $1", [creator.user.id])
    expect(await found("quillw")).toBe(false)
    await query(db, "update users set deleted_at = null where id = $1", [creator.user.id])
    expect(await found("quillw")).toBe(true)

    // Counters move without touching the keys.
    await query(db, "update tracks set play_count = play_count + 1 where id = $1", [id])
    expect(await found("quillw")).toBe(true)

    await query(db, "update tracks set deleted_at = now() where id = $1", [id])
    expect(await found("quillw")).toBe(false)
    await query(db, "update tracks set deleted_at = null where id = $1", [id])
    expect(await found("quillw")).toBe(true)
    expect(await keysOutOfStep()).toEqual([])

    await query(db, "delete from tracks where id = $1", [id])
    expect(await found("quillw")).toBe(false)
    expect(await query(db, "select 1 from track_search_keys where track_id = $1", [id])).toEqual([])
    expect(await keysOutOfStep()).toEqual([])
  })

  it("rank as the GIN path does, and page through a broad prefix without repeats or misses, merged with the viewer's own", async () => {
    const creator = await registerUser(server.baseUrl, { account_type: "artist" })
    // 90 listed tracks whose words start with "vel" in every field and weight, ties included, and 10 private ones.
    await query(
      db,
      `insert into tracks (creator_id, title, artist, tags, description, visibility, status, original_filename, format_name, file_size,
                           storage_backend, storage_key, duration_ms, codec, hls_backend, hls_prefix)
       select $1, (array['Velvet', 'Velour night', 'Plain', 'Velvet velvet'])[1 + i % 4],
              case when i % 3 = 0 then 'Velasquez' end,
              case when i % 5 = 0 then array['velo', 'veldt'] else '{}' end,
              case when i % 2 = 0 then 'velvety velvet ' || i end,
              (case when i > 90 then 'private' else 'public' end)::visibility, 'ready',
              'v.mp3', 'mp3', 1, 'local', 'tracks/vel/' || i, 1000, 'mp3', 'local', 'hls/vel/' || i || '/'
         from generate_series(1, 100) i`,
      [creator.user.id]
    )
    const ranked = async (q: string, visible: string) =>
      (
        await query(
          db,
          `select t.id from tracks t, to_tsquery('simple', $1) q
            where t.search_vector @@ q and t.deleted_at is null and ${visible}
            order by ts_rank(t.search_vector, q) desc, t.id desc`,
          [q]
        )
      ).map((r) => r["id"])
    const pages = (q: string, who?: User) => allPages(search, q, "7", who)
    const listed = "t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null"
    const anonymous = await pages("vel")
    expect(anonymous.seen).toEqual(await ranked("'vel':*", listed))
    expect(anonymous.seen.length).toBeGreaterThanOrEqual(90)
    // Title matches (weight A) before description-only ones (weight D).
    const [top] = await query(db, "select title from tracks where id = $1", [anonymous.seen[0]])
    expect(top!["title"]).toMatch(/^Vel/)
    const mine = await pages("vel", creator)
    expect(mine.seen).toEqual(await ranked("'vel':*", `(${listed} or t.creator_id = '${creator.user.id}')`))
    expect(mine.seen.length).toBe(anonymous.seen.length + 10)
    // The same ranks whichever path found a track: the admin's view holds both.
    const admins = await pages("vel", adminUser)
    const rankOf = new Map(admins.seen.map((id, i) => [id, admins.ranks[i]]))
    anonymous.seen.forEach((id, i) => expect(rankOf.get(id)).toBe(anonymous.ranks[i]))
    const twoWords = await pages("velour vel", creator)
    expect(twoWords.seen.length).toBeGreaterThan(7)
    expect(twoWords.seen).toEqual(await ranked("'velour':* & 'vel':*", `(${listed} or t.creator_id = '${creator.user.id}')`))
    expect((await pages("velvety vel")).seen).toEqual(await ranked("'velvety':* & 'vel':*", listed))
    expect(await keysOutOfStep()).toEqual([])
  })
})

describe("user search", () => {
  it("finds users by username and display name prefixes, username first", async () => {
    const a = await registerUser(server.baseUrl, { username: `zorblax_${Date.now() % 100000}` })
    const b = await registerUser(server.baseUrl)
    const put = await http(server.baseUrl, "PUT", `/api/v1/users/${b.user.id}`, { token: b.access_token, body: { display_name: "Zorblax Fan" } })
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(ids(await search({ q: "zorb", type: "users" }))).toEqual([a.user.id, b.user.id])
    const hit = (await search({ q: "zorblax fan", type: "users" })).body.items
    expect(hit).toEqual([expect.objectContaining({ type: "user", id: b.user.id, username: b.user.username, display_name: "Zorblax Fan", follower_count: 0 })])
    await query(db, "update users set is_banned = true where id = $1", [a.user.id])
    expect(ids(await search({ q: "zorb", type: "users" }))).toEqual([b.user.id])
    await query(db, "update user_profiles set profile_visibility = 'private' where user_id = $1", [b.user.id])
    expect(ids(await search({ q: "zorb", type: "users" }))).toEqual([])
    expect(ids(await search({ q: "zorb", type: "users" }, b))).toEqual([b.user.id])
  })
})

describe("playlist search", () => {
  it("finds public playlists by title before description, the viewer's own private ones and those it collaborates on", async () => {
    const make = async (who: User, body: Record<string, unknown>) => {
      const res = await http(server.baseUrl, "POST", "/api/v1/playlists", { token: who.access_token, body })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      return res.body.id as string
    }
    const byTitle = await make(owner, { title: "Marimba sunrise", visibility: "public" })
    const byDescription = await make(other, { title: "Morning set", description: "marimba and field recordings", visibility: "public" })
    const hidden = await make(other, { title: "Marimba sketches", visibility: "private" })
    const shared = await make(other, { title: "Marimba collab", visibility: "private", collaborative: true })
    const invite = await http(server.baseUrl, "POST", `/api/v1/playlists/${shared}/collaborators`, {
      token: other.access_token,
      body: { user_id: owner.user.id, role: "editor" }
    })
    expect(invite.status, JSON.stringify(invite.body)).toBe(201)

    expect(ids(await search({ q: "marim", type: "playlists" }))).toEqual([byTitle, byDescription])
    expect((await search({ q: "marimba", type: "playlists" })).body.items[0]).toMatchObject({ type: "playlist", owner_id: owner.user.id })
    expect(new Set(ids(await search({ q: "marimba", type: "playlists" }, owner)))).toEqual(new Set([byTitle, byDescription, shared]))
    expect(new Set(ids(await search({ q: "marimba", type: "playlists" }, other)))).toEqual(new Set([byTitle, byDescription, hidden, shared]))
    expect(new Set(ids(await search({ q: "marimba", type: "playlists" }, adminUser)))).toEqual(new Set([byTitle, byDescription, hidden, shared]))
  })
})

describe("hostile and bad input", () => {
  it("refuses a forged cursor whose rank PostgreSQL's real cannot hold (400, not 500)", async () => {
    const forged = (rank: string) => Buffer.from(JSON.stringify([rank, "00000000-0000-0000-0000-000000000000"])).toString("base64url")
    for (const rank of ["1e39", "1e-50", "9".repeat(60)]) expectError(await search({ q: "a", cursor: forged(rank) }), 400, "INVALID_CURSOR")
    expect((await search({ q: "a", cursor: forged("0.5") })).status).toBe(200)
  })

  it("any text is a valid query: tsquery syntax, quotes, unicode, long words", async () => {
    const hostile = [
      "'",
      "''",
      "\\",
      "&|!:*()",
      "nebula & | ! :* ( )",
      "nebula'); drop table tracks; --",
      "a:*B & !c",
      "<->",
      "ネビュラ 星雲",
      "🎵🎶",
      "\u0301\u0301",
      "٣٤٥",
      "x".repeat(900),
      "ﬁ ﬀ",
      " ",
      "%00",
      "\u0000",
      "null"
    ]
    for (const q of hostile) {
      for (const type of ["tracks", "users"]) {
        const res = await search({ q, type })
        expect(res.status, `${JSON.stringify(q)}: ${JSON.stringify(res.body)}`).toBe(200)
        expect(res.body).toEqual({ items: expect.any(Array), next_cursor: null })
      }
    }
    // Operators are plain separators: the words still match.
    expect(ids(await search({ q: "nebula'); drop table tracks; --" }))).toEqual([])
    expect(ids(await search({ q: "(neb*) | !drift" }))).toEqual([tracks["inTitle"]])
    expect((await query(db, "select count(*)::int as n from tracks"))[0]!["n"]).toBeGreaterThan(0)
  })

  it("refuses what is not a search, in the error envelope", async () => {
    expectError(await search({ q: "x".repeat(10_000) }), 400, "VALIDATION_ERROR")
    expectError(await http(server.baseUrl, "GET", "/api/v1/search"), 400, "VALIDATION_ERROR")
    expectError(await search({ q: "a", type: "songs" }), 400, "VALIDATION_ERROR")
    expectError(await search({ q: "a", limit: "0" }), 400, "VALIDATION_ERROR")
    expectError(await search({ q: "a", limit: "51" }), 400, "VALIDATION_ERROR")
    expectError(await search({ q: "a", cursor: "garbage" }), 400, "INVALID_CURSOR")
    expectError(await search({ q: "a", cursor: Buffer.from(JSON.stringify(["1; drop", "x"])).toString("base64url") }), 400, "INVALID_CURSOR")
    expectError(await http(server.baseUrl, "GET", "/api/v1/search?q=a", { headers: { authorization: "Bearer nope" } }), 401)
  })
})

describe("a search of several common words, led by the keys of the rarest", () => {
  // Its own server, started once PostgreSQL's statistics know the words are common (SearchKeyStats reads them at start).
  let led: RunningServer
  let creator: User
  const count = COMMON_WORD_TRACKS * 2 + 1000
  const captureFile = NodePath.join(NodeOs.tmpdir(), `veza-led-search-${process.pid}.jsonl`)
  /** Tokens for the second server (each server signs its own): by user id. */
  const tokens = new Map<string, string>()
  const ledSearch = (params: Record<string, string>, who?: User) =>
    http(led.baseUrl, "GET", `/api/v1/search?${new URLSearchParams(params)}`, who === undefined ? {} : { token: tokens.get(who.user.id)! })

  beforeAll(async () => {
    creator = await registerUser(server.baseUrl, { account_type: "artist" })
    // Over COMMON_WORD_TRACKS tracks have "quokka", and over COMMON_WORD_TRACKS (fewer) "nimbus", in the title or only in the
    // description; some have only "nimbus", a few are private.
    await query(
      db,
      `insert into tracks (creator_id, title, description, visibility, status, original_filename, format_name, file_size,
                           storage_backend, storage_key, duration_ms, codec, hls_backend, hls_prefix)
       select $1, case when i % 7 = 0 then 'Nimbus ' || i when i % 2 = 0 then 'Quokka Nimbus ' || i else 'Quokka ' || i end,
              case when i % 5 = 0 then 'a nimbus of sound' end,
              (case when i % 997 = 0 then 'private' else 'public' end)::visibility, 'ready',
              'q.mp3', 'mp3', 1, 'local', 'tracks/quokka/' || i, 1000, 'mp3', 'local', 'hls/quokka/' || i || '/'
         from generate_series(1, $2::int) i`,
      [creator.user.id, count]
    )
    await query(db, "analyze track_search_keys")
    led = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), ...capturingSql(captureFile) })
    for (const who of [creator, other]) {
      const login = await http(led.baseUrl, "POST", "/api/v1/auth/login", { body: { email: who.email, password: who.password } })
      expect(login.status, JSON.stringify(login.body)).toBe(200)
      tokens.set(who.user.id, login.body.access_token)
    }
  }, 180_000)

  afterAll(async () => {
    await led?.stop()
    NodeFs.rmSync(captureFile, { force: true })
  })

  const walk = (q: string, who?: User) => allPages(ledSearch, q, "50", who)

  /** Matches of the whole query, ordered by the leading word's rank (its keys' rank: ts_rank against that word alone). */
  const expected = async (leading: string, all: string, visible: string) =>
    (
      await query(
        db,
        `select t.id from tracks t, to_tsquery('simple', $1) l, to_tsquery('simple', $2) q
          where t.search_vector @@ q and t.deleted_at is null and ${visible}
          order by ts_rank(t.search_vector, l) desc, t.id desc`,
        [leading, all]
      )
    ).map((r) => r["id"])

  it("pages through every match without repeats, in the rarest word's order, merged with the viewer's own", async () => {
    const listed = "t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null"
    const anonymous = await walk("quok nimbus")
    expect(new Set(anonymous.seen).size).toBe(anonymous.seen.length)
    // "nimbus" is the rarer word: its rank orders the hits, which the GIN path (ranked by the whole query) would not.
    expect(anonymous.seen).toEqual(await expected("'nimbus':*", "'quok':* & 'nimbus':*", listed))
    expect(anonymous.seen.length).toBeGreaterThan(COMMON_WORD_TRACKS)
    expect(anonymous.ranks).toEqual([...anonymous.ranks].sort((a, b) => b - a))
    const mine = await walk("nimbus quok", creator)
    expect(mine.seen).toEqual(await expected("'nimbus':*", "'quok':* & 'nimbus':*", `(${listed} or t.creator_id = '${creator.user.id}')`))
    expect(mine.seen.length).toBeGreaterThan(anonymous.seen.length)
    expect((await walk("quok nimbus", other)).seen).toEqual(anonymous.seen)
  }, 120_000)

  it("reads the leading word's keys in rank order and probes the others' by index, on every page", async () => {
    const before = readCaptured(captureFile).length
    const first = await ledSearch({ q: "quok nimbus", limit: "20" })
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    expect((await ledSearch({ q: "quok nimbus", limit: "20", cursor: first.body.next_cursor })).status).toBe(200)
    // The request's reads of the keys (not the statistics the server refreshes every 5 minutes).
    const statements = readCaptured(captureFile).slice(before).filter((c) => /from track_search_keys/.test(c.text))
    expect(statements.length).toBeGreaterThanOrEqual(2)
    const client = new pg.Client({ connectionString: db })
    await client.connect()
    try {
      for (const statement of statements) {
        const plan = await planOf(client, statement)
        expect(plan.filter((n) => n["Node Type"] === "Seq Scan").map((n) => n["Relation Name"])).toEqual([])
        const indexes = plan.map((n) => n["Index Name"])
        expect(indexes).toContain("idx_track_search_keys_key_rank")
        expect(indexes).toContain("idx_track_search_keys_track_key")
      }
    } finally {
      await client.end()
    }
  })

  it("a search with a rarer word keeps the GIN path, and a cursor keeps the path of its first page", async () => {
    const rare = await ledSearch({ q: "quokka 12", limit: "5" })
    expect(ids(rare).length).toBeGreaterThan(0)
    const first = await ledSearch({ q: "quok nimbus", limit: "5" })
    const cursor = first.body.next_cursor as string
    const [, , leading] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    expect(leading).toBe("nimbus")
    // A cursor naming a word the search does not have, or given to another kind of search, is not one the API returned.
    const forged = Buffer.from(JSON.stringify([...JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")).slice(0, 2), "zebra"])).toString("base64url")
    expectError(await ledSearch({ q: "quok nimbus", cursor: forged }), 400, "INVALID_CURSOR")
    expectError(await ledSearch({ q: "nimbus", cursor }), 400, "INVALID_CURSOR")
    expectError(await ledSearch({ q: "quok nimbus", type: "users", cursor }), 400, "INVALID_CURSOR")
  })
})
