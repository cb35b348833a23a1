import { SqlClient } from "@effect/sql"
import type { Statement } from "@effect/sql"
import { Effect } from "effect"
import type { UserId } from "../users/schema.js"
import type { PlaylistHit, TrackHit, UserHit } from "./schema.js"
import { rowLimit } from "../platform/cursor.js"
import { isPlainWord, isPrefixWord, prefixQuery } from "./query.js"

/** Who is searching: what they may see depends on it. */
export interface Viewer {
  readonly id: UserId | undefined
  readonly admin: boolean
}

/**
 * A keyset position in a ranked list: the rank exactly as PostgreSQL printed
 * it (a real that reads back as the same real) and the id breaking ties.
 */
export interface RankPosition {
  readonly rank: string
  readonly id: string
}

export interface Ranked<A> {
  readonly hit: A
  readonly position: RankPosition
}

/**
 * How many tracks a search of several words ranks at most (see
 * `rankedTracks`). Past this many matches, the ranked set is the first
 * matches the GIN bitmap yields (table order), the same set for every page
 * of one query.
 */
export const MAX_RANKED_TRACKS = 500

/**
 * How many words a prefix of a track search of several words is replaced by
 * at most (see `wordsQuery`); one beginning more stays a prefix.
 */
export const MAX_PREFIX_WORDS = 64

/**
 * One query per kind of result, each ranked by ts_rank. Users and playlists
 * are `@@` against a GIN-indexed tsvector; tracks mostly read
 * `track_search_keys` (migration 0014). The tsquery text comes from
 * `prefixQuery`, and is still passed as a parameter.
 */
