import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, optionalActor } from "../auth/authentication.js"
import { Search } from "./service.js"

export const SearchHandlers = HttpApiBuilder.group(VezaApi, "search", (handlers) =>
  Effect.gen(function* () {
    const search = yield* Search
    const authenticator = yield* Authenticator
    return handlers.handle("search", ({ urlParams, request }) =>
      Effect.flatMap(optionalActor(authenticator, request.headers), (actor) =>
        search.search(actor, { q: urlParams.q, type: urlParams.type ?? "tracks", cursor: urlParams.cursor, limit: urlParams.limit ?? 20 })
      )
    )
  })
)
