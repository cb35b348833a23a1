import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { BadRequest, ServiceUnavailable, Unauthorized } from "../platform/api-errors.js"
import { SearchResults, SearchType } from "./schema.js"

export const MAX_QUERY_LENGTH = 1000

export const SearchParams = Schema.Struct({
  q: Schema.String.pipe(Schema.maxLength(MAX_QUERY_LENGTH, { message: () => `q must be at most ${MAX_QUERY_LENGTH} characters` })),
  type: Schema.optional(SearchType),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  limit: Schema.optional(
    Schema.NumberFromString.pipe(
      Schema.int({ message: () => "limit must be an integer" }),
      Schema.between(1, 50, { message: () => "limit must be between 1 and 50" })
    )
  )
})

/** Full-text search with prefix matching (type-ahead) over what the caller may see. */
export class SearchApi extends HttpApiGroup.make("search")
  .add(
    HttpApiEndpoint.get("search", "/search")
      .setUrlParams(SearchParams)
      .addSuccess(SearchResults)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
  )
  .addError(ServiceUnavailable.envelope) {}
