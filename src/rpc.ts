import { AuthRpcs } from "./auth/rpc.js"
import { UsersRpcs } from "./users/rpc.js"

/** Every RPC the server answers at `/rpc`, importable by clients without server code. */
export const VezaRpcs = AuthRpcs.merge(UsersRpcs)
