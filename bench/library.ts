/**
 * Track get, list and search, and playlist get, entries and search, on a
 * seeded library (`scripts/seed-demo.ts`):
 * each endpoint at 10 connections, next to the bare SQL the server ran for it
 * (captured from the server, replayed with `pg` at the same concurrency).
 *
 *   BENCH_LIBRARY_DB=<url>   use a database seeded before (`npm run seed:demo`); otherwise a
 *                            fresh one is created, migrated and seeded, and dropped at the end
 *   BENCH_SEED_SCALE=0.1     seed a tenth of the full size (default 1: 100k tracks, 1M likes)
 *   BENCH_LIBRARY_ONLY=list  only the requests whose name matches this regular expression
 *   BENCH_LIBRARY_SQL=0      skip the bare-SQL runs (server figures only, e.g. for an A/B of server CPU)
 *   BENCH_LIBRARY_CACHE=both each request against a server without the anonymous-read cache
 *                            (PUBLIC_READ_CACHE_MS=0: every request does the full work) and one with
 *                            it (the default 1 s: a repeated request is mostly a cache hit); `off` or
 *                            `on` runs only one of them
 *   BENCH_DURATION / BENCH_WARMUP   seconds per run, as for the other scenarios
 *   BENCH_VEZA_NODE_ARGS     node flags for the measured server (e.g. --cpu-prof), as for the other scenarios
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import pg from "pg"
import { DEFAULT_DB_PREPARED_STATEMENTS } from "../src/platform/config.js"
import { encodeTimeCursor } from "../src/platform/cursor.js"
import { prepareStatements } from "../src/platform/database.js"
import { demoTrackId, demoUserId, FULL, migrateDatabase, scaled, seedDemo } from "../scripts/seed-demo.js"
import { adminUrl, DURATION_S, freshDatabase, load, percentile, type Server, start, stop, tempDataDir, vezaEnv, vezaNodeArgs, WARMUP_S } from "./lib.js"

const CONNECTIONS = 10

interface Captured {
  readonly text: string
  readonly values: ReadonlyArray<unknown>
}

/** The requests measured; `path` may depend on the data (a deep cursor). */
const scenarios = async (db: string) => {
  const deepCursor = async (where: string, offset: number) => {
    const rows = await query<{ at: string; id: string }>(
      db,
      `select to_char(t.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, t.id from tracks t
        where t.deleted_at is null and t.visibility = 'public' and t.status = 'ready' ${where}
        order by t.created_at desc, t.id desc offset ${offset} limit 1`
    )
    return rows[0] === undefined ? undefined : encodeTimeCursor(rows[0].at, rows[0].id)
  }
  // The public playlist with the most entries concealed from an anonymous reader: each read subtracts and renumbers them.
  const playlist = (await query<{ id: string }>(
    db,
    `select pt.playlist_id as id from playlist_tracks pt join playlists p on p.id = pt.playlist_id
      where pt.track_concealed and p.visibility = 'public' and p.deleted_at is null
      group by pt.playlist_id order by count(*) desc, pt.playlist_id limit 1`
  ))[0]?.id
  const deep = await deepCursor("", 5000)
  const deepGenre = await deepCursor("and lower(t.genre) = 'house'", 1000)
  return [
    { name: "get", path: `/api/v1/tracks/${demoTrackId(2)}` },
    { name: "list newest", path: "/api/v1/tracks?limit=20" },
    { name: "list genre", path: "/api/v1/tracks?genre=house&limit=20" },
    { name: "list tags", path: "/api/v1/tracks?tags=piano,choir&limit=20" },
    { name: "list user", path: `/api/v1/tracks?user_id=${demoUserId(1)}&limit=20` },
    ...(deep === undefined ? [] : [{ name: "list p250", path: `/api/v1/tracks?limit=20&cursor=${deep}` }]),
    ...(deepGenre === undefined ? [] : [{ name: "list genre p50", path: `/api/v1/tracks?genre=house&limit=20&cursor=${deepGenre}` }]),
    { name: "search 'sunset'", path: "/api/v1/search?type=tracks&q=sunset" },
    { name: "search 'mid'", path: "/api/v1/search?type=tracks&q=mid" },
    // Two words, the second being typed: its third character is the first to match as a prefix.
    { name: "search 'night dri'", path: "/api/v1/search?type=tracks&q=night%20dri" },
    // Two common words: "night" in 11k tracks, "tra" beginning "track" (a quarter of the descriptions); ~2.7k matches.
    { name: "search 'night tra'", path: "/api/v1/search?type=tracks&q=night%20tra" },
    // Two letters match the whole word only (~1k tracks: "Lo-Fi"), not every word starting with them.
    { name: "search 'lo'", path: "/api/v1/search?type=tracks&q=lo" },
    // The broadest three-letter prefix of the seed ("track" in a quarter of the descriptions).
    { name: "search 'tra'", path: "/api/v1/search?type=tracks&q=tra" },
    { name: "search playlists 'night'", path: "/api/v1/search?type=playlists&q=night" },
    ...(playlist === undefined
      ? []
      : [
          { name: "playlist get", path: `/api/v1/playlists/${playlist}` },
          { name: "playlist tracks", path: `/api/v1/playlists/${playlist}/tracks?limit=50` }
        ])
  ]
}

