import type { Headers } from "@effect/platform"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, withOptionalActor } from "../auth/authentication.js"
import { withActor } from "../auth/current-user.js"
import { jsonText } from "../platform/encoded-json.js"
import type { TrackId } from "../tracks/schema.js"
import type { UserId } from "../users/schema.js"
import { PlaylistsRpcs } from "./rpc.js"
import type { AddTrack, CreatePlaylist, InviteCollaborator, PlaylistId, UpdatePlaylist } from "./schema.js"
import { Playlists } from "./service.js"

const DEFAULT_LIMIT = 50

type PageParams = { readonly cursor?: string | undefined; readonly limit?: number | undefined }

/** What HTTP and RPC both answer, given the parsed parameters and the request's headers. */
const PlaylistOperations = Effect.gen(function* () {
  const playlists = yield* Playlists
  // Reads are open: no token is anonymous, a token that does not authenticate is still 401.
  const maybeActor = withOptionalActor(yield* Authenticator)
  const pageRequest = (params: PageParams, defaultLimit = DEFAULT_LIMIT) => ({ cursor: params.cursor, limit: params.limit ?? defaultLimit })
  return {
    create: (input: CreatePlaylist) => withActor((actor) => playlists.create(actor, input)),
    followed: (page: PageParams) => withActor((actor) => playlists.listFollowed(actor, pageRequest(page))),
    shared: (page: PageParams) => withActor((actor) => playlists.listShared(actor, pageRequest(page))),
    get: (id: PlaylistId, headers: Headers.Headers) => maybeActor(headers, (actor) => playlists.get(actor, id)),
    update: (id: PlaylistId, patch: UpdatePlaylist) => withActor((actor) => playlists.update(actor, id, patch)),
    remove: (id: PlaylistId) => withActor((actor) => playlists.remove(actor, id)),
    byOwner: (owner: UserId, page: PageParams, headers: Headers.Headers) => maybeActor(headers, (actor) => playlists.listByOwner(actor, owner, pageRequest(page))),
    tracks: (id: PlaylistId, page: PageParams, headers: Headers.Headers) => maybeActor(headers, (actor) => playlists.items(actor, id, pageRequest(page, 100))),
    tracksJson: (id: PlaylistId, page: PageParams, headers: Headers.Headers) =>
      maybeActor(headers, (actor) => playlists.itemsJson(actor, id, pageRequest(page, 100))),
    addTrack: (id: PlaylistId, input: typeof AddTrack.Type) => withActor((actor) => playlists.addTrack(actor, id, input)),
    moveTrack: (id: PlaylistId, track: TrackId, position: number) => withActor((actor) => playlists.moveTrack(actor, id, track, position)),
    removeTrack: (id: PlaylistId, track: TrackId) => withActor((actor) => playlists.removeTrack(actor, id, track)),
    duplicate: (id: PlaylistId) => withActor((actor) => playlists.duplicate(actor, id)),
    collaborators: (id: PlaylistId, headers: Headers.Headers) =>
      maybeActor(headers, (actor) => Effect.map(playlists.collaborators(actor, id), (items) => ({ items }))),
    invite: (id: PlaylistId, input: typeof InviteCollaborator.Type) => withActor((actor) => playlists.invite(actor, id, input)),
    removeCollaborator: (id: PlaylistId, user: UserId) => withActor((actor) => playlists.removeCollaborator(actor, id, user)),
    follow: (id: PlaylistId) => withActor((actor) => playlists.follow(actor, id)),
    unfollow: (id: PlaylistId) => withActor((actor) => playlists.unfollow(actor, id))
  }
})

export const PlaylistsHandlers = HttpApiBuilder.group(VezaApi, "playlists", (handlers) =>
  Effect.map(PlaylistOperations, (ops) =>
    handlers
      .handle("create", ({ payload }) => ops.create(payload))
      .handle("followed", ({ urlParams }) => ops.followed(urlParams))
      .handle("shared", ({ urlParams }) => ops.shared(urlParams))
      .handle("get", ({ path, request }) => ops.get(path.id, request.headers))
      .handle("update", ({ path, payload }) => ops.update(path.id, payload))
      .handle("delete", ({ path }) => ops.remove(path.id))
      .handle("byOwner", ({ path, urlParams, request }) => ops.byOwner(path.id, urlParams, request.headers))
      // PostgreSQL writes the entries as PlaylistItemPage encodes them (test/platform/encoded-json.test.ts).
      .handle("tracks", ({ path, urlParams, request }) => Effect.map(ops.tracksJson(path.id, urlParams, request.headers), jsonText))
      .handle("addTrack", ({ path, payload }) => ops.addTrack(path.id, payload))
      .handle("moveTrack", ({ path, payload }) => ops.moveTrack(path.id, path.track_id, payload.position))
      .handle("removeTrack", ({ path }) => ops.removeTrack(path.id, path.track_id))
      .handle("duplicate", ({ path }) => ops.duplicate(path.id))
      .handle("collaborators", ({ path, request }) => ops.collaborators(path.id, request.headers))
      .handle("invite", ({ path, payload }) => ops.invite(path.id, payload))
      .handle("removeCollaborator", ({ path }) => ops.removeCollaborator(path.id, path.user_id))
      .handle("follow", ({ path }) => ops.follow(path.id))
      .handle("unfollow", ({ path }) => ops.unfollow(path.id))
  )
)

export const PlaylistsRpcHandlers = PlaylistsRpcs.toLayer(
  Effect.gen(function* () {
    const ops = yield* PlaylistOperations
    return {
      "playlists.create": (input) => ops.create(input),
      "playlists.followed": (page) => ops.followed(page),
      "playlists.shared": (page) => ops.shared(page),
      "playlists.get": ({ id }, { headers }) => ops.get(id, headers),
      "playlists.update": ({ id, changes }) => ops.update(id, changes),
      "playlists.delete": ({ id }) => ops.remove(id),
      "playlists.byOwner": ({ owner_id, ...page }, { headers }) => ops.byOwner(owner_id, page, headers),
      "playlists.tracks": ({ id, ...page }, { headers }) => ops.tracks(id, page, headers),
      "playlists.addTrack": ({ id, track }) => ops.addTrack(id, track),
      "playlists.moveTrack": ({ id, track_id, move }) => ops.moveTrack(id, track_id, move.position),
      "playlists.removeTrack": ({ id, track_id }) => ops.removeTrack(id, track_id),
      "playlists.duplicate": ({ id }) => ops.duplicate(id),
      "playlists.collaborators": ({ id }, { headers }) => ops.collaborators(id, headers),
      "playlists.invite": ({ id, invitation }) => ops.invite(id, invitation),
      "playlists.removeCollaborator": ({ id, user_id }) => ops.removeCollaborator(id, user_id),
      "playlists.follow": ({ id }) => ops.follow(id),
      "playlists.unfollow": ({ id }) => ops.unfollow(id)
    }
  })
)
