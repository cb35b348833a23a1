import { HttpApiBuilder } from "@effect/platform"
import type * as NodeHttp from "node:http"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect } from "effect"
import type { Headers } from "@effect/platform"
import { VezaApi } from "../api.js"
import { Authenticator, isAnonymous, withOptionalActor as withOptionalActorOf } from "../auth/authentication.js"
import { CurrentUser, withActor } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
import { ClientInfoReader } from "../platform/client-info.js"
import { PublicReadCache } from "../platform/public-read-cache.js"
import { endsWithBody } from "../platform/multipart.js"
import type { PageParams, TrackListParams } from "./api.js"
import type { TrackFilters } from "./library-repo.js"
import { TrackLibrary } from "./library.js"
import { canUpload } from "./policy.js"
import { TracksRpcs } from "./rpc.js"
import { type CommentId, type NewComment, type NewPlay, type NewShareLink, type ShareToken, type TrackId, type UpdateTrack } from "./schema.js"
import { Tracks } from "./service.js"

const drainBody = (raw: NodeHttp.IncomingMessage) => {
  if (raw.complete) return
  raw.unpipe()
  raw.resume()
}

type Page = typeof PageParams.Type

const filtersOf = (p: typeof TrackListParams.Type): TrackFilters => ({
  userId: p.user_id,
  genre: p.genre,
  tags: p.tags ?? [],
  visibility: p.visibility,
  createdAfter: p.created_after,
  createdBefore: p.created_before,
  titlePrefix: p.q
})

/**
 * What HTTP and RPC both answer, given the parsed parameters and the
 * request's headers. HTTP answers a list with the JSON PostgreSQL writes
 * (`listJson`); RPC, whose protocol encodes values itself, with the same
 * page as values (`list`).
 */
const TrackOperations = Effect.gen(function* () {
  const tracks = yield* Tracks
  const library = yield* TrackLibrary
  const authenticator = yield* Authenticator
  const { read: clientInfo } = yield* ClientInfoReader
  // Reads that anyone may make; a token, when sent, must be valid and shows the caller's own private tracks.
  const withOptionalActor = withOptionalActorOf(authenticator)
  return {
    get: (id: TrackId, headers: Headers.Headers) => withOptionalActor(headers, (actor) => tracks.get(id, actor)),
    getJson: (id: TrackId, headers: Headers.Headers) => withOptionalActor(headers, (actor) => tracks.getJson(id, actor)),
    list: (p: typeof TrackListParams.Type, headers: Headers.Headers) =>
      withOptionalActor(headers, (actor) => library.list(actor, filtersOf(p), p.cursor, p.limit ?? 20)),
    listJson: (p: typeof TrackListParams.Type, headers: Headers.Headers) =>
      withOptionalActor(headers, (actor) => library.listJson(actor, filtersOf(p), p.cursor, p.limit ?? 20)),
    update: (id: TrackId, changes: typeof UpdateTrack.Type) => withActor((actor) => library.update(id, actor, changes)),
    remove: (id: TrackId) => withActor((actor) => library.remove(id, actor)),
    setLike: (id: TrackId, liked: boolean) => withActor((actor) => library.setLike(id, actor, liked)),
    addComment: (id: TrackId, comment: typeof NewComment.Type) => withActor((actor) => library.addComment(id, actor, comment)),
    comments: (id: TrackId, page: Page, headers: Headers.Headers) =>
      withOptionalActor(headers, (actor) => library.comments(id, actor, page.cursor, page.limit ?? 50)),
    editComment: (id: TrackId, commentId: CommentId, content: string) => withActor((actor) => library.editComment(id, commentId, actor, content)),
    deleteComment: (id: TrackId, commentId: CommentId) => withActor((actor) => library.deleteComment(id, commentId, actor)),
    play: (id: TrackId, play: typeof NewPlay.Type | null | undefined, headers: Headers.Headers) =>
      withOptionalActor(headers, (actor) => library.play(id, actor, clientInfo(headers).ip, play ?? {})),
    stats: (id: TrackId, headers: Headers.Headers) => withOptionalActor(headers, (actor) => library.stats(id, actor)),
    history: (page: Page) => withActor((actor) => library.history(actor, page.cursor, page.limit ?? 50)),
    share: (id: TrackId, link: typeof NewShareLink.Type | null | undefined) => withActor((actor) => library.share(id, actor, link?.expires_in_seconds)),
    shared: (token: typeof ShareToken.Type, headers: Headers.Headers) => withOptionalActor(headers, (actor) => library.shared(token, actor)),
    revokeShare: (id: TrackId, token: typeof ShareToken.Type) => withActor((actor) => library.revokeShare(id, token, actor)),
    download: (id: TrackId, headers: Headers.Headers) => withOptionalActor(headers, (actor) => library.download(id, actor)),
    streamUrl: (id: TrackId) => withActor((actor) => tracks.streamUrl(id, actor)),
    retranscode: (id: TrackId) => withActor((actor) => tracks.retranscode(id, actor))
  }
})

