import { SqlClient } from "@effect/sql"
import { Duration, Effect, Ref, Schedule } from "effect"

/** How often the estimates are read again; ANALYZE (autovacuum's, or an operator's) is what changes them. */
const REFRESH_EVERY = Duration.minutes(5)

/**
 * How many publicly listed tracks the most common search keys have, as
 * PostgreSQL's statistics of `track_search_keys` estimate it: the list of
 * most common values ANALYZE keeps (about a hundred keys) times the rows of
 * the table. A key outside it is rarer than those in it. Read at start and
 * every REFRESH_EVERY; a search of several words that are all common reads
 * its pages from the keys (src/search/repo.ts).
 */
export class SearchKeyStats extends Effect.Service<SearchKeyStats>()("veza/SearchKeyStats", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const estimates = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
    const read = sql<{ keys: ReadonlyArray<string> | null; freqs: ReadonlyArray<number> | null; rows: number }>`
      select s.most_common_vals::text::text[] as keys, s.most_common_freqs as freqs, c.reltuples::float8 as rows
        from pg_class c
        left join pg_stats s on s.schemaname = current_schema() and s.tablename = c.relname and s.attname = 'key'
       where c.oid = 'track_search_keys'::regclass`.pipe(
      Effect.map(([r]) => {
        // No statistics yet (never analyzed): no row of pg_stats, and reltuples -1.
        const freqs = r?.freqs
        if (r?.keys == null || freqs == null) return new Map<string, number>()
        const rows = Math.max(r.rows, 0)
        return new Map(r.keys.map((key, i) => [key, Math.round((freqs[i] ?? 0) * rows)]))
      }),
      Effect.flatMap((m) => Ref.set(estimates, m)),
      // Without estimates every search takes the GIN path: slower for common words, never wrong.
      Effect.catchAll((e) => Effect.logWarning("search key statistics could not be read", e))
    )
    yield* read
    yield* Effect.forkScoped(Effect.schedule(read, Schedule.spaced(REFRESH_EVERY)))
    /** The estimated tracks of each key; 0 for one outside the most common. */
    const tracksWith = (keys: ReadonlyArray<string>) => Effect.map(Ref.get(estimates), (m) => keys.map((k) => m.get(k) ?? 0))
    return { tracksWith } as const
  })
}) {}
