/**
 * Every list and search the API runs reads the big tables through an index.
 * The statements are not copied here: a server started with
 * `scripts/capture-sql.mjs` preloaded writes each one it sends (text and
 * parameters) to a file while the test calls every list and search endpoint
 * (first page and the next one, anonymous, signed in and as an admin), and
 * each captured SELECT is then EXPLAINed with its own parameters on a seeded
 * database (`scripts/seed-demo.ts` with a tenth of the demo's tracks). A changed repo
 * query is checked as it is.
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO_LOGINS, DEMO_PASSWORD, demoTrackId, demoUserId, migrateDatabase, scaled, seedDemo } from "../../scripts/seed-demo.js"
import { freshDatabase } from "../support/database.js"
import { type Captured, capturingSql, type PlanNode, planOf, readCaptured } from "../support/query-plans.js"
import { http, type RunningServer, startServer } from "../support/server.js"

/** The tables the seed fills: a sequential scan of any of them is a failure. */
const BIG_TABLES = new Set([
  "users", "user_profiles", "tracks", "track_likes", "track_comments", "track_plays", "track_listeners",
  "follows", "playlists", "playlist_tracks", "playlist_follows", "track_search_keys", "track_tags"
])

let url: string
let server: RunningServer
const captureFile = NodePath.join(NodeOs.tmpdir(), `veza-plans-${process.pid}.jsonl`)

beforeAll(async () => {
  url = await freshDatabase("plans")
  await migrateDatabase(url)
  // A tenth of the demo's tracks and likes, all of its users and playlists: with fewer the planner
  // rightly reads the whole (small) table, which says nothing about the full size.
  await seedDemo(url, { ...scaled(0.1), users: 10_000, playlists: 5_000 })
  NodeFs.writeFileSync(captureFile, "")
  server = await startServer({ DATABASE_URL: url, ...capturingSql(captureFile) })
}, 120_000)

afterAll(() => NodeFs.rmSync(captureFile, { force: true }))

/** GETs a list, then its next page when there is one; returns the statements both sent. */
const listStatements = async (path: string, token?: string) => {
  const before = readCaptured(captureFile).length
  const first = await http<{ items?: Array<unknown>; next_cursor?: string | null }>(server.baseUrl, "GET", path, token === undefined ? {} : { token })
  expect(first.status, `${path}: ${JSON.stringify(first.body)}`).toBe(200)
  if (first.body.next_cursor) {
    const sep = path.includes("?") ? "&" : "?"
    const next = await http(server.baseUrl, "GET", `${path}${sep}cursor=${encodeURIComponent(first.body.next_cursor)}`, token === undefined ? {} : { token })
    expect(next.status, JSON.stringify(next.body)).toBe(200)
  }
  return readCaptured(captureFile).slice(before)
}