export const TracksHandlers = HttpApiBuilder.group(VezaApi, "tracks", (handlers) =>
  Effect.gen(function* () {
    const tracks = yield* Tracks
    const ops = yield* TrackOperations
    const cache = yield* PublicReadCache
    return handlers
      .handle("upload", ({ payload, request }) =>
        // The role is checked before a byte of the body is read.
        Effect.flatMap(CurrentUser, (actor) =>
          tracks.upload(actor, payload.pipe(endsWithBody(NodeHttpServerRequest.toIncomingMessage(request))), { contentType: request.headers["content-type"], contentLength: request.headers["content-length"] })
        ).pipe(
          policyUse(canUpload),
          // A refusal can come before the body is read (a 413 on its declared
          // length, a form that went wrong halfway): read the rest and drop
          // it, so the client gets the answer instead of a reset connection.
          Effect.tapError(() => Effect.sync(() => drainBody(NodeHttpServerRequest.toIncomingMessage(request))))
        )
      )
      // PostgreSQL writes the track as Track encodes it (test/platform/encoded-json.test.ts).
      .handle("byId", ({ path, request }) => cache.text(isAnonymous(request.headers), `track ${path.id}`, ops.getJson(path.id, request.headers)))
      .handle("list", ({ urlParams, request }) =>
        cache.text(isAnonymous(request.headers), `tracks ${JSON.stringify(urlParams)}`, ops.listJson(urlParams, request.headers))
      )
      .handle("replace", ({ path, payload }) => ops.update(path.id, payload))
      .handle("update", ({ path, payload }) => ops.update(path.id, payload))
      .handle("delete", ({ path }) => ops.remove(path.id))
      .handle("like", ({ path }) => ops.setLike(path.id, true))
      .handle("unlike", ({ path }) => ops.setLike(path.id, false))
      .handle("addComment", ({ path, payload }) => ops.addComment(path.id, payload))
      .handle("comments", ({ path, urlParams, request }) => ops.comments(path.id, urlParams, request.headers))
      .handle("editComment", ({ path, payload }) => ops.editComment(path.id, path.comment_id, payload.content))
      .handle("deleteComment", ({ path }) => ops.deleteComment(path.id, path.comment_id))
      .handle("play", ({ path, payload, request }) => ops.play(path.id, payload, request.headers))
      .handle("stats", ({ path, request }) => ops.stats(path.id, request.headers))
      .handle("history", ({ urlParams }) => ops.history(urlParams))
      .handle("share", ({ path, payload }) => ops.share(path.id, payload))
      .handle("shared", ({ path, request }) => ops.shared(path.token, request.headers))
      .handle("revokeShare", ({ path }) => ops.revokeShare(path.id, path.token))
      .handle("download", ({ path, request }) => ops.download(path.id, request.headers))
      .handle("streamUrl", ({ path }) => ops.streamUrl(path.id))
      .handle("retranscode", ({ path }) => ops.retranscode(path.id))
  })
)

export const TracksRpcHandlers = TracksRpcs.toLayer(
  Effect.gen(function* () {
    const ops = yield* TrackOperations
    return {
      "tracks.get": ({ id }, { headers }) => ops.get(id, headers),
      "tracks.list": (params, { headers }) => ops.list(params, headers),
      "tracks.shared": ({ token }, { headers }) => ops.shared(token, headers),
      "tracks.streamUrl": ({ id }) => ops.streamUrl(id),
      "tracks.retranscode": ({ id }) => ops.retranscode(id),
      "tracks.update": ({ id, changes }) => ops.update(id, changes),
      "tracks.delete": ({ id }) => ops.remove(id),
      "tracks.like": ({ id }) => ops.setLike(id, true),
      "tracks.unlike": ({ id }) => ops.setLike(id, false),
      "tracks.addComment": ({ id, comment }) => ops.addComment(id, comment),
      "tracks.comments": ({ id, ...page }, { headers }) => ops.comments(id, page, headers),
      "tracks.editComment": ({ id, comment_id, comment }) => ops.editComment(id, comment_id, comment.content),
      "tracks.deleteComment": ({ id, comment_id }) => ops.deleteComment(id, comment_id),
      "tracks.play": ({ id, play }, { headers }) => ops.play(id, play, headers),
      "tracks.stats": ({ id }, { headers }) => ops.stats(id, headers),
      "tracks.history": (page) => ops.history(page),
      "tracks.share": ({ id, link }) => ops.share(id, link),
      "tracks.revokeShare": ({ id, token }) => ops.revokeShare(id, token),
      "tracks.download": ({ id }, { headers }) => ops.download(id, headers)
    }
  })
)
