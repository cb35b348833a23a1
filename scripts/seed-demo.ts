/**
 * `npm run seed:demo`: fills a database with demo data — by default 10k users
 * (with profiles), 100k tracks, 1M likes, 200k follows, 50k comments, 200k
 * plays, 5k playlists — for trying the product and for `npm run bench -- library`.
 *
 *   npm run seed:demo                       DATABASE_URL, or the embedded cluster under DATA_DIR/pg (./data/pg)
 *   SEED_SCALE=0.1 npm run seed:demo        a tenth of every size
 *
 * It migrates first (the app's own migrator), then refuses a database that
 * already holds users or tracks. Everything is generated inside PostgreSQL
 * (INSERT … SELECT over generate_series), in one transaction with the counter
 * triggers of the filled tables disabled; the counters are recounted at the
 * end and checked against the rows before the transaction commits. Seeded
 * tracks are `ready` with a fake HLS prefix, a finished transcode job and three
 * renditions: they list, search and open like real ones, but have no audio
 * (their /hls URLs answer 404).
 */
import * as NodeCrypto from "node:crypto"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import { PgClient } from "@effect/sql-pg"
import * as argon2 from "argon2"
import { Effect, Exit, Redacted, Scope } from "effect"
import pg from "pg"
import { loadMigrations, migrate } from "../src/platform/migrator.js"

export interface SeedSizes {
  readonly users: number
  readonly tracks: number
  readonly likes: number
  readonly follows: number
  readonly comments: number
  readonly plays: number
  readonly playlists: number
}

export const FULL: SeedSizes = { users: 10_000, tracks: 100_000, likes: 1_000_000, follows: 200_000, comments: 50_000, plays: 200_000, playlists: 5_000 }

export const scaled = (scale: number): SeedSizes => {
  const s = (n: number, min: number) => Math.max(min, Math.round(n * scale))
  return {
    users: s(FULL.users, 20),
    tracks: s(FULL.tracks, 100),
    likes: s(FULL.likes, 100),
    follows: s(FULL.follows, 50),
    comments: s(FULL.comments, 50),
    plays: s(FULL.plays, 50),
    playlists: s(FULL.playlists, 10)
  }
}

/** Every seeded account can log in with this password; the first three are printed. */
export const DEMO_PASSWORD = "demo password"
export const DEMO_LOGINS = [
  // User 1 is the most prolific creator of the seed (creators are skewed towards low numbers).
  { email: "artist@demo.veza.test", username: "demo_artist", role: "artist" },
  { email: "demo@demo.veza.test", username: "demo", role: "user" },
  { email: "admin@demo.veza.test", username: "demo_admin", role: "admin" }
] as const

/** Ids are derived from the row number, so the same seed gives the same ids (md5 of a label, read as a uuid). */
export const demoUserId = (i: number) => uuidOf(`veza-demo-user-${i}`)
export const demoTrackId = (i: number) => uuidOf(`veza-demo-track-${i}`)
const uuidOf = (label: string) => {
  const hex = NodeCrypto.createHash("md5").update(label).digest("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** Every seeded track's ladder (hls_renditions, and its copy on the track). */
const LADDER_KBPS = [64, 128, 256]

const arr = (words: ReadonlyArray<string>) => `array[${words.map((w) => `'${w.replace(/'/g, "''")}'`).join(",")}]::text[]`

