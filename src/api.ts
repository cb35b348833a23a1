import { HttpApi, OpenApi } from "@effect/platform"
import { AdminApi } from "./admin/api.js"
import { AuthApi } from "./auth/api.js"
import { ChatApi } from "./chat/api.js"
import { MarketApi } from "./market/api.js"
import { SearchApi } from "./search/api.js"
import { PlaylistsApi } from "./playlists/api.js"
import { SocialApi } from "./social/api.js"
import { TracksApi } from "./tracks/api.js"
import { UsersApi } from "./users/api.js"

/** The whole HTTP API, importable by clients without any server code. */
export class VezaApi extends HttpApi.make("veza")
  .add(AuthApi)
  .add(UsersApi)
  .add(TracksApi)
  .add(ChatApi)
  .add(MarketApi)
  .add(SearchApi)
  .add(PlaylistsApi)
  .add(SocialApi)
  .add(AdminApi)
  .prefix("/api/v1")
  .annotateContext(
    OpenApi.annotations({
      title: "Veza API",
      version: "1",
      description: "Errors are `{ \"error\": { \"code\", \"message\", \"details\"? } }` with the HTTP status."
    })
  ) {}