const query = async <R extends pg.QueryResultRow>(url: string, text: string, values: ReadonlyArray<unknown> = []) => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query<R>(text, values as Array<unknown>)).rows
  } finally {
    await c.end()
  }
}

/**
 * The statements the server sends for one request of each path, read from a
 * server started with `scripts/capture-sql.mjs` preloaded (a separate run:
 * capturing writes a file per statement, which the measured server must not).
 */
const captureStatements = async (db: string, paths: ReadonlyArray<string>) => {
  const file = NodePath.join(NodeOs.tmpdir(), `veza-capture-${process.pid}.jsonl`)
  NodeFs.writeFileSync(file, "")
  const preload = pathToFileURL(NodePath.resolve("scripts/capture-sql.mjs")).href
  const server = await start("veza (capturing SQL)", ["--import", preload, "dist/src/main.js"], {
    ...vezaEnv(db, tempDataDir()),
    VEZA_CAPTURE_SQL: file
  })
  const read = () => NodeFs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Captured)
  const captured = new Map<string, ReadonlyArray<Captured>>()
  try {
    for (const path of paths) {
      const before = read().length
      const res = await fetch(server.url + path)
      const body = (await res.json()) as { items?: ReadonlyArray<unknown> }
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`)
      if (body.items !== undefined && body.items.length === 0) throw new Error(`${path}: no items — is the database seeded?`)
      // The readiness probe and background workers run their own statements; keep the request's (reads of
      // tracks or playlists: the transcode worker's claim, which also names `tracks t`, was caught in some runs and replayed).
      captured.set(path, read().slice(before).filter((s) => /\b(tracks t|playlists p)\b/.test(s.text) && !/\b(update|insert|delete)\b/i.test(s.text)))
    }
  } finally {
    await stop(server)
    NodeFs.rmSync(file, { force: true })
  }
  return captured
}

/**
 * The statements of one request, back to back on one pooled connection, from
 * `connections` loops at once; prepared per connection as the server's are.
 */
const loadSql = async (url: string, statements: ReadonlyArray<Captured>, connections: number, seconds: number) => {
  const pool = new pg.Pool({ connectionString: url, max: connections })
  pool.on("connect", (client) => prepareStatements(client, DEFAULT_DB_PREPARED_STATEMENTS))
  const latencies: Array<number> = []
  const until = performance.now() + seconds * 1000
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now()
          const client = await pool.connect()
          try {
            for (const s of statements) await client.query(s.text, s.values as Array<unknown>)
          } finally {
            client.release()
          }
          latencies.push(performance.now() - t0)
        }
      })
    )
  } finally {
    await pool.end()
  }
  const sorted = latencies.sort((a, b) => a - b)
  return { rps: sorted.length / seconds, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) }
}

export const runLibrary = async (admin: Awaited<ReturnType<typeof adminUrl>>) => {
  const given = process.env["BENCH_LIBRARY_DB"]
  const db = given ? { url: given, drop: async () => {} } : await freshDatabase(admin.url)
  const servers: Array<Server> = []
  try {
    if (!given) {
      const scale = Number(process.env["BENCH_SEED_SCALE"] ?? 1)
      const sizes = scale === 1 ? FULL : scaled(scale)
      await migrateDatabase(db.url)
      console.log(`seeding ${sizes.tracks} tracks, ${sizes.users} users, ${sizes.likes} likes (BENCH_LIBRARY_DB=<url> reuses a seeded database)…`)
      const { seconds } = await seedDemo(db.url, sizes)
      console.log(`seeded in ${seconds.toFixed(0)} s`)
    }
    const counts = (await query<{ tracks: number; likes: number; users: number }>(
      db.url,
      "select (select count(*) from tracks)::int as tracks, (select count(*) from track_likes)::int as likes, (select count(*) from users)::int as users"
    ))[0]!
    const only = new RegExp(process.env["BENCH_LIBRARY_ONLY"] ?? "")
    const withSql = process.env["BENCH_LIBRARY_SQL"] !== "0"
    const list = (await scenarios(db.url)).filter((s) => only.test(s.name))
    const cacheMode = process.env["BENCH_LIBRARY_CACHE"] ?? "both"
    if (!["both", "on", "off"].includes(cacheMode)) throw new Error("BENCH_LIBRARY_CACHE is both, on or off")
    const captured = await captureStatements(db.url, list.map((s) => s.path))
    // The uncached server is the honest cost of a request; the cached one, what a hot anonymous read costs.
    const variants: Array<{ label: string; server: Server }> = []
    if (cacheMode !== "on") {
      variants.push({ label: "", server: await start("veza (no cache)", [...vezaNodeArgs(), "dist/src/main.js"], vezaEnv(db.url, tempDataDir(), { PUBLIC_READ_CACHE_MS: "0" })) })
    }
    if (cacheMode !== "off") {
      variants.push({ label: " cached", server: await start("veza (cached)", [...vezaNodeArgs(), "dist/src/main.js"], vezaEnv(db.url, tempDataDir(), { PUBLIC_READ_CACHE_MS: "1000" })) })
    }
    servers.push(...variants.map((v) => v.server))

    console.log(
      `Library on ${counts.tracks} tracks, ${counts.users} users, ${counts.likes} likes — ${CONNECTIONS} connections, ${DURATION_S}s per run after ${WARMUP_S}s warm-up, ${NodeOs.cpus().length} cores; SQL = the statements the server ran, replayed with pg (prepared, as the server runs them); rows without "cached" run with the anonymous-read cache off (PUBLIC_READ_CACHE_MS=0), "cached" rows with it on (1000 ms, the same request repeated: mostly hits)`
    )
    console.log(
      `${"request".padEnd(27)}${"req/s".padStart(7)}${"p50 ms".padStart(8)}${"p95 ms".padStart(8)}${"p99 ms".padStart(8)}${"CPU µs".padStart(8)}${"non2xx".padStart(7)} |${"SQL r/s".padStart(8)}${"p50 ms".padStart(8)}${"p95 ms".padStart(8)}${"p99 ms".padStart(8)}${"1-conn p50".padStart(11)} | p95 ratio`
    )
    for (const s of list) {
      const statements = captured.get(s.path)!
      const skipped = { rps: NaN, p50: NaN, p95: NaN, p99: NaN }
      if (withSql) await loadSql(db.url, statements, CONNECTIONS, Math.min(1, WARMUP_S))
      const bare = withSql ? await loadSql(db.url, statements, CONNECTIONS, DURATION_S) : skipped
      // The statements' own service time, without queueing behind each other.
      const alone = withSql ? await loadSql(db.url, statements, 1, Math.max(1, DURATION_S / 5)) : skipped
      for (const { label, server } of variants) {
        await load(server, s.path, CONNECTIONS, WARMUP_S)
        const r = await load(server, s.path, CONNECTIONS, DURATION_S)
        const f = (n: number, d = 2) => n.toFixed(d).padStart(8)
        console.log(
          `${(s.name + label).padEnd(27)}${r.rps.toFixed(0).padStart(7)}${f(r.p50)}${f(r.p95)}${f(r.p99)}${f(r.cpuUsPerReq, 0)}${String(r.non2xx).padStart(7)} |${bare.rps.toFixed(0).padStart(8)}${f(bare.p50)}${f(bare.p95)}${f(bare.p99)}${alone.p50.toFixed(2).padStart(11)} | ${(r.p95 / bare.p95).toFixed(2)}x${r.p95 < 10 ? "" : " (goal: < 10 ms)"}`
        )
      }
    }
  } finally {
    await Promise.all(servers.map(stop))
    await db.drop()
  }
}
