import { Rpc, RpcGroup } from "@effect/rpc"
import { BadRequest, rpcErrors, Unauthorized } from "../platform/api-errors.js"
import { SearchParams } from "./api.js"
import { SearchResults } from "./schema.js"

/** `/search` over RPC: what the caller may see, the caller being whoever the token names (anonymous without one). */
export class SearchRpcs extends RpcGroup.make(
  Rpc.make("search.search", { payload: SearchParams, success: SearchResults, error: rpcErrors(BadRequest, Unauthorized) })
) {}
