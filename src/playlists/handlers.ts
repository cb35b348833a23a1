import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, optionalActor } from "../auth/authentication.js"
import { type Actor, CurrentUser } from "../auth/current-user.js"
import { Playlists } from "./service.js"

const DEFAULT_LIMIT = 50

export const PlaylistsHandlers = HttpApiBuilder.group(VezaApi, "playlists", (handlers) =>
  Effect.gen(function* () {
    const playlists = yield* Playlists
    const authenticator = yield* Authenticator
    const withActor = <A, E, R>(f: (actor: Actor) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentUser, f)
    // Reads are open: no token is anonymous, a token that does not authenticate is still 401.
    const maybeActor = <A, E, R>(headers: Readonly<Record<string, string | undefined>>, f: (actor: Actor | undefined) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(optionalActor(authenticator, headers), f)
    const pageRequest = (params: { cursor?: string | undefined; limit?: number | undefined }, defaultLimit = DEFAULT_LIMIT) => ({
      cursor: params.cursor,
      limit: params.limit ?? defaultLimit
    })
    return handlers
      .handle("create", ({ payload }) => withActor((actor) => playlists.create(actor, payload)))
      .handle("followed", ({ urlParams }) => withActor((actor) => playlists.listFollowed(actor, pageRequest(urlParams))))
      .handle("shared", ({ urlParams }) => withActor((actor) => playlists.listShared(actor, pageRequest(urlParams))))
      .handle("get", ({ path, request }) => maybeActor(request.headers, (actor) => playlists.get(actor, path.id)))
      .handle("update", ({ path, payload }) => withActor((actor) => playlists.update(actor, path.id, payload)))
      .handle("delete", ({ path }) => withActor((actor) => playlists.remove(actor, path.id)))
      .handle("byOwner", ({ path, urlParams, request }) => maybeActor(request.headers, (actor) => playlists.listByOwner(actor, path.id, pageRequest(urlParams))))
      .handle("tracks", ({ path, urlParams, request }) => maybeActor(request.headers, (actor) => playlists.items(actor, path.id, pageRequest(urlParams, 100))))
      .handle("addTrack", ({ path, payload }) => withActor((actor) => playlists.addTrack(actor, path.id, payload)))
      .handle("moveTrack", ({ path, payload }) => withActor((actor) => playlists.moveTrack(actor, path.id, path.track_id, payload.position)))
      .handle("removeTrack", ({ path }) => withActor((actor) => playlists.removeTrack(actor, path.id, path.track_id)))
      .handle("duplicate", ({ path }) => withActor((actor) => playlists.duplicate(actor, path.id)))
      .handle("collaborators", ({ path, request }) =>
        maybeActor(request.headers, (actor) => Effect.map(playlists.collaborators(actor, path.id), (items) => ({ items })))
      )
      .handle("invite", ({ path, payload }) => withActor((actor) => playlists.invite(actor, path.id, payload)))
      .handle("removeCollaborator", ({ path }) => withActor((actor) => playlists.removeCollaborator(actor, path.id, path.user_id)))
      .handle("follow", ({ path }) => withActor((actor) => playlists.follow(actor, path.id)))
      .handle("unfollow", ({ path }) => withActor((actor) => playlists.unfollow(actor, path.id)))
  })
)
