import { HttpApiBuilder } from "@effect/platform"
import type * as NodeHttp from "node:http"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, optionalActor } from "../auth/authentication.js"
import { CurrentUser } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
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
    const authenticator = yield* Authenticator
    return handlers
      .handle("upload", ({ payload, request }) =>
        // The role is checked before a byte of the body is read.
        Effect.flatMap(CurrentUser, (actor) =>
          tracks.upload(actor, payload, { contentType: request.headers["content-type"], contentLength: request.headers["content-length"] })
        ).pipe(
          policyUse(canUpload),
          // A refusal can come before the body is read (a 413 on its declared
          // length, a form that went wrong halfway): read the rest and drop
          // it, so the client gets the answer instead of a reset connection.
          Effect.tapError(() => Effect.sync(() => drainBody(NodeHttpServerRequest.toIncomingMessage(request))))
        )
      )
      .handle("byId", ({ path, request }) =>
        Effect.flatMap(optionalActor(authenticator, request.headers), (actor) => tracks.get(path.id, actor))
      )
      .handle("streamUrl", ({ path }) => Effect.flatMap(CurrentUser, (actor) => tracks.streamUrl(path.id, actor)))
      .handle("retranscode", ({ path }) => Effect.flatMap(CurrentUser, (actor) => tracks.retranscode(path.id, actor)))
  })
)
