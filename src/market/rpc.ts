import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { RpcAuthentication } from "../auth/rpc.js"
import { BadRequest, Conflict, Forbidden, NotFound, rpcErrors, Unauthorized, Unprocessable } from "../platform/api-errors.js"
import { Cart, Checkout, Choice, CreateProduct, NewReview, OrderList, PageParams, ProductList, ProductListParams, ReviewList, UpdateProduct } from "./api.js"
import { Download, Order, OrderId, Product, ProductFileId, ProductId, Review } from "./schema.js"

const ById = { id: ProductId }

/**
 * The `market` HttpApi group over RPC, but the multipart file upload (HTTP
 * only). Checkout's `idempotency_key` is what the `Idempotency-Key` header
 * is over HTTP: required, one fresh value per purchase.
 */
export class MarketRpcs extends RpcGroup.make(
  Rpc.make("market.createProduct", {
    payload: CreateProduct,
    success: Product,
    error: rpcErrors(Unprocessable, BadRequest, Forbidden, NotFound)
  }).middleware(RpcAuthentication),
  Rpc.make("market.listProducts", { payload: ProductListParams, success: ProductList, error: rpcErrors(BadRequest, Unauthorized) }),
  Rpc.make("market.getProduct", { payload: ById, success: Product, error: rpcErrors(NotFound, Unauthorized) }),
  Rpc.make("market.updateProduct", {
    payload: { ...ById, changes: UpdateProduct },
    success: Product,
    error: rpcErrors(Unprocessable, BadRequest, Forbidden, NotFound, Conflict)
  }).middleware(RpcAuthentication),
  Rpc.make("market.deleteProduct", { payload: ById, error: rpcErrors(Forbidden, NotFound) }).middleware(RpcAuthentication),
  Rpc.make("market.deleteFile", { payload: { ...ById, file_id: ProductFileId }, error: rpcErrors(Forbidden, NotFound) }).middleware(RpcAuthentication),
  Rpc.make("market.cart", { success: Cart, error: rpcErrors() }).middleware(RpcAuthentication),
  Rpc.make("market.addToCart", { payload: Choice, success: Cart, error: rpcErrors(BadRequest, NotFound, Conflict, Unprocessable) }).middleware(
    RpcAuthentication
  ),
  Rpc.make("market.removeFromCart", { payload: { product_id: ProductId }, error: rpcErrors() }).middleware(RpcAuthentication),
  Rpc.make("market.checkout", {
    payload: { idempotency_key: Schema.optional(Schema.String), order: Checkout },
    success: Order,
    error: rpcErrors(BadRequest, NotFound, Conflict, Unprocessable)
  }).middleware(RpcAuthentication),
  Rpc.make("market.listOrders", { payload: PageParams, success: OrderList, error: rpcErrors(BadRequest) }).middleware(RpcAuthentication),
  Rpc.make("market.getOrder", { payload: { id: OrderId }, success: Order, error: rpcErrors(NotFound) }).middleware(RpcAuthentication),
  Rpc.make("market.download", { payload: { product_id: ProductId }, success: Download, error: rpcErrors(Forbidden, NotFound, Conflict) }).middleware(
    RpcAuthentication
  ),
  Rpc.make("market.createReview", {
    payload: { ...ById, review: NewReview },
    success: Review,
    error: rpcErrors(BadRequest, Forbidden, NotFound, Conflict)
  }).middleware(RpcAuthentication),
  Rpc.make("market.listReviews", { payload: { ...ById, ...PageParams.fields }, success: ReviewList, error: rpcErrors(BadRequest, NotFound, Unauthorized) })
) {}
