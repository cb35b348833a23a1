import { HttpApiBuilder, type Headers } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, isAnonymous, withOptionalActor } from "../auth/authentication.js"
import { PublicReadCache } from "../platform/public-read-cache.js"
import type { SearchParams } from "./api.js"
import { SearchRpcs } from "./rpc.js"
import { SearchResults } from "./schema.js"
import { Search } from "./service.js"

const paramsOf = (params: typeof SearchParams.Type) => ({ q: params.q, type: params.type ?? "tracks", cursor: params.cursor, limit: params.limit ?? 20 })

/** What HTTP and RPC both answer, given the parsed parameters and the request's headers. */
const SearchOperation = Effect.gen(function* () {
  const search = yield* Search
  const maybeActor = withOptionalActor(yield* Authenticator)
  return {
    values: (params: typeof SearchParams.Type, headers: Headers.Headers) => maybeActor(headers, (actor) => search.search(actor, paramsOf(params))),
    tracksJson: (params: typeof SearchParams.Type, headers: Headers.Headers) => maybeActor(headers, (actor) => search.tracksJson(actor, paramsOf(params)))
  }
})

export const SearchHandlers = HttpApiBuilder.group(VezaApi, "search", (handlers) =>
  Effect.gen(function* () {
    const search = yield* SearchOperation
    const cache = yield* PublicReadCache
    // Hits are built in their encoded shape (test/platform/encoded-json.test.ts): type-ahead is a hot read.
    const resultsJson = cache.json(SearchResults)
    return handlers.handle("search", ({ urlParams, request }) => {
      const key = `search ${JSON.stringify(urlParams)}`
      // Track hits are written by PostgreSQL, and kept for anonymous callers. User and playlist hits carry
      // counters that follows and playlist edits move: never kept.
      return (urlParams.type ?? "tracks") === "tracks"
        ? cache.text(isAnonymous(request.headers), key, search.tracksJson(urlParams, request.headers))
        : resultsJson(false, key, search.values(urlParams, request.headers))
    })
  })
)

export const SearchRpcHandlers = SearchRpcs.toLayer(
  Effect.gen(function* () {
    const search = yield* SearchOperation
    return { "search.search": (params, { headers }) => search.values(params, headers) }
  })
)
