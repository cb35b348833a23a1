import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../auth/api.js"
import { BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized, Unprocessable } from "../platform/api-errors.js"
import { PageParams } from "../platform/cursor.js"
import { TrackId } from "../tracks/schema.js"
import { UserId } from "../users/schema.js"
import {
  AddTrack,
  Collaborator,
  CreatePlaylist,
  InviteCollaborator,
  MoveTrack,
  Playlist,
  PlaylistId,
  PlaylistItem,
  PlaylistItemPage,
  PlaylistPage,
  UpdatePlaylist
} from "./schema.js"

const PlaylistPath = Schema.Struct({ id: PlaylistId })
const PlaylistTrackPath = Schema.Struct({ id: PlaylistId, track_id: TrackId })
const CollaboratorPath = Schema.Struct({ id: PlaylistId, user_id: UserId })
const NoContent = Schema.Void

export const CollaboratorList = Schema.Struct({ items: Schema.Array(Collaborator) })

/** Playlists, their ordered tracks, collaborators and followers. Reads work without a token for what is public. */
export class PlaylistsApi extends HttpApiGroup.make("playlists")
  .add(
    HttpApiEndpoint.post("create", "/playlists")
      .setPayload(CreatePlaylist)
      .addSuccess(Playlist, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("followed", "/playlists/followed")
      .setUrlParams(Schema.Struct(PageParams(100)))
      .addSuccess(PlaylistPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("shared", "/playlists/shared")
      .setUrlParams(Schema.Struct(PageParams(100)))
      .addSuccess(PlaylistPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(HttpApiEndpoint.get("get", "/playlists/:id").setPath(PlaylistPath).addSuccess(Playlist).addError(Unauthorized.envelope).addError(NotFound.envelope))
  .add(
    HttpApiEndpoint.patch("update", "/playlists/:id")
      .setPath(PlaylistPath)
      .setPayload(UpdatePlaylist)
      .addSuccess(Playlist)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("delete", "/playlists/:id")
      .setPath(PlaylistPath)
      .addSuccess(NoContent, { status: 204 })
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("byOwner", "/users/:id/playlists")
      .setPath(Schema.Struct({ id: UserId }))
      .setUrlParams(Schema.Struct(PageParams(100)))
      .addSuccess(PlaylistPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("tracks", "/playlists/:id/tracks")
      .setPath(PlaylistPath)
      .setUrlParams(Schema.Struct(PageParams(500)))
      .addSuccess(PlaylistItemPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.post("addTrack", "/playlists/:id/tracks")
      .setPath(PlaylistPath)
      .setPayload(AddTrack)
      .addSuccess(PlaylistItem, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.patch("moveTrack", "/playlists/:id/tracks/:track_id")
      .setPath(PlaylistTrackPath)
      .setPayload(MoveTrack)
      .addSuccess(PlaylistItem)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("removeTrack", "/playlists/:id/tracks/:track_id")
      .setPath(PlaylistTrackPath)
      .addSuccess(NoContent, { status: 204 })
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("duplicate", "/playlists/:id/duplicate")
      .setPath(PlaylistPath)
      .addSuccess(Playlist, { status: 201 })
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("collaborators", "/playlists/:id/collaborators")
      .setPath(PlaylistPath)
      .addSuccess(CollaboratorList)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.post("invite", "/playlists/:id/collaborators")
      .setPath(PlaylistPath)
      .setPayload(InviteCollaborator)
      .addSuccess(Collaborator, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(Unprocessable.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("removeCollaborator", "/playlists/:id/collaborators/:user_id")
      .setPath(CollaboratorPath)
      .addSuccess(NoContent, { status: 204 })
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("follow", "/playlists/:id/follow")
      .setPath(PlaylistPath)
      .addSuccess(NoContent, { status: 204 })
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
      .addError(Unprocessable.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("unfollow", "/playlists/:id/follow")
      .setPath(PlaylistPath)
      .addSuccess(NoContent, { status: 204 })
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .addError(ServiceUnavailable.envelope) {}
