import { HttpApiBuilder, type Headers } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, isAnonymous, withOptionalActor } from "../auth/authentication.js"
import { PublicReadCache } from "../platform/public-read-cache.js"
import type { SearchParams } from "./api.js"
import { SearchRpcs } from "./rpc.js"
import { SearchResults } from "./schema.js"
import { Search } from "./service.js"

/** What HTTP and RPC both answer, given the parsed parameters and the request's headers. */
const SearchOperation = Effect.gen(function* () {
  const search = yield* Search
  const maybeActor = withOptionalActor(yield* Authenticator)
  return (params: typeof SearchParams.Type, headers: Headers.Headers) =>
    maybeActor(headers, (actor) =>
      search.search(actor, { q: params.q, type: params.type ?? "tracks", cursor: params.cursor, limit: params.limit ?? 20 })
    )
})

export const SearchHandlers = HttpApiBuilder.group(VezaApi, "search", (handlers) =>
  Effect.gen(function* () {
    const search = yield* SearchOperation
    // Hits are built in their encoded shape (test/platform/encoded-json.test.ts): type-ahead is a hot read.
    const resultsJson = (yield* PublicReadCache).json(SearchResults)
    return handlers.handle("search", ({ urlParams, request }) =>
      resultsJson(
        // User and playlist hits carry counters that follows and playlist edits move: only track searches are kept.
        isAnonymous(request.headers) && (urlParams.type ?? "tracks") === "tracks",
        `search ${JSON.stringify(urlParams)}`,
        search(urlParams, request.headers)
      )
    )
  })
)

export const SearchRpcHandlers = SearchRpcs.toLayer(
  Effect.gen(function* () {
    const search = yield* SearchOperation
    return { "search.search": (params, { headers }) => search(params, headers) }
  })
)
