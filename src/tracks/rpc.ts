import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { RpcAuthentication } from "../auth/rpc.js"
import { BadRequest, Conflict, Forbidden, NotFound, rpcErrors, Unauthorized, Unprocessable } from "../platform/api-errors.js"
import { PageParams, TrackListParams } from "./api.js"
import {
  Comment,
  CommentEdit,
  CommentId,
  CommentPage,
  DownloadLink,
  HistoryPage,
  LikeState,
  NewComment,
  NewPlay,
  NewShareLink,
  PlayResult,
  SharedTrack,
  ShareLink,
  ShareToken,
  StreamUrl,
  Track,
  TrackPage,
  TrackStats,
  TrackId,
  UpdateTrack
} from "./schema.js"

const ById = { id: TrackId }

/**
 * The track library over RPC: the calls of the `tracks` HttpApi group but the
 * multipart upload. Reads that anyone may make take the caller's token when
 * one is sent (`Unauthorized` if it does not authenticate), as over HTTP.
 */
export class TracksRpcs extends RpcGroup.make(
  Rpc.make("tracks.get", { payload: ById, success: Track, error: rpcErrors(Unauthorized, NotFound) }),
  Rpc.make("tracks.list", { payload: TrackListParams, success: TrackPage, error: rpcErrors(BadRequest, Unauthorized) }),
  Rpc.make("tracks.shared", { payload: { token: ShareToken }, success: SharedTrack, error: rpcErrors(Unauthorized, NotFound) }),
  Rpc.make("tracks.streamUrl", { payload: ById, success: StreamUrl, error: rpcErrors(NotFound, Conflict) }).middleware(RpcAuthentication),
  Rpc.make("tracks.retranscode", { payload: ById, success: Track, error: rpcErrors(Forbidden, NotFound, Conflict) }).middleware(RpcAuthentication),
  Rpc.make("tracks.update", {
    payload: { ...ById, changes: UpdateTrack },
    success: Track,
    error: rpcErrors(BadRequest, Forbidden, NotFound)
  }).middleware(RpcAuthentication),
  Rpc.make("tracks.delete", { payload: ById, error: rpcErrors(Forbidden, NotFound) }).middleware(RpcAuthentication),
  Rpc.make("tracks.like", { payload: ById, success: LikeState, error: rpcErrors(NotFound) }).middleware(RpcAuthentication),
  Rpc.make("tracks.unlike", { payload: ById, success: LikeState, error: rpcErrors(NotFound) }).middleware(RpcAuthentication),
  Rpc.make("tracks.addComment", {
    payload: { ...ById, comment: NewComment },
    success: Comment,
    error: rpcErrors(BadRequest, Forbidden, NotFound, Unprocessable)
  }).middleware(RpcAuthentication),
  Rpc.make("tracks.comments", {
    payload: { ...ById, ...PageParams.fields },
    success: CommentPage,
    error: rpcErrors(BadRequest, Unauthorized, NotFound)
  }),
  Rpc.make("tracks.editComment", {
    payload: { ...ById, comment_id: CommentId, comment: CommentEdit },
    success: Comment,
    error: rpcErrors(BadRequest, Forbidden, NotFound)
  }).middleware(RpcAuthentication),
  Rpc.make("tracks.deleteComment", { payload: { ...ById, comment_id: CommentId }, error: rpcErrors(Forbidden, NotFound) }).middleware(
    RpcAuthentication
  ),
  Rpc.make("tracks.play", {
    payload: { ...ById, play: Schema.optional(NewPlay) },
    success: PlayResult,
    error: rpcErrors(BadRequest, Unauthorized, NotFound)
  }),
  Rpc.make("tracks.stats", { payload: ById, success: TrackStats, error: rpcErrors(Unauthorized, NotFound) }),
  Rpc.make("tracks.history", { payload: PageParams, success: HistoryPage, error: rpcErrors(BadRequest) }).middleware(RpcAuthentication),
  Rpc.make("tracks.share", {
    payload: { ...ById, link: Schema.optional(NewShareLink) },
    success: ShareLink,
    error: rpcErrors(BadRequest, Forbidden, NotFound)
  }).middleware(RpcAuthentication),
  Rpc.make("tracks.revokeShare", { payload: { ...ById, token: ShareToken }, error: rpcErrors(Forbidden, NotFound) }).middleware(RpcAuthentication),
  Rpc.make("tracks.download", { payload: ById, success: DownloadLink, error: rpcErrors(Unauthorized, Forbidden, NotFound) })
) {}
