import { HttpApiBuilder } from "@effect/platform"
import type * as NodeHttp from "node:http"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, optionalActor } from "../auth/authentication.js"
import { CurrentUser } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
import { ClientInfoReader } from "../platform/client-info.js"
import { endsWithBody } from "../platform/multipart.js"
import { TrackLibrary } from "./library.js"
import { canUpload } from "./policy.js"
import { Tracks } from "./service.js"

const drainBody = (raw: NodeHttp.IncomingMessage) => {
  if (raw.complete) return
  raw.unpipe()
  raw.resume()
}

export const TracksHandlers = HttpApiBuilder.group(VezaApi, "tracks", (handlers) =>
  Effect.gen(function* () {
    const tracks = yield* Tracks
    const library = yield* TrackLibrary
    const authenticator = yield* Authenticator
    const { read: clientInfo } = yield* ClientInfoReader
    const withActor = <A, E, R>(f: (actor: typeof CurrentUser.Service) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentUser, f)
    // Reads that anyone may make; a token, when sent, must be valid and shows the caller's own private tracks.
    const withOptionalActor = <A, E, R>(headers: Readonly<Record<string, string | undefined>>, f: (actor: typeof CurrentUser.Service | undefined) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(optionalActor(authenticator, headers), f)
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
      .handle("byId", ({ path, request }) => withOptionalActor(request.headers, (actor) => tracks.get(path.id, actor)))
      .handle("list", ({ urlParams: p, request }) =>
        withOptionalActor(request.headers, (actor) =>
          library.list(
            actor,
            {
              userId: p.user_id,
              genre: p.genre,
              tags: p.tags ?? [],
              visibility: p.visibility,
              createdAfter: p.created_after,
              createdBefore: p.created_before,
              titlePrefix: p.q
            },
            p.cursor,
            p.limit ?? 20
          )
        )
      )
      .handle("replace", ({ path, payload }) => withActor((actor) => library.update(path.id, actor, payload)))
      .handle("update", ({ path, payload }) => withActor((actor) => library.update(path.id, actor, payload)))
      .handle("delete", ({ path }) => withActor((actor) => library.remove(path.id, actor)))
      .handle("like", ({ path }) => withActor((actor) => library.setLike(path.id, actor, true)))
      .handle("unlike", ({ path }) => withActor((actor) => library.setLike(path.id, actor, false)))
      .handle("addComment", ({ path, payload }) => withActor((actor) => library.addComment(path.id, actor, payload)))
      .handle("comments", ({ path, urlParams, request }) =>
        withOptionalActor(request.headers, (actor) => library.comments(path.id, actor, urlParams.cursor, urlParams.limit ?? 50))
      )
      .handle("editComment", ({ path, payload }) => withActor((actor) => library.editComment(path.id, path.comment_id, actor, payload.content)))
      .handle("deleteComment", ({ path }) => withActor((actor) => library.deleteComment(path.id, path.comment_id, actor)))
      .handle("play", ({ path, payload, request }) =>
        withOptionalActor(request.headers, (actor) => library.play(path.id, actor, clientInfo(request.headers).ip, payload ?? {}))
      )
      .handle("stats", ({ path, request }) => withOptionalActor(request.headers, (actor) => library.stats(path.id, actor)))
      .handle("history", ({ urlParams }) => withActor((actor) => library.history(actor, urlParams.cursor, urlParams.limit ?? 50)))
      .handle("share", ({ path, payload }) => withActor((actor) => library.share(path.id, actor, payload?.expires_in_seconds)))
      .handle("shared", ({ path, request }) => withOptionalActor(request.headers, (actor) => library.shared(path.token, actor)))
      .handle("revokeShare", ({ path }) => withActor((actor) => library.revokeShare(path.id, path.token, actor)))
      .handle("download", ({ path, request }) => withOptionalActor(request.headers, (actor) => library.download(path.id, actor)))
      .handle("streamUrl", ({ path }) => withActor((actor) => tracks.streamUrl(path.id, actor)))
      .handle("retranscode", ({ path }) => withActor((actor) => tracks.retranscode(path.id, actor)))
  })
)