describe("query plans on a seeded library", () => {
  it("every list and search statement reads the big tables through an index", async () => {
    const login = async (email: string) => {
      const res = await http<{ access_token: string }>(server.baseUrl, "POST", "/api/v1/auth/login", { body: { email, password: DEMO_PASSWORD } })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      return res.body.access_token
    }
    const listener = await login(DEMO_LOGINS[1].email)
    const admin = await login(DEMO_LOGINS[2].email)
    const artist = demoUserId(1)
    const track = demoTrackId(2)
    const playlist = (await pgQuery<{ id: string }>("select id from playlists where visibility = 'public' and track_count > 25 limit 1"))[0]!.id

    const trackLists = [
      "/api/v1/tracks?limit=20",
      "/api/v1/tracks?genre=house&limit=20",
      "/api/v1/tracks?tags=piano,choir&limit=20",
      `/api/v1/tracks?user_id=${artist}&limit=20`,
      `/api/v1/tracks?user_id=${artist}&visibility=public&limit=20`,
      "/api/v1/tracks?created_after=2026-01-01T00:00:00Z&created_before=2026-06-01T00:00:00Z&limit=20",
      "/api/v1/tracks?q=mid&limit=20",
      "/api/v1/tracks?genre=techno&tags=dark&limit=20"
    ]
    const searches = ["sunset", "mid", "night dr", "lo", "vega", "nova st"].flatMap((q) => [
      `/api/v1/search?type=tracks&q=${encodeURIComponent(q)}&limit=10`,
      `/api/v1/search?type=users&q=${encodeURIComponent(q)}&limit=10`,
      `/api/v1/search?type=playlists&q=${encodeURIComponent(q)}&limit=10`
    ])
    const others = [
      `/api/v1/tracks/${track}/comments?limit=5`,
      `/api/v1/users/${artist}/playlists?limit=5`,
      `/api/v1/playlists/${playlist}/tracks?limit=10`,
      `/api/v1/users/${artist}/followers?limit=20`,
      `/api/v1/users/${artist}/following?limit=5`
    ]
    const signedIn = ["/api/v1/me/history?limit=10", "/api/v1/feed?limit=10", "/api/v1/notifications?limit=10", "/api/v1/playlists/followed?limit=5", "/api/v1/playlists/shared?limit=5", "/api/v1/blocks?limit=5"]

    const statements: Array<{ path: string; as: string; s: Captured }> = []
    for (const path of [...trackLists, ...searches, ...others]) {
      for (const [as, token] of [["anonymous", undefined], ["listener", listener], ["admin", admin]] as const) {
        for (const s of await listStatements(path, token)) statements.push({ path, as, s })
      }
    }
    for (const path of signedIn) for (const s of await listStatements(path, listener)) statements.push({ path, as: "listener", s })

    const client = new pg.Client({ connectionString: url })
    await client.connect()
    const failures: Array<string> = []
    const explained = new Map<string, Array<PlanNode>>()
    try {
      for (const { path, as, s } of statements) {
        if (!/^\s*(select|with)\b/i.test(s.text)) continue
        const plan = await planOf(client, s)
        explained.set(`${as} ${path}`, [...(explained.get(`${as} ${path}`) ?? []), ...plan])
        for (const n of plan) {
          if (n["Node Type"] === "Seq Scan" && BIG_TABLES.has(n["Relation Name"] ?? "")) {
            failures.push(`${as} GET ${path.split("?")[0]}: Seq Scan on ${n["Relation Name"]} in ${s.text.replace(/\s+/g, " ").slice(0, 160)}`)
          }
        }
      }
    } finally {
      await client.end()
    }
    expect([...new Set(failures)]).toEqual([])
    // The lists and searches really were seen and read their table by an index.
    const indexesUsed = (key: string) => (explained.get(key) ?? []).map((n) => n["Index Name"]).filter((i) => i !== undefined)
    // Filtered by tags alone, a page is the next entries of each tag's key (migration 0016).
    for (const path of trackLists) {
      const tagsAlone = /[?&]tags=/.test(path) && !/[?&](genre|user_id|q|visibility)=/.test(path)
      const used = indexesUsed(`anonymous ${path}`)
      expect(tagsAlone ? used.includes("track_tags_pkey") : used.some((i) => i!.startsWith("idx_tracks_")), `anonymous ${path}: ${used}`).toBe(true)
    }
    // One word reads its keys in rank order; several words AND their posting lists in the GIN index.
    for (const path of searches.filter((p) => p.includes("type=tracks"))) {
      const words = new URLSearchParams(path.split("?")[1]).get("q")!.trim().split(/\s+/).length
      expect(indexesUsed(`anonymous ${path}`), path).toContain(words === 1 ? "idx_track_search_keys_key_rank" : "idx_tracks_search_vector_gin")
    }
    for (const path of searches.filter((p) => p.includes("type=users"))) {
      expect(indexesUsed(`anonymous ${path}`), path).toContain("idx_users_search_vector_gin")
    }
    expect(explained.size).toBeGreaterThan(trackLists.length * 3 + searches.length * 3)
  }, 120_000)
})

const pgQuery = async <R extends pg.QueryResultRow>(text: string) => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query<R>(text)).rows
  } finally {
    await c.end()
  }
}