export class SearchRepo extends Effect.Service<SearchRepo>()("veza/SearchRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    /**
     * The tsquery of plain words, each prefix replaced by the words of track
     * search vectors it begins (migration 0017): `night & (drift | drifting)`
     * for `night dri`. It matches the same tracks as the prefixes, but the
     * GIN index reads a prefix by merging the posting lists of all its words
     * first, and a common word's whole list with them (2.6 ms for `night dri`
     * on the demo seed), while it skips through words' lists to the entries
     * the others share (0.15 ms). A prefix beginning no word, or more than
     * MAX_PREFIX_WORDS, stays a prefix. A prefix's words are the range from
     * it up to it followed by the last code point, in byte order as tsquery
     * compares.
     */
    const wordsQuery = (words: ReadonlyArray<string>) => {
      // A subquery per word rather than one over an array of them: PostgreSQL then costs its generic plan as
      // it does the custom ones, and keeps it (planning was 0.35 ms of a 0.8 ms query; an array's unnest is
      // costed at 10 words in a generic plan).
      const operand = (word: string) =>
        isPrefixWord(word)
          ? sql`(select case when count(*) between 1 and ${MAX_PREFIX_WORDS} then '(' || string_agg(tsquery_operand(l.lexeme), ' | ') || ')'
                             else tsquery_operand(${word}::text) || ':*' end
                   from (select l.lexeme from track_search_lexemes l
                          where l.lexeme >= ${word}::text collate "C" and l.lexeme < (${word}::text || chr(1114111)) collate "C"
                          limit ${rowLimit(MAX_PREFIX_WORDS + 1)}) l)`
          : sql`tsquery_operand(${word}::text)`
      return sql`(${sql.join(" || ' & ' || ", false)(words.map(operand))})::tsquery`
    }

    /**
     * The end of a ranking subquery over `alias` (users u, playlists p)
     * matched against `q.query`: the hits after the cursor's, best first,
     * one more than a page.
     */
    const rankedPage = (alias: "u" | "p", position: RankPosition | undefined, limit: number) => {
      const table = sql.literal(alias)
      return sql`
        ${position === undefined ? sql`` : sql`and (ts_rank(${table}.search_vector, q.query), ${table}.id) < (${position.rank}::real, ${position.id}::uuid)`}
        order by rank desc, ${table}.id desc
        limit ${rowLimit(limit + 1)}`
    }

    /** Rows of a ranked search as hits of `type`, each with the position a cursor after it holds. */
    const rankedHits =
      <T extends string>(type: T) =>
      <R extends { id: string; rank: string }>(rows: ReadonlyArray<R>) =>
        rows.map((r) => ({ hit: { type, ...r, rank: Number(r.rank) }, position: { rank: r.rank, id: r.id } }))

    /**
     * Private and unlisted tracks are found only by their owner (and admins);
     * others find public tracks that are ready to play. Deleted ones (and
     * those of deleted accounts), never.
     *
     * The publicly listed tracks come from `track_search_keys`, whose keys
     * are the search's words (a word's prefixes, or a short word itself) and
     * whose rank is ts_rank against that word: one word reads its page
     * straight off the index in rank order, however many tracks match. The
     * viewer's own non-listed tracks (every non-listed one for admins) are
     * ranked from the GIN index, as all visible matches are when
     * PostgreSQL's parser reads a word differently from `searchWords` (then
     * the keys would not be the query's words). Each branch is a keyset page
     * of its own, merged by rank. Several words are ranked from the GIN
     * index, at most MAX_RANKED_TRACKS of their matches; when `driver` (one
     * of them) is given, by that word's keys instead, as for one word, each
     * track checked for the others.
     */
    const rankedTracks = (words: ReadonlyArray<string>, tsquery: string, viewer: Viewer, position: RankPosition | undefined, limit: number, driver: string | undefined) => {
      // Whether the words are the keys: plain words are each their own key; other words are checked against
      // the parser (per query: planning the fallback branch costs as much as running the keys' branch).
      const plain = words.every(isPlainWord)
      const keyed = plain ? sql`true` : sql`${tsquery}::tsquery = to_tsquery('simple', ${tsquery})`
      const listed = sql`t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null`
      const after = (rank: Statement.Fragment, id: Statement.Fragment) =>
        position === undefined ? sql`` : sql`and (${rank}, ${id}) < (${position.rank}::real, ${position.id}::uuid)`
      const own = viewer.admin ? sql`true` : viewer.id === undefined ? undefined : sql`t.creator_id = ${viewer.id}`
      const visible = own === undefined ? listed : sql`(${listed} or ${own})`
      /** Tracks of the GIN index matching the query, `t` being the track: not deleted, nor their creator. */
      const ginMatches = (query: Statement.Fragment = sql`to_tsquery('simple', ${tsquery})`) => sql`t.search_vector @@ ${query} and t.deleted_at is null
               and not exists (select 1 from users d where d.id = t.creator_id and d.deleted_at is not null)`
      if (words.length > 1 && driver === undefined) {
        // Several words: the GIN bitmap ANDs their posting lists, which leaves few tracks for most
        // queries. Joining the words' keys read every key of the first word instead (~10k for
        // `night`: 11 ms alone for `night dri`, against ~5 ms this way, ~0.5 ms with `wordsQuery`).
        // A materialized CTE, so that PostgreSQL plans the bitmap for all matches rather than a scan
        // it expects to stop early. Ranked against the query as typed, whichever matched.
        return sql`
          with matches as materialized (
            select t.id, t.search_vector
              from tracks t
             where ${ginMatches(plain ? wordsQuery(words) : undefined)} and ${visible})
          select m.id, ts_rank(m.search_vector, q.query) as rank
            from to_tsquery('simple', ${tsquery}) as q(query), (select * from matches limit ${rowLimit(MAX_RANKED_TRACKS)}) m
           where true ${after(sql`ts_rank(m.search_vector, q.query)`, sql`m.id`)}
           order by rank desc, m.id desc
           limit ${rowLimit(limit + 1)}`
      }
      // One word's page, or several words' candidates in the rank order of the one leading them (`driver`), each
      // kept when it has the other words' keys too (index-only probes, migration 0020; a scalar subquery, which
      // PostgreSQL runs per candidate, where it turned `exists` into a join reading every key of the others): a page reads
      // ~21 / (the share of the driver's tracks that match) keys, where the GIN index would AND the common
      // words' whole posting lists.
      const key = driver ?? words[0]!
      const rankQuery = words.length === 1 ? tsquery : prefixQuery([key])!
      const others = words.filter((w) => w !== key)
      const fromKeys = sql`select s.track_id as id, s.rank
                             from track_search_keys s
                            where s.key = ${key} and ${keyed}
                                  ${sql.join(" ", false)(others.map((w) => sql`and (select true from track_search_keys o where o.track_id = s.track_id and o.key = ${w} limit 1)`))}
                                  ${after(sql`s.rank`, sql`s.track_id`)}
                            order by s.rank desc, s.track_id desc
                            limit ${rowLimit(limit + 1)}`
      const fromGin = (condition: Statement.Fragment) => sql`
        select t.id, ts_rank(t.search_vector, q.query) as rank
          from to_tsquery('simple', ${rankQuery}) as q(query), tracks t
         where ${ginMatches(words.length === 1 ? undefined : wordsQuery(words))} and ${condition}
           ${after(sql`ts_rank(t.search_vector, q.query)`, sql`t.id`)}
         order by rank desc, t.id desc
         limit ${rowLimit(limit + 1)}`
      const branches = [
        fromKeys,
        ...(plain ? [] : [fromGin(sql`not (${keyed}) and ${visible}`)]),
        ...(own === undefined ? [] : [fromGin(sql`${keyed} and not (${listed}) and ${own}`)])
      ]
      if (branches.length === 1) return fromKeys
      return sql`
        select m.id, m.rank from (${sql.join(" union all ", false)(branches.map((b) => sql`(${b})`))}) m
         order by m.rank desc, m.id desc
         limit ${rowLimit(limit + 1)}`
    }

    /** A subquery rather than a join: PostgreSQL plans it in about half the time (~0.1 ms a search). */
    const creatorUsername = sql`(select u.username from users u where u.id = t.creator_id)`

    const tracks = (words: ReadonlyArray<string>, tsquery: string, viewer: Viewer, position: RankPosition | undefined, limit: number, driver: string | undefined) =>
      sql<Omit<TrackHit, "type" | "rank"> & { rank: string }>`
        select t.id, t.title, t.artist, t.creator_id, ${creatorUsername} as creator_username, t.genre, t.tags, t.duration_ms,
               t.visibility, t.created_at, c.rank::text as rank
          from (${rankedTracks(words, tsquery, viewer, position, limit, driver)}) c
          join tracks t on t.id = c.id
         order by c.rank desc, c.id desc`.pipe(
        Effect.map((rows): Array<Ranked<TrackHit>> => rankedHits("track")(rows))
      )

    /**
     * `tracks`, each hit as its JSON text in TrackHit's encoded form, written
     * by PostgreSQL as track lists are: the row keeps the hit's parts
     * (migration 0018) around the creator's username, read here. The server
     * then neither parses rows nor stringifies values. The rank is appended
     * here, from its text as the value path reads it: PostgreSQL writes a
     * small real in exponent form (`1.5e-05`) where JSON.stringify does not.
     */
    const tracksJson = (words: ReadonlyArray<string>, tsquery: string, viewer: Viewer, position: RankPosition | undefined, limit: number, driver: string | undefined) =>
      sql<{ json: string; id: string; rank: string }>`
        select t.hit_json_head || ',"creator_username":' || to_json(${creatorUsername})::text || t.hit_json_tail as json, c.id, c.rank::text as rank
          from (${rankedTracks(words, tsquery, viewer, position, limit, driver)}) c
          join tracks t on t.id = c.id
         order by c.rank desc, c.id desc`.pipe(
        Effect.map((rows) => rows.map((r) => ({ json: `${r.json},"rank":${JSON.stringify(Number(r.rank))}}`, position: { rank: r.rank, id: r.id } })))
      )

    /**
     * Active accounts; a private profile is found only by its owner and
     * admins. Ranked over users alone (the profile checked per match through
     * its unique index); profiles are joined to the page's rows only.
     */
    const users = (tsquery: string, viewer: Viewer, position: RankPosition | undefined, limit: number) => {
      const visibleProfile = sql`(select p.profile_visibility <> 'private' from user_profiles p where p.user_id = u.id)`
      return sql<Omit<UserHit, "type" | "rank"> & { rank: string }>`
        select u.id, u.username, u.display_name, p.avatar_url, p.follower_count, c.rank::text as rank
          from (select u.id, ts_rank(u.search_vector, q.query) as rank
                  from to_tsquery('simple', ${tsquery}) as q(query), users u
                 where u.search_vector @@ q.query and u.deleted_at is null and u.is_active and not u.is_banned
                   ${viewer.admin ? sql`` : viewer.id === undefined ? sql`and ${visibleProfile}` : sql`and (u.id = ${viewer.id} or ${visibleProfile})`}
                   ${rankedPage("u", position, limit)}) c
          join users u on u.id = c.id
          join user_profiles p on p.user_id = c.id
         order by c.rank desc, c.id desc`.pipe(Effect.map((rows): Array<Ranked<UserHit>> => rankedHits("user")(rows)))
    }

    /**
     * Public playlists, and the viewer's own whatever their visibility (and
     * those they collaborate on); admins find all. Deleted ones, never. The
     * count leaves out tracks concealed from the viewer, as playlists do.
     */
    const playlists = (tsquery: string, viewer: Viewer, position: RankPosition | undefined, limit: number) =>
      sql<Omit<PlaylistHit, "type" | "rank"> & { rank: string }>`
        select p.id, p.title, p.description, p.user_id as owner_id, u.username as owner_username, p.visibility,
               p.track_count - (select count(*) from playlist_concealed_entries(p.id, ${viewer.id ?? null}, ${viewer.admin}))::integer as track_count,
               p.follower_count, c.rank::text as rank
          from (select p.id, ts_rank(p.search_vector, q.query) as rank
                  from to_tsquery('simple', ${tsquery}) as q(query), playlists p
                 where p.search_vector @@ q.query and p.deleted_at is null
                   and not exists (select 1 from users u where u.id = p.user_id and u.deleted_at is not null)
                   ${
                     viewer.admin
                       ? sql``
                       : viewer.id === undefined
                         ? sql`and p.visibility = 'public'`
                         : sql`and (p.visibility = 'public' or p.user_id = ${viewer.id}
                                    or exists (select 1 from playlist_collaborators c where c.playlist_id = p.id and c.user_id = ${viewer.id}))`
                   }
                   ${rankedPage("p", position, limit)}) c
          join playlists p on p.id = c.id
          join users u on u.id = p.user_id
         order by c.rank desc, c.id desc`.pipe(Effect.map((rows): Array<Ranked<PlaylistHit>> => rankedHits("playlist")(rows)))

    return { tracks, tracksJson, users, playlists } as const
  })
}) {}
