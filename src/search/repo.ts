import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { UserId } from "../users/schema.js"
import type { PlaylistHit, TrackHit, UserHit } from "./schema.js"

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
 * How many matching tracks one search ranks at most. ts_rank needs each
 * match's row, so the cost of a search grows with its matches (~4 µs each
 * here): a common three-letter prefix matches a quarter of a 100k-track
 * catalog. Past this many, the ranked set is the first matches the scan
 * yields (table order), the same set for every page of one query. Selective queries (under
 * this many visible matches) are ranked exactly. See docs/performance.md.
 */
export const MAX_RANKED_TRACKS = 500

/**
 * One query per kind of result, each `@@` against a GIN-indexed tsvector
 * and ordered by ts_rank. The tsquery text comes from `prefixQuery`, and is
 * still passed as a parameter.
 */
export class SearchRepo extends Effect.Service<SearchRepo>()("veza/SearchRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    /**
     * Private and unlisted tracks are found only by their owner (and admins);
     * others find public tracks that are ready to play. Deleted ones (and
     * those of deleted accounts), never. Ranked over tracks alone; the
     * creator's name is joined to the page's rows only.
     *
     * The matches are a MATERIALIZED CTE so PostgreSQL plans them for all
     * rows (a bitmap scan of the GIN index, or, for a word in a large part of
     * the catalogue, a sequential scan) and reads them only as far as the
     * MAX_RANKED_TRACKS that are ranked. Under a plain LIMIT the planner took a
     * sequential scan for moderately common words, assuming matches come early,
     * unless every match paid for a correlated lookup of its creator (~2 µs
     * each); deleted accounts are now one anti-join against their few rows.
     *
     * The CTE keeps only what ranking needs (id and search_vector): every
     * column it carries is copied into its tuplestore for each of up to 500
     * matches, and that copy was a third of the PostgreSQL CPU of a search
     * like `sunset`. The page's own columns are read by primary key for its
     * rows only.
     */
    const tracks = (tsquery: string, viewer: Viewer, position: RankPosition | undefined, limit: number) =>
      sql<Omit<TrackHit, "type" | "rank"> & { rank: string }>`
        with matches as materialized (
          select t.id, t.search_vector
            from tracks t
           where t.search_vector @@ to_tsquery('simple', ${tsquery}) and t.deleted_at is null
             and not exists (select 1 from users d where d.id = t.creator_id and d.deleted_at is not null)
             ${
               viewer.admin
                 ? sql``
                 : viewer.id === undefined
                   ? sql`and t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null`
                   : sql`and ((t.visibility = 'public' and t.status = 'ready' and t.hidden_at is null) or t.creator_id = ${viewer.id})`
             })
        select t.id, t.title, t.artist, t.creator_id, u.username as creator_username, t.genre, t.tags, t.duration_ms,
               t.visibility, t.created_at, c.rank::text as rank
          from (select m.id, ts_rank(m.search_vector, q.query) as rank
                  from to_tsquery('simple', ${tsquery}) as q(query),
                       (select * from matches limit ${MAX_RANKED_TRACKS}) m
                 ${position === undefined ? sql`` : sql`where (ts_rank(m.search_vector, q.query), m.id) < (${position.rank}::real, ${position.id}::uuid)`}
                 order by rank desc, m.id desc
                 limit ${limit + 1}) c
          join tracks t on t.id = c.id
          join users u on u.id = t.creator_id
         order by c.rank desc, c.id desc`.pipe(
        Effect.map((rows) => rows.map((r): Ranked<TrackHit> => ({ hit: { type: "track", ...r, rank: Number(r.rank) }, position: { rank: r.rank, id: r.id } })))
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
                   ${position === undefined ? sql`` : sql`and (ts_rank(u.search_vector, q.query), u.id) < (${position.rank}::real, ${position.id}::uuid)`}
                 order by rank desc, u.id desc
                 limit ${limit + 1}) c
          join users u on u.id = c.id
          join user_profiles p on p.user_id = c.id
         order by c.rank desc, c.id desc`.pipe(
        Effect.map((rows) => rows.map((r): Ranked<UserHit> => ({ hit: { type: "user", ...r, rank: Number(r.rank) }, position: { rank: r.rank, id: r.id } })))
      )
    }

    /**
     * Public playlists, and the viewer's own whatever their visibility (and
     * those they collaborate on); admins find all. Deleted ones, never.
     */
    const playlists = (tsquery: string, viewer: Viewer, position: RankPosition | undefined, limit: number) =>
      sql<Omit<PlaylistHit, "type" | "rank"> & { rank: string }>`
        select p.id, p.title, p.description, p.user_id as owner_id, u.username as owner_username, p.visibility, p.track_count,
               p.follower_count, ts_rank(p.search_vector, q.query)::text as rank
          from to_tsquery('simple', ${tsquery}) as q(query), playlists p join users u on u.id = p.user_id
         where p.search_vector @@ q.query and p.deleted_at is null and u.deleted_at is null
           ${
             viewer.admin
               ? sql``
               : viewer.id === undefined
                 ? sql`and p.visibility = 'public'`
                 : sql`and (p.visibility = 'public' or p.user_id = ${viewer.id}
                            or exists (select 1 from playlist_collaborators c where c.playlist_id = p.id and c.user_id = ${viewer.id}))`
           }
           ${position === undefined ? sql`` : sql`and (ts_rank(p.search_vector, q.query), p.id) < (${position.rank}::real, ${position.id}::uuid)`}
         order by ts_rank(p.search_vector, q.query) desc, p.id desc
         limit ${limit + 1}`.pipe(
        Effect.map((rows) =>
          rows.map((r): Ranked<PlaylistHit> => ({ hit: { type: "playlist", ...r, rank: Number(r.rank) }, position: { rank: r.rank, id: r.id } }))
        )
      )

    return { tracks, users, playlists } as const
  })
}) {}
