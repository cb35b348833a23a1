import { Effect } from "effect"
import type { Actor } from "../auth/current-user.js"
import { isAdmin } from "../auth/policy.js"
import { BadRequest } from "../platform/api-errors.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { type Ranked, type RankPosition, SearchRepo } from "./repo.js"
import type { SearchHit, SearchType } from "./schema.js"
import { isUuid } from "../platform/text.js"
import { SearchKeyStats } from "./key-stats.js"
import { isPlainWord, prefixQuery, searchWords } from "./query.js"

/**
 * A track search of several words, all this common (estimated tracks per
 * key, SearchKeyStats), reads its pages from the keys of its rarest word
 * (see SearchRepo): the GIN index would AND the words' long posting lists
 * (2 ms for `night tra` on the demo seed, 11k and 26k tracks). Rarer words
 * leave GIN little to read.
 */
export const COMMON_WORD_TRACKS = 5000

/** Where a page ends, and for a search led by one word's keys, that word (the next pages keep the order it gave). */
interface Cursor {
  readonly position: RankPosition
  readonly driver: string | undefined
}

const encodeCursor = (p: RankPosition, driver: string | undefined) =>
  Buffer.from(JSON.stringify(driver === undefined ? [p.rank, p.id] : [p.rank, p.id, driver])).toString("base64url")
const invalidCursor = () => BadRequest.of("cursor is not one this API returned", "INVALID_CURSOR")
const decodeCursor = (cursor: string | undefined) =>
  Effect.suspend(() => {
    if (cursor === undefined) return Effect.succeed(undefined)
    try {
      const [rank, id, driver, ...rest] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as Array<unknown>
      // The rank goes back to PostgreSQL as a real: anything a real cannot hold is a bad cursor, not a failed query.
      const value = typeof rank === "string" && /^\d+(?:\.\d+)?(?:e-?\d+)?$/.test(rank) ? Number(rank) : Number.NaN
      const isReal = value === 0 || (value >= 1.2e-38 && value <= 3.4e38)
      if (typeof rank === "string" && isReal && typeof id === "string" && isUuid(id) && (driver === undefined || typeof driver === "string") && rest.length === 0) {
        return Effect.succeed<Cursor>({ position: { rank, id }, driver })
      }
    } catch {
      // falls through to the refusal
    }
    return Effect.fail(invalidCursor())
  })

interface SearchInput {
  readonly q: string
  readonly type: SearchType
  readonly cursor: string | undefined
  readonly limit: number
}

/**
 * Ranked full-text search over what the caller may see. Each type is one
 * branch here and one query in the repo.
 */
export class Search extends Effect.Service<Search>()("veza/Search", {
  effect: Effect.gen(function* () {
    const repo = yield* SearchRepo
    const keyStats = yield* SearchKeyStats

    /** The page of `rows` (limit + 1 of them: one more tells there is a next page) and its cursor. */
    const pageOf = <A extends { readonly position: RankPosition }>(rows: ReadonlyArray<A>, limit: number, driver: string | undefined) => {
      const items = rows.slice(0, limit)
      return { items, next_cursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.position, driver) : null }
    }

    /** The word whose keys lead a track search of several common plain words (COMMON_WORD_TRACKS), the rarest; none for others. */
    const leadingWord = (words: ReadonlyArray<string>) =>
      words.length < 2 || !words.every(isPlainWord)
        ? Effect.succeed(undefined)
        : Effect.map(keyStats.tracksWith(words), (counts) => {
            const fewest = Math.min(...counts)
            return fewest < COMMON_WORD_TRACKS ? undefined : words[counts.indexOf(fewest)]
          })

    /**
     * The query's words and tsquery, the cursor's position, the viewer and
     * (tracks) the word leading the search; undefined when `q` has no words.
     * A cursor keeps the leading word of its first page, or none.
     */
    const parse = (actor: Actor | undefined, input: Pick<SearchInput, "q" | "cursor">, tracks: boolean) =>
      Effect.gen(function* () {
        const cursor = yield* decodeCursor(input.cursor)
        const words = searchWords(input.q)
        const tsquery = prefixQuery(words)
        if (tsquery === undefined) return undefined
        const fromCursor = cursor?.driver
        if (fromCursor !== undefined && !(tracks && words.length > 1 && words.every(isPlainWord) && words.includes(fromCursor))) {
          return yield* Effect.fail(invalidCursor())
        }
        const driver = !tracks ? undefined : cursor === undefined ? yield* leadingWord(words) : fromCursor
        return { words, tsquery, position: cursor?.position, driver, viewer: { id: actor?.id, admin: actor !== undefined && isAdmin(actor) } }
      })

    const search = (actor: Actor | undefined, input: SearchInput) =>
      Effect.gen(function* () {
        const parsed = yield* parse(actor, input, input.type === "tracks")
        if (parsed === undefined) return { items: [], next_cursor: null }
        const { words, tsquery, position, viewer, driver } = parsed
        const rows: ReadonlyArray<Ranked<SearchHit>> = yield* input.type === "users"
          ? repo.users(tsquery, viewer, position, input.limit)
          : input.type === "playlists"
            ? repo.playlists(tsquery, viewer, position, input.limit)
            : repo.tracks(words, tsquery, viewer, position, input.limit, driver)
        const { items, next_cursor } = pageOf(rows, input.limit, driver)
        return { items: items.map((r) => r.hit), next_cursor }
      }).pipe(sqlErrors)

    /** A track search's SearchResults as JSON text, from hits PostgreSQL wrote (HTTP's hot read; RPC encodes `search`'s values). */
    const tracksJson = (actor: Actor | undefined, input: Omit<SearchInput, "type">) =>
      Effect.gen(function* () {
        const parsed = yield* parse(actor, input, true)
        if (parsed === undefined) return `{"items":[],"next_cursor":null}`
        const { words, tsquery, viewer, position, driver } = parsed
        const { items, next_cursor } = pageOf(yield* repo.tracksJson(words, tsquery, viewer, position, input.limit, driver), input.limit, driver)
        return `{"items":[${items.map((r) => r.json).join(",")}],"next_cursor":${JSON.stringify(next_cursor)}}`
      }).pipe(sqlErrors)

    return { search, tracksJson } as const
  }),
  dependencies: [SearchRepo.Default, SearchKeyStats.Default]
}) {}