// Word lists: title words are drawn with a skew (earlier words more often), so
// some prefixes match thousands of tracks and others a handful, as in life.
const TITLE_WORDS = [
  "love", "night", "midnight", "summer", "dream", "dreams", "heart", "fire", "rain", "city", "lights", "shadow", "shadows", "gold",
  "blue", "black", "electric", "neon", "river", "ocean", "sky", "star", "stars", "moon", "sun", "sunset", "sunrise", "wild",
  "forever", "lost", "home", "road", "highway", "echo", "echoes", "silence", "storm", "thunder", "winter", "spring", "autumn",
  "velvet", "crystal", "paper", "glass", "silver", "mirror", "ghost", "ghosts", "angel", "devil", "paradise", "desert", "island",
  "tokyo", "paris", "berlin", "lagos", "havana", "memphis", "brooklyn", "marseille", "kingston", "detroit", "bass", "groove",
  "rhythm", "drum", "drums", "pulse", "signal", "static", "motion", "gravity", "orbit", "satellite", "horizon", "midsummer",
  "lullaby", "anthem", "ballad", "serenade", "requiem", "overture", "interlude", "reverie", "nocturne", "daydream", "mirage",
  "fever", "sugar", "honey", "cherry", "lemon", "smoke", "dust", "ashes", "bloom", "garden", "forest", "mountain", "valley",
  "waves", "tide", "current", "voltage", "circuit", "cassette", "vinyl", "radio", "satellites", "skyline", "underground",
  "afterglow", "afterparty", "basement", "rooftop", "backseat", "sidewalk", "streetlight", "heartbeat", "heartbreak",
  "runaway", "getaway", "holiday", "weekend", "tonight", "tomorrow", "yesterday", "always", "never", "maybe", "again",
  "dancing", "falling", "running", "flying", "floating", "burning", "waiting", "breathing", "drifting", "shining", "fading"
]
const GENRES = [
  "Electronic", "Hip-Hop", "Pop", "Rock", "House", "Techno", "Jazz", "Lo-Fi", "Ambient", "R&B", "Soul", "Funk", "Drum & Bass",
  "Dubstep", "Trap", "Indie", "Folk", "Classical", "Reggae", "Afrobeats", "Latin", "Metal", "Disco", "Garage", "Synthwave"
]
const TAGS = [
  "chill", "dark", "upbeat", "melodic", "vocal", "instrumental", "acoustic", "remix", "live", "demo", "bootleg", "edit",
  "summer", "night", "study", "workout", "party", "sad", "happy", "dreamy", "gritty", "warm", "cold", "heavy", "minimal",
  "analog", "808", "piano", "guitar", "synth", "strings", "choir", "field-recording", "lofi", "boom-bap", "deep", "tropical",
  "cinematic", "experimental", "retro"
]
const FIRST = [
  "Nova", "Luna", "Kai", "Mara", "Theo", "Iris", "Jonah", "Zoe", "Felix", "Ada", "Omar", "Lena", "Rafael", "Yuki", "Sasha",
  "Nia", "Elio", "Maya", "Dario", "Ines", "Hugo", "Amara", "Leon", "Priya", "Tariq", "Clara", "Mateo", "Freya", "Kofi", "Alba"
]
const LAST = [
  "Vega", "Stone", "Rivers", "Okafor", "Lind", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Reyes", "Kowalski", "Adeyemi",
  "Berg", "Costa", "Dubois", "Eriksen", "Fontaine", "Garcia", "Hoffman", "Ivanova", "Jensen", "Kim", "Laurent", "Mensah",
  "Nakamura", "Ortiz", "Petrov", "Quinn", "Rossi", "Sato", "Torres", "Umar", "Valdez", "Weiss", "Xu", "Young", "Zhou"
]
const CITIES = ["Lyon", "Berlin", "Lagos", "Montreal", "Tokyo", "São Paulo", "London", "Nairobi", "Seoul", "Mexico City", "Oslo", "Lisbon"]
const COMMENTS = [
  "this drop though", "on repeat all week", "the bassline here!", "love the vocals", "what synth is this?", "goosebumps",
  "perfect for late nights", "mix is so clean", "need this on vinyl", "that transition", "underrated", "play this at the club",
  "the chords at this part", "beautiful", "who else is here from the playlist?", "fire", "so warm", "instant classic"
]

/**
 * The statements, in order. `$1` … are never used: sizes are integers
 * written into the text, the only user-controlled input (validated above).
 */
