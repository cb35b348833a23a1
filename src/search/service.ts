import { Effect } from "effect"
import type { Actor } from "../auth/current-user.js"
import { isAdmin } from "../auth/policy.js"
import { BadRequest } from "../platform/api-errors.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { type Ranked, type RankPosition, SearchRepo } from "./repo.js"
import type { SearchHit, SearchType } from "./schema.js"
import { isUuid } from "../platform/text.js"
import { prefixQuery, searchWords } from "./query.js"

const encodeCursor = (p: RankPosition) => Buffer.from(JSON.stringify([p.rank, p.id])).toString("base64url")
const decodeCursor = (cursor: string | undefined) =>
  Effect.suspend(() => {
    if (cursor === undefined) return Effect.succeed(undefined)
    try {
      const [rank, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [unknown, unknown]
      // The rank goes back to PostgreSQL as a real: anything a real cannot hold is a bad cursor, not a failed query.
      const value = typeof rank === "string" && /^\d+(?:\.\d+)?(?:e-?\d+)?$/.test(rank) ? Number(rank) : Number.NaN
      const isReal = value === 0 || (value >= 1.2e-38 && value <= 3.4e38)
      if (typeof rank === "string" && isReal && typeof id === "string" && isUuid(id)) {
        return Effect.succeed<RankPosition>({ rank, id })
      }
    } catch {
      // falls through to the refusal
    }
    return Effect.fail(BadRequest.of("cursor is not one this API returned", "INVALID_CURSOR"))
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

    /** The page of `rows` (limit + 1 of them: one more tells there is a next page) and its cursor. */
    const pageOf = <A extends { readonly position: RankPosition }>(rows: ReadonlyArray<A>, limit: number) => {
      const items = rows.slice(0, limit)
      return { items, next_cursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.position) : null }
    }

    /** The query's words and tsquery, the cursor's position and the viewer; undefined when `q` has no words. */
    const parse = (actor: Actor | undefined, input: Pick<SearchInput, "q" | "cursor">) =>
      Effect.map(decodeCursor(input.cursor), (position) => {
        const words = searchWords(input.q)
        const tsquery = prefixQuery(words)
        return tsquery === undefined ? undefined : { words, tsquery, position, viewer: { id: actor?.id, admin: actor !== undefined && isAdmin(actor) } }
      })

    const search = (actor: Actor | undefined, input: SearchInput) =>
      Effect.gen(function* () {
        const parsed = yield* parse(actor, input)
        if (parsed === undefined) return { items: [], next_cursor: null }
        const { words, tsquery, position, viewer } = parsed
        const rows: ReadonlyArray<Ranked<SearchHit>> = yield* input.type === "users"
          ? repo.users(tsquery, viewer, position, input.limit)
          : input.type === "playlists"
            ? repo.playlists(tsquery, viewer, position, input.limit)
            : repo.tracks(words, tsquery, viewer, position, input.limit)
        const { items, next_cursor } = pageOf(rows, input.limit)
        return { items: items.map((r) => r.hit), next_cursor }
      }).pipe(sqlErrors)

    /** A track search's SearchResults as JSON text, from hits PostgreSQL wrote (HTTP's hot read; RPC encodes `search`'s values). */
    const tracksJson = (actor: Actor | undefined, input: Omit<SearchInput, "type">) =>
      Effect.gen(function* () {
        const parsed = yield* parse(actor, input)
        if (parsed === undefined) return `{"items":[],"next_cursor":null}`
        const { items, next_cursor } = pageOf(yield* repo.tracksJson(parsed.words, parsed.tsquery, parsed.viewer, parsed.position, input.limit), input.limit)
        return `{"items":[${items.map((r) => r.json).join(",")}],"next_cursor":${JSON.stringify(next_cursor)}}`
      }).pipe(sqlErrors)

    return { search, tracksJson } as const
  }),
  dependencies: [SearchRepo.Default]
}) {}
