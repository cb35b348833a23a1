import { AdminRpcs } from "./admin/rpc.js"
import { AuthRpcs } from "./auth/rpc.js"
import { ChatRpcs } from "./chat/rpc.js"
import { MarketRpcs } from "./market/rpc.js"
import { PlaylistsRpcs } from "./playlists/rpc.js"
import { SearchRpcs } from "./search/rpc.js"
import { SocialRpcs } from "./social/rpc.js"
import { TracksRpcs } from "./tracks/rpc.js"
import { UsersRpcs } from "./users/rpc.js"

/** Every RPC the server answers at `/rpc`, importable by clients without server code. */
export const VezaRpcs = AuthRpcs.merge(UsersRpcs, TracksRpcs, PlaylistsRpcs, SocialRpcs, SearchRpcs, MarketRpcs, ChatRpcs, AdminRpcs)
