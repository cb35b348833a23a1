import { attachmentDisposition } from "../platform/attachment.js"
import type * as NodeHttp from "node:http"
import { HttpApiBuilder, HttpLayerRouter, HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, optionalActor } from "../auth/authentication.js"
import { CurrentUser } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
import { errorBody } from "../platform/api-errors.js"
import { endsWithBody } from "../platform/multipart.js"
import { canSell } from "./policy.js"
import { Market } from "./service.js"

const drainBody = (raw: NodeHttp.IncomingMessage) => {
  if (raw.complete) return
  raw.unpipe()
  raw.resume()
}

export const MarketHandlers = HttpApiBuilder.group(VezaApi, "market", (handlers) =>
  Effect.gen(function* () {
    const market = yield* Market
    const authenticator = yield* Authenticator
    const withActor = <A, E, R>(f: (actor: typeof CurrentUser.Service) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentUser, f)
    const maybeActor = (headers: Readonly<Record<string, string | undefined>>) => optionalActor(authenticator, headers)
    return handlers
      .handle("createProduct", ({ payload }) => withActor((actor) => market.createProduct(actor, payload)).pipe(policyUse(canSell)))
      .handle("listProducts", ({ urlParams, request }) =>
        Effect.flatMap(maybeActor(request.headers), (actor) =>
          market.listProducts(actor, { sellerId: urlParams.seller_id, type: urlParams.type, cursor: urlParams.cursor, limit: urlParams.limit ?? 20 })
        )
      )
      .handle("getProduct", ({ path, request }) => Effect.flatMap(maybeActor(request.headers), (actor) => market.getProduct(actor, path.id)))
      .handle("updateProduct", ({ path, payload }) => withActor((actor) => market.updateProduct(actor, path.id, payload)))
      .handle("deleteProduct", ({ path }) => withActor((actor) => market.deleteProduct(actor, path.id)))
      .handle("uploadFile", ({ path, payload, request }) =>
        withActor((actor) =>
          market.uploadFile(actor, path.id, payload.pipe(endsWithBody(NodeHttpServerRequest.toIncomingMessage(request))), { contentType: request.headers["content-type"], contentLength: request.headers["content-length"] })
        ).pipe(
          // A refusal before the body is read (not the seller, too large) still reads it, so the client gets the answer rather than a reset.
          Effect.tapError(() => Effect.sync(() => drainBody(NodeHttpServerRequest.toIncomingMessage(request))))
        )
      )
      .handle("deleteFile", ({ path }) => withActor((actor) => market.deleteFile(actor, path.id, path.file_id)))
      .handle("cart", () => withActor((actor) => market.cart(actor)))
      .handle("addToCart", ({ payload }) => withActor((actor) => market.addToCart(actor, payload.product_id, payload.license_id)))
      .handle("removeFromCart", ({ path }) => withActor((actor) => market.removeFromCart(actor, path.product_id)))
      .handle("checkout", ({ headers, payload }) => withActor((actor) => market.checkout(actor, headers["idempotency-key"], payload)))
      .handle("listOrders", ({ urlParams }) => withActor((actor) => market.listOrders(actor, urlParams.cursor, urlParams.limit ?? 20)))
      .handle("getOrder", ({ path }) => withActor((actor) => market.getOrder(actor, path.id)))
      .handle("download", ({ path }) => withActor((actor) => market.download(actor, path.product_id)))
      .handle("createReview", ({ path, payload }) => withActor((actor) => market.createReview(actor, path.id, payload)))
      .handle("listReviews", ({ path, urlParams, request }) =>
        Effect.flatMap(maybeActor(request.headers), (actor) => market.listReviews(actor, path.id, urlParams.cursor, urlParams.limit ?? 20))
      )
  })
)

/**
 * `GET /downloads/products/:product_id/:file?exp=&sig=`: what a signed
 * download link opens. A plain route, so the file streams from Storage to
 * the client without passing through the API's JSON encoding.
 */
export const ProductDownloadRoutes = HttpLayerRouter.use((router) =>
  Effect.gen(function* () {
    const market = yield* Market
    yield* router.add(
      "GET",
      "/downloads/products/:product_id/:file",
      Effect.gen(function* () {
        const params = yield* HttpRouter.params
        const query = yield* HttpServerRequest.ParsedSearchParams
        const one = (name: string) => {
          const v = query[name]
          return typeof v === "string" ? v : null
        }
        const opened = yield* market.openDownload(params["product_id"] ?? "", params["file"] ?? "", one("exp"), one("sig"))
        if (Either.isLeft(opened)) {
          return opened.left === "invalid"
            ? HttpServerResponse.unsafeJson(errorBody("INVALID_LINK", "this download link is invalid or has expired; ask for a new one"), { status: 403 })
            : HttpServerResponse.unsafeJson(errorBody("NOT_FOUND", "the file is no longer available"), { status: 404 })
        }
        const file = opened.right
        return HttpServerResponse.raw(file.stream, {
          contentType: file.contentType,
          headers: {
            "content-length": String(file.size),
            "content-disposition": attachmentDisposition(file.filename),
            "cache-control": "private, no-store"
          }
        })
      }).pipe(Effect.orDie)
    )
  })
)
