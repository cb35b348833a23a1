import { attachmentDisposition } from "../platform/attachment.js"
import type * as NodeHttp from "node:http"
import type { Headers } from "@effect/platform"
import { HttpApiBuilder, HttpLayerRouter, HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator, withOptionalActor } from "../auth/authentication.js"
import { withActor } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
import { errorBody } from "../platform/api-errors.js"
import { endsWithBody } from "../platform/multipart.js"
import type { Checkout, Choice, CreateProduct, NewReview, ProductListParams, UpdateProduct } from "./api.js"
import { canSell } from "./policy.js"
import { MarketRpcs } from "./rpc.js"
import type { OrderId, ProductFileId, ProductId } from "./schema.js"
import { Market } from "./service.js"

const drainBody = (raw: NodeHttp.IncomingMessage) => {
  if (raw.complete) return
  raw.unpipe()
  raw.resume()
}

type PageParams = { readonly cursor?: string | undefined; readonly limit?: number | undefined }

/** What HTTP and RPC both answer, given the parsed parameters and the request's headers. */
const MarketOperations = Effect.gen(function* () {
  const market = yield* Market
  const maybeActor = withOptionalActor(yield* Authenticator)
  return {
    createProduct: (input: CreateProduct) => withActor((actor) => market.createProduct(actor, input)).pipe(policyUse(canSell)),
    listProducts: (params: typeof ProductListParams.Type, headers: Headers.Headers) =>
      maybeActor(headers, (actor) =>
        market.listProducts(actor, { sellerId: params.seller_id, type: params.type, cursor: params.cursor, limit: params.limit ?? 20 })
      ),
    getProduct: (id: ProductId, headers: Headers.Headers) => maybeActor(headers, (actor) => market.getProduct(actor, id)),
    updateProduct: (id: ProductId, patch: UpdateProduct) => withActor((actor) => market.updateProduct(actor, id, patch)),
    deleteProduct: (id: ProductId) => withActor((actor) => market.deleteProduct(actor, id)),
    deleteFile: (id: ProductId, fileId: ProductFileId) => withActor((actor) => market.deleteFile(actor, id, fileId)),
    cart: () => withActor((actor) => market.cart(actor)),
    addToCart: (choice: typeof Choice.Type) => withActor((actor) => market.addToCart(actor, choice.product_id, choice.license_id)),
    removeFromCart: (productId: ProductId) => withActor((actor) => market.removeFromCart(actor, productId)),
    checkout: (idempotencyKey: string | undefined, order: Checkout) => withActor((actor) => market.checkout(actor, idempotencyKey, order)),
    listOrders: (page: PageParams) => withActor((actor) => market.listOrders(actor, page.cursor, page.limit ?? 20)),
    getOrder: (id: OrderId) => withActor((actor) => market.getOrder(actor, id)),
    download: (productId: ProductId) => withActor((actor) => market.download(actor, productId)),
    createReview: (id: ProductId, review: typeof NewReview.Type) => withActor((actor) => market.createReview(actor, id, review)),
    listReviews: (id: ProductId, page: PageParams, headers: Headers.Headers) =>
      maybeActor(headers, (actor) => market.listReviews(actor, id, page.cursor, page.limit ?? 20))
  }
})

export const MarketHandlers = HttpApiBuilder.group(VezaApi, "market", (handlers) =>
  Effect.gen(function* () {
    const market = yield* Market
    const ops = yield* MarketOperations
    return handlers
      .handle("createProduct", ({ payload }) => ops.createProduct(payload))
      .handle("listProducts", ({ urlParams, request }) => ops.listProducts(urlParams, request.headers))
      .handle("getProduct", ({ path, request }) => ops.getProduct(path.id, request.headers))
      .handle("updateProduct", ({ path, payload }) => ops.updateProduct(path.id, payload))
      .handle("deleteProduct", ({ path }) => ops.deleteProduct(path.id))
      .handle("uploadFile", ({ path, payload, request }) =>
        withActor((actor) =>
          market.uploadFile(actor, path.id, payload.pipe(endsWithBody(NodeHttpServerRequest.toIncomingMessage(request))), { contentType: request.headers["content-type"], contentLength: request.headers["content-length"] })
        ).pipe(
          // A refusal before the body is read (not the seller, too large) still reads it, so the client gets the answer rather than a reset.
          Effect.tapError(() => Effect.sync(() => drainBody(NodeHttpServerRequest.toIncomingMessage(request))))
        )
      )
      .handle("deleteFile", ({ path }) => ops.deleteFile(path.id, path.file_id))
      .handle("cart", () => ops.cart())
      .handle("addToCart", ({ payload }) => ops.addToCart(payload))
      .handle("removeFromCart", ({ path }) => ops.removeFromCart(path.product_id))
      .handle("checkout", ({ headers, payload }) => ops.checkout(headers["idempotency-key"], payload))
      .handle("listOrders", ({ urlParams }) => ops.listOrders(urlParams))
      .handle("getOrder", ({ path }) => ops.getOrder(path.id))
      .handle("download", ({ path }) => ops.download(path.product_id))
      .handle("createReview", ({ path, payload }) => ops.createReview(path.id, payload))
      .handle("listReviews", ({ path, urlParams, request }) => ops.listReviews(path.id, urlParams, request.headers))
  })
)

export const MarketRpcHandlers = MarketRpcs.toLayer(
  Effect.gen(function* () {
    const ops = yield* MarketOperations
    return {
      "market.createProduct": (input) => ops.createProduct(input),
      "market.listProducts": (params, { headers }) => ops.listProducts(params, headers),
      "market.getProduct": ({ id }, { headers }) => ops.getProduct(id, headers),
      "market.updateProduct": ({ id, changes }) => ops.updateProduct(id, changes),
      "market.deleteProduct": ({ id }) => ops.deleteProduct(id),
      "market.deleteFile": ({ id, file_id }) => ops.deleteFile(id, file_id),
      "market.cart": () => ops.cart(),
      "market.addToCart": (choice) => ops.addToCart(choice),
      "market.removeFromCart": ({ product_id }) => ops.removeFromCart(product_id),
      "market.checkout": ({ idempotency_key, order }) => ops.checkout(idempotency_key, order),
      "market.listOrders": (page) => ops.listOrders(page),
      "market.getOrder": ({ id }) => ops.getOrder(id),
      "market.download": ({ product_id }) => ops.download(product_id),
      "market.createReview": ({ id, review }) => ops.createReview(id, review),
      "market.listReviews": ({ id, ...page }, { headers }) => ops.listReviews(id, page, headers)
    }
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