const statements = (n: SeedSizes, passwordHash: string) => {
  const title = `(${arr(TITLE_WORDS)})[1 + floor(${TITLE_WORDS.length} * power(random(), 1.6))::int]`
  const cap = (e: string) => `initcap(${e})`
  const first = arr(FIRST)
  const last = arr(LAST)
  // The creator of track i: skewed towards low user numbers (a few prolific artists).
  const creatorOf = `1 + floor(${n.users} * power(random(), 2.5))::int`
  // A track a listener picks: skewed towards low track numbers (popular tracks).
  const popularTrack = `1 + floor(${n.tracks} * power(random(), 2))::int`
  const listedTrack = (t: string) => `(${t} % 20 <> 0 and ${t} % 100 <> 99)` // not private, not deleted
  const uid = (i: string) => `md5('veza-demo-user-' || ${i})::uuid`
  const tid = (i: string) => `md5('veza-demo-track-' || ${i})::uuid`
  const pid = (i: string) => `md5('veza-demo-playlist-' || ${i})::uuid`
  const hash = passwordHash.replace(/'/g, "''")
  const demos = DEMO_LOGINS.map((d, k) => `(${k + 1}, '${d.email}', '${d.username}', '${d.role}')`).join(", ")
  return [
    ["users", `
      insert into users (id, email, email_verified_at, password_hash, username, display_name, role, created_at)
      select ${uid("i")},
             coalesce(d.email, 'user' || i || '@demo.veza.test'),
             now() - interval '700 days',
             '${hash}',
             coalesce(d.username, lower(f) || '_' || lower(l) || '_' || i),
             f || ' ' || l,
             coalesce(d.role, case when i % 7 = 0 then 'artist' when i % 11 = 0 then 'producer' when i % 5 = 0 then 'creator' else 'user' end)::user_role,
             now() - (random() * 720 + 10) * interval '1 day'
        from generate_series(1, ${n.users}) i
        left join (values ${demos}) d(k, email, username, role) on d.k = i
        cross join lateral (select (${first})[1 + i % ${FIRST.length}] as f, (${last})[1 + (i / ${FIRST.length}) % ${LAST.length}] as l) names`],
    ["user_profiles", `
      insert into user_profiles (user_id, bio, tagline, location, website_url)
      select ${uid("i")},
             case when i % 3 = 0 then 'Making music in ' || (${arr(CITIES)})[1 + i % ${CITIES.length}] || ' since ' || (2000 + i % 24) || '.' end,
             case when i % 4 = 0 then (${arr(GENRES)})[1 + i % ${GENRES.length}] || ' and late nights' end,
             (${arr(CITIES)})[1 + i % ${CITIES.length}],
             case when i % 10 = 0 then 'https://example.com/' || i end
        from generate_series(1, ${n.users}) i`],
    ["tracks", `
      insert into tracks (id, creator_id, title, description, artist, album, genre, tags, visibility, is_downloadable, status,
                          original_filename, format_name, file_size, storage_backend, storage_key, duration_ms, codec,
                          sample_rate, channels, bit_rate, hls_backend, hls_prefix, renditions, published_at, created_at, updated_at, deleted_at)
      select ${tid("i")}, ${uid("c")},
             case when random() < 0.35 then ${cap(title)}
                  when random() < 0.75 then ${cap(title)} || ' ' || ${cap(title)}
                  else ${cap(title)} || ' ' || ${cap(title)} || ' ' || ${cap(title)} end,
             case when i % 4 = 0 then 'A ' || lower(g) || ' track about ' || ${title} || ' and ' || ${title} || '.' end,
             (${first})[1 + c % ${FIRST.length}] || ' ' || (${last})[1 + (c / ${FIRST.length}) % ${LAST.length}],
             case when i % 3 = 0 then ${cap(title)} || ' EP' end,
             g,
             array(select distinct (${arr(TAGS)})[1 + floor(${TAGS.length} * random())::int] from generate_series(1, 1 + i % 4)),
             (case when i % 20 = 0 then 'private' when i % 20 = 1 then 'unlisted' else 'public' end)::visibility,
             i % 10 = 0, 'ready',
             'demo-' || i || '.mp3', 'mp3', 3000000 + (i * 7919) % 9000000, 'local', 'originals/demo/' || i || '.mp3',
             d, 'mp3', 44100, 2, 320000,
             'local', 'hls/demo/' || i || '/', '${JSON.stringify(LADDER_KBPS.map((k) => ({ bitrate_kbps: k, bandwidth: k * 1100, average_bandwidth: k * 1000, codecs: "mp4a.40.2" })))}'::json,
             at, at, at,
             case when i % 100 = 99 then at + interval '1 day' end
        from (select i, ${creatorOf} as c, (${arr(GENRES)})[1 + floor(${GENRES.length} * power(random(), 1.3))::int] as g,
                     90000 + floor(random() * 300000)::int as d,
                     now() - random() * interval '730 days' as at
                from generate_series(1, ${n.tracks}) i) s`],
    // What the tracks' insert trigger (off here) keeps: their search keys, written as it writes them (migration 0014).
    ["track_search_keys", `select refresh_track_search_keys(array(select id from tracks))`],
    // And their rows by tag (migration 0016).
    ["track_tags", `select refresh_track_tags(array(select id from tracks))`],
    // And their words, which a search of several words turns its prefixes into (migration 0017).
    ["search lexemes", `
      insert into track_search_lexemes (lexeme)
      select distinct w from tracks t, unnest(tsvector_to_array(t.search_vector)) w order by 1
      on conflict do nothing`],
    // What a published track has: its finished transcode and a three-rung ladder (the HLS files themselves do not exist).
    ["transcode_jobs", `
      insert into transcode_jobs (id, track_id, status, attempts, max_attempts, progress, started_at, finished_at, created_at, updated_at)
      select md5('veza-demo-job-' || i)::uuid, ${tid("i")}, 'done', 1, 3, 100, t.created_at, t.created_at + interval '20 seconds', t.created_at, t.created_at
        from generate_series(1, ${n.tracks}) i join tracks t on t.id = ${tid("i")}`],
    ["hls_renditions", `
      insert into hls_renditions (track_id, job_id, bitrate_kbps, codecs, bandwidth, average_bandwidth, playlist_path, segment_count)
      select ${tid("i")}, md5('veza-demo-job-' || i)::uuid, k, 'mp4a.40.2', k * 1100, k * 1000, k || 'k/index.m3u8', 30
        from generate_series(1, ${n.tracks}) i, unnest(array[${LADDER_KBPS.join(", ")}]) k`],
    ["track_likes", `
      insert into track_likes (user_id, track_id, created_at, updated_at)
      select ${uid("u")}, ${tid("t")}, at, at
        from (select distinct u, t from (select 1 + floor(${n.users} * random())::int as u, ${popularTrack} as t
                                           from generate_series(1, ${Math.ceil(n.likes * 1.25)})) c
               where ${listedTrack("t")} limit ${n.likes}) p,
             lateral (select now() - random() * interval '365 days' as at) a`],
    ["follows", `
      insert into follows (follower_id, following_id, created_at)
      select ${uid("a")}, ${uid("b")}, now() - random() * interval '365 days'
        from (select distinct a, b from (select 1 + floor(${n.users} * random())::int as a, ${creatorOf} as b
                                           from generate_series(1, ${Math.ceil(n.follows * 1.5)})) c
               where a <> b limit ${n.follows}) p`],
    ["track_comments", `
      insert into track_comments (track_id, user_id, position_ms, content, created_at, updated_at)
      select t.id, ${uid("u")}, case when random() < 0.7 then floor(random() * t.duration_ms)::int end,
             (${arr(COMMENTS)})[1 + floor(${COMMENTS.length} * random())::int], at, at
        from (select 1 + floor(${n.users} * random())::int as u, ${popularTrack} as k, now() - random() * interval '300 days' as at
                from generate_series(1, ${Math.ceil(n.comments * 1.3)})) c
        join tracks t on t.id = ${tid("c.k")}
       where ${listedTrack("c.k")}
       limit ${n.comments}`],
    ["track_plays", `
      insert into track_plays (track_id, user_id, played_ms, source, played_at, created_at, updated_at)
      select ${tid("k")}, ${uid("u")}, 30000 + floor(random() * 150000)::int, (array['web','playlist','search','feed'])[1 + floor(4 * random())::int], at, at, at
        from (select 1 + floor(${n.users} * random())::int as u, ${popularTrack} as k, now() - random() * interval '200 days' as at
                from generate_series(1, ${Math.ceil(n.plays * 1.3)})) c
       where ${listedTrack("k")}
       limit ${n.plays}`],
    ["track_listeners", `
      insert into track_listeners (track_id, listener_key, user_id, play_count, last_counted_at)
      select track_id, 'user:' || user_id, user_id, count(*), max(played_at) from track_plays group by track_id, user_id`],
    ["playlists", `
      insert into playlists (id, user_id, title, description, visibility, is_collaborative, created_at)
      select ${pid("i")}, ${uid(`1 + floor(${n.users} * power(random(), 1.5))::int`)},
             ${cap(title)} || ' ' || (array['Mix','Vibes','Selection','Tape','Rotation','Essentials','Session'])[1 + i % 7],
             case when i % 3 = 0 then 'Hand-picked ' || lower((${arr(GENRES)})[1 + i % ${GENRES.length}]) end,
             (case when i % 10 = 0 then 'private' when i % 10 = 1 then 'unlisted' else 'public' end)::visibility,
             i % 15 = 0, now() - random() * interval '400 days'
        from generate_series(1, ${n.playlists}) i`],
    ["playlist_tracks", `
      insert into playlist_tracks (playlist_id, track_id, position, duration_ms, added_by, added_at, track_concealed)
      select ${pid("c.p")}, t.id, row_number() over (partition by c.p order by c.j), t.duration_ms, p.user_id, p.created_at,
             t.visibility = 'private' or t.hidden_at is not null
        from (select p, j, 1 + ((p * 7919 + j * 104729) % ${n.tracks}) as k
                from generate_series(1, ${n.playlists}) p, generate_series(1, 40) j
               where j <= 3 + p % 38) c
        join tracks t on t.id = ${tid("c.k")}
        join playlists p on p.id = ${pid("c.p")}
       where c.k % 100 <> 99 -- not deleted; some are private, so concealed from all but their creator`],
    ["playlist_follows", `
      insert into playlist_follows (playlist_id, user_id, created_at)
      select distinct on (p, u) ${pid("p")}, ${uid("u")}, now() - random() * interval '200 days'
        from (select 1 + floor(${n.playlists} * power(random(), 2))::int as p, 1 + floor(${n.users} * random())::int as u
                from generate_series(1, ${n.playlists * 4})) c`],
    ["recount tracks", `
      update tracks t
         set like_count = coalesce((select count(*) from track_likes l where l.track_id = t.id), 0),
             comment_count = coalesce((select count(*) from track_comments c where c.track_id = t.id and c.deleted_at is null), 0),
             play_count = coalesce((select count(*) from track_plays p where p.track_id = t.id), 0)`],
    ["recount profiles", `
      update user_profiles p
         set track_count = (select count(*) from tracks t where t.creator_id = p.user_id and t.deleted_at is null and t.visibility <> 'private'),
             follower_count = (select count(*) from follows f where f.following_id = p.user_id),
             following_count = (select count(*) from follows f where f.follower_id = p.user_id),
             playlist_count = (select count(*) from playlists l where l.user_id = p.user_id and l.deleted_at is null and l.visibility = 'public')`],
    ["recount playlists", `
      update playlists l
         set track_count = (select count(*) from playlist_tracks pt where pt.playlist_id = l.id),
             total_duration_ms = coalesce((select sum(duration_ms) from playlist_tracks pt where pt.playlist_id = l.id), 0),
             follower_count = (select count(*) from playlist_follows f where f.playlist_id = l.id)`]
  ] as const
}

/** Every table the seed fills. */
const SEEDED_TABLES = [
  "users", "user_profiles", "tracks", "track_search_keys", "track_tags", "track_search_lexemes", "transcode_jobs", "hls_renditions",
  "track_likes", "track_comments", "track_plays", "track_listeners", "follows", "playlists", "playlist_tracks", "playlist_follows"
]

/** Tables whose user triggers (counters, updated_at) are off while the seed fills them. */
const TRIGGERED_TABLES = ["tracks", "track_likes", "track_comments", "track_plays", "follows", "playlists", "playlist_tracks", "playlist_follows", "user_profiles"]

/**
 * What the triggers would have kept: each counter next to a count of its
 * rows, every word of the tracks in the search vocabulary, each playlist
 * entry's concealment. Every number must be 0. Run inside the seed transaction (it rolls
 * back otherwise) and usable on any database afterwards.
 */
export const COUNTER_CHECK = `
  select
    (select count(*) from tracks t where like_count <> (select count(*) from track_likes l where l.track_id = t.id)
                                      or comment_count <> (select count(*) from track_comments c where c.track_id = t.id and c.deleted_at is null)
                                      or play_count <> (select count(*) from track_plays p where p.track_id = t.id))::int as tracks_off,
    (select count(*) from user_profiles p
      where track_count <> (select count(*) from tracks t where t.creator_id = p.user_id and t.deleted_at is null and t.visibility <> 'private')
         or follower_count <> (select count(*) from follows f where f.following_id = p.user_id)
         or following_count <> (select count(*) from follows f where f.follower_id = p.user_id)
         or playlist_count <> (select count(*) from playlists l where l.user_id = p.user_id and l.deleted_at is null and l.visibility = 'public'))::int as profiles_off,
    (select count(*) from playlists l
      where track_count <> (select count(*) from playlist_tracks pt where pt.playlist_id = l.id)
         or total_duration_ms <> coalesce((select sum(duration_ms) from playlist_tracks pt where pt.playlist_id = l.id), 0)
         or follower_count <> (select count(*) from playlist_follows f where f.playlist_id = l.id)
         or exists (select 1 from playlist_tracks pt where pt.playlist_id = l.id and pt.position > l.track_count))::int as playlists_off,
    (select count(*) from (select w from tracks t, unnest(tsvector_to_array(t.search_vector)) w
                           except select lexeme from track_search_lexemes) missing)::int as lexemes_missing,
    (select count(*) from playlist_tracks pt join tracks t on t.id = pt.track_id
      where pt.track_concealed <> (t.visibility = 'private' or t.hidden_at is not null))::int as entries_off`

export class AlreadySeeded extends Error {}

/**
 * Seeds a migrated database; `log` reports each step. Refuses (AlreadySeeded)
 * when users or tracks exist.
 */
export const seedDemo = async (url: string, sizes: SeedSizes, log: (line: string) => void = () => {}) => {
  for (const [k, v] of Object.entries(sizes)) if (!Number.isSafeInteger(v) || v < 1) throw new Error(`size ${k} must be a positive integer`)
  const client = new pg.Client({ connectionString: url, application_name: "veza-seed" })
  await client.connect()
  const started = performance.now()
  try {
    const [{ users, tracks }] = (await client.query<{ users: number; tracks: number }>(
      "select (select count(*) from users)::int as users, (select count(*) from tracks)::int as tracks"
    )).rows as [{ users: number; tracks: number }]
    if (users > 0 || tracks > 0) {
      throw new AlreadySeeded(`the database already holds ${users} users and ${tracks} tracks: seed:demo only fills an empty one (drop it, or point DATABASE_URL at another)`)
    }
    // One argon2 hash for every account: verifying reads the parameters from the hash.
    const passwordHash = await argon2.hash(DEMO_PASSWORD, { type: argon2.argon2id })
    log(`seeding ${Object.entries(sizes).map(([k, v]) => `${v} ${k}`).join(", ")}`)
    await client.query("begin")
    // Lock the tables first: a concurrent seed waits here, then finds the rows and refuses.
    await client.query(`lock table users, tracks in exclusive mode`)
    const again = await client.query<{ n: number }>("select count(*)::int as n from users")
    if (again.rows[0]!.n > 0) throw new AlreadySeeded("another seed filled the database meanwhile")
    await client.query("select setseed(0.42)")
    await client.query("set local work_mem = '256MB'")
    for (const t of TRIGGERED_TABLES) await client.query(`alter table ${t} disable trigger user`)
    // Each track's ready JSON parts (migration 0015) are written as the row is.
    await client.query("alter table tracks enable trigger trg_tracks_written_json_insert")
    for (const [name, text] of statements(sizes, passwordHash)) {
      const t0 = performance.now()
      const r = await client.query(text)
      log(`${name.padEnd(18)} ${String(r.rowCount ?? 0).padStart(9)} rows ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s`)
    }
    for (const t of TRIGGERED_TABLES) await client.query(`alter table ${t} enable trigger user`)
    const t0 = performance.now()
    const check = (await client.query<Record<string, number>>(COUNTER_CHECK)).rows[0]!
    if (Object.values(check).some((off) => off !== 0)) throw new Error(`counters disagree with rows: ${JSON.stringify(check)}`)
    log(`${"counters checked".padEnd(18)} ${"0 off".padStart(9)}      ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s`)
    await client.query("commit")
  } catch (e) {
    await client.query("rollback").catch(() => {})
    throw e
  } finally {
    await client.end()
  }
  const vacuum = new pg.Client({ connectionString: url })
  await vacuum.connect()
  try {
    // Indexes filled row by row in random key order are up to 3× the size of rebuilt ones (the tracks'
    // GIN index 11 MB against 3.3 MB, and twice as slow to scan): rebuilt, as after any bulk load.
    let t0 = performance.now()
    for (const table of SEEDED_TABLES) await vacuum.query(`reindex table ${table}`)
    log(`${"reindex".padEnd(18)} ${"".padStart(9)}      ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s`)
    // Statistics and the visibility map, so the planner sees the new rows and index-only scans work.
    t0 = performance.now()
    await vacuum.query("vacuum analyze")
    log(`${"vacuum analyze".padEnd(18)} ${"".padStart(9)}      ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s`)
  } finally {
    await vacuum.end()
  }
  return { seconds: (performance.now() - started) / 1000 }
}

/** Applies the app's migrations (what `node dist/src/main.js migrate` does). */
export const migrateDatabase = (url: string) =>
  Effect.runPromise(
    Effect.flatMap(loadMigrations(NodePath.resolve("migrations")), migrate).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(url) })),
      Effect.scoped
    )
  )

