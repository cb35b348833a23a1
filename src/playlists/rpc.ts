import { Rpc, RpcGroup } from "@effect/rpc"
import { RpcAuthentication } from "../auth/rpc.js"
import { BadRequest, Conflict, Forbidden, NotFound, rpcErrors, Unauthorized, Unprocessable } from "../platform/api-errors.js"
import { PageParams } from "../platform/cursor.js"
import { TrackId } from "../tracks/schema.js"
import { UserId } from "../users/schema.js"
import { CollaboratorList } from "./api.js"
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

const ById = { id: PlaylistId }

/** The `playlists` HttpApi group over RPC; reads take the caller's token when one is sent. */
export class PlaylistsRpcs extends RpcGroup.make(
  Rpc.make("playlists.create", { payload: CreatePlaylist, success: Playlist, error: rpcErrors(BadRequest) }).middleware(RpcAuthentication),
  Rpc.make("playlists.followed", { payload: PageParams(100), success: PlaylistPage, error: rpcErrors(BadRequest) }).middleware(RpcAuthentication),
  Rpc.make("playlists.shared", { payload: PageParams(100), success: PlaylistPage, error: rpcErrors(BadRequest) }).middleware(RpcAuthentication),
  Rpc.make("playlists.get", { payload: ById, success: Playlist, error: rpcErrors(Unauthorized, NotFound) }),
  Rpc.make("playlists.update", {
    payload: { ...ById, changes: UpdatePlaylist },
    success: Playlist,
    error: rpcErrors(BadRequest, Forbidden, NotFound)
  }).middleware(RpcAuthentication),
  Rpc.make("playlists.delete", { payload: ById, error: rpcErrors(Forbidden, NotFound) }).middleware(RpcAuthentication),
  Rpc.make("playlists.byOwner", {
    payload: { owner_id: UserId, ...PageParams(100) },
    success: PlaylistPage,
    error: rpcErrors(BadRequest, Unauthorized, NotFound)
  }),
  Rpc.make("playlists.tracks", {
    payload: { ...ById, ...PageParams(500) },
    success: PlaylistItemPage,
    error: rpcErrors(BadRequest, Unauthorized, NotFound)
  }),
  Rpc.make("playlists.addTrack", {
    payload: { ...ById, track: AddTrack },
    success: PlaylistItem,
    error: rpcErrors(BadRequest, Forbidden, NotFound, Conflict)
  }).middleware(RpcAuthentication),
  Rpc.make("playlists.moveTrack", {
    payload: { ...ById, track_id: TrackId, move: MoveTrack },
    success: PlaylistItem,
    error: rpcErrors(BadRequest, Forbidden, NotFound)
  }).middleware(RpcAuthentication),
  Rpc.make("playlists.removeTrack", { payload: { ...ById, track_id: TrackId }, error: rpcErrors(Forbidden, NotFound) }).middleware(RpcAuthentication),
  Rpc.make("playlists.duplicate", { payload: ById, success: Playlist, error: rpcErrors(NotFound) }).middleware(RpcAuthentication),
  Rpc.make("playlists.collaborators", {
    payload: ById,
    success: CollaboratorList,
    error: rpcErrors(Unauthorized, NotFound)
  }),
  Rpc.make("playlists.invite", {
    payload: { ...ById, invitation: InviteCollaborator },
    success: Collaborator,
    error: rpcErrors(BadRequest, Forbidden, NotFound, Unprocessable)
  }).middleware(RpcAuthentication),
  Rpc.make("playlists.removeCollaborator", { payload: { ...ById, user_id: UserId }, error: rpcErrors(Forbidden, NotFound) }).middleware(
    RpcAuthentication
  ),
  Rpc.make("playlists.follow", { payload: ById, error: rpcErrors(NotFound, Unprocessable) }).middleware(RpcAuthentication),
  Rpc.make("playlists.unfollow", { payload: ById, error: rpcErrors() }).middleware(RpcAuthentication)
) {}