const main = async () => {
  const scale = Number(process.env["SEED_SCALE"] ?? 1)
  if (!(scale > 0 && scale <= 10)) throw new Error("SEED_SCALE must be a number in (0, 10]")
  const sizes = scale === 1 ? FULL : scaled(scale)
  let url = process.env["DATABASE_URL"]
  const scope = Effect.runSync(Scope.make())
  try {
    if (url === undefined || url === "") {
      // The same embedded cluster `npm start` uses when DATABASE_URL is unset.
      const { embeddedPostgres } = await import("../src/platform/embedded-postgres.js")
      const dir = NodePath.resolve(process.env["DATA_DIR"] ?? "./data", "pg")
      console.log(`DATABASE_URL is not set: seeding the embedded PostgreSQL under ${dir}`)
      url = Redacted.value(await Effect.runPromise(Scope.extend(embeddedPostgres(dir), scope)))
    }
    await migrateDatabase(url)
    const { seconds } = await seedDemo(url, sizes, (line) => console.log(`  ${line}`))
    console.log(`done in ${seconds.toFixed(1)} s. Demo logins (password "${DEMO_PASSWORD}", same for every seeded account):`)
    for (const d of DEMO_LOGINS) console.log(`  ${d.email.padEnd(24)} ${d.username.padEnd(12)} ${d.role}`)
    console.log(`  user<N>@demo.veza.test for N in 4..${sizes.users}`)
  } catch (e) {
    if (e instanceof AlreadySeeded) {
      console.error(`seed:demo: ${e.message}`)
      process.exitCode = 1
    } else throw e
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
