import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, Multipart } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../auth/api.js"
import {
  BadRequest,
  Conflict,
  Forbidden,
  NotFound,
  PayloadTooLarge,
  ServiceUnavailable,
  Unauthorized,
  Unprocessable,
  UnsupportedMediaType
} from "../platform/api-errors.js"
import { StoredText } from "../platform/text.js"
import { TrackId } from "../tracks/schema.js"
import { UserId } from "../users/schema.js"
import {
  Bpm,
  CartItem,
  Download,
  Genre,
  LicenseId,
  MusicalKey,
  NewLicense,
  Order,
  OrderId,
  Product,
  ProductDescription,
  ProductFile,
  ProductFileId,
  ProductId,
  ProductStatus,
  ProductTitle,
  ProductType,
  Review,
  Tags
} from "./schema.js"

const IntFromString = (name: string, min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.int({ message: () => `${name} must be an integer` }),
    Schema.between(min, max, { message: () => `${name} must be between ${min} and ${max}` })
  )

const Page = {
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  limit: Schema.optional(IntFromString("limit", 1, 100))
}

export const PageParams = Schema.Struct(Page)
export const ProductListParams = Schema.Struct({ seller_id: Schema.optional(UserId), type: Schema.optional(ProductType), ...Page })

const ProductPath = Schema.Struct({ id: ProductId })

/** What a product is sold under: one licence per type, at least one. */
const LicenseOffer = Schema.Array(NewLicense).pipe(
  Schema.minItems(1, { message: () => "a product needs at least one licence" }),
  Schema.filter((ls) => new Set(ls.map((l) => l.type)).size === ls.length, { message: () => "at most one licence of each type" })
)

export const CreateProduct = Schema.Struct({
  title: ProductTitle,
  type: ProductType,
  description: Schema.optional(ProductDescription),
  tags: Schema.optional(Tags),
  genre: Schema.optional(Genre),
  bpm: Schema.optional(Bpm),
  musical_key: Schema.optional(MusicalKey),
  status: Schema.optional(ProductStatus),
  /** One of the seller's own tracks, sold with the licences (its original is the download). */
  track_id: Schema.optional(TrackId),
  licenses: LicenseOffer
})
export type CreateProduct = typeof CreateProduct.Type

export const UpdateProduct = Schema.Struct({
  title: Schema.optional(ProductTitle),
  type: Schema.optional(ProductType),
  description: Schema.optional(Schema.NullOr(ProductDescription)),
  tags: Schema.optional(Tags),
  genre: Schema.optional(Schema.NullOr(Genre)),
  bpm: Schema.optional(Schema.NullOr(Bpm)),
  musical_key: Schema.optional(Schema.NullOr(MusicalKey)),
  status: Schema.optional(ProductStatus),
  track_id: Schema.optional(Schema.NullOr(TrackId)),
  /**
   * The whole offer from now on, matched by licence type: a listed type keeps
   * its id (carts and past orders still name it) with the new price and
   * terms; an unlisted one is withdrawn.
   */
  licenses: Schema.optional(LicenseOffer)
})
export type UpdateProduct = typeof UpdateProduct.Type

export const ProductList = Schema.Struct({ items: Schema.Array(Product), next_cursor: Schema.NullOr(Schema.String) })
export const Cart = Schema.Struct({ items: Schema.Array(CartItem) })
export const OrderList = Schema.Struct({ items: Schema.Array(Order), next_cursor: Schema.NullOr(Schema.String) })
export const ReviewList = Schema.Struct({ items: Schema.Array(Review), next_cursor: Schema.NullOr(Schema.String) })

export const Choice = Schema.Struct({ product_id: ProductId, license_id: LicenseId })

export const Checkout = Schema.Struct({
  items: Schema.Array(Choice).pipe(
    Schema.minItems(1, { message: () => "an order needs at least one item" }),
    Schema.maxItems(50, { message: () => "at most 50 items per order" }),
    Schema.filter((items) => new Set(items.map((i) => i.product_id.toLowerCase())).size === items.length, {
      message: () => "each product at most once per order"
    })
  )
})
export type Checkout = typeof Checkout.Type

export const NewReview = Schema.Struct({
  rating: Schema.Int.pipe(Schema.between(1, 5, { message: () => "rating must be an integer from 1 to 5" })),
  comment: Schema.optional(StoredText.pipe(Schema.maxLength(2000, { message: () => "comment must be at most 2000 characters" })))
})

/**
 * The marketplace (SPEC §4): products with licences and files, the cart,
 * idempotent checkout, orders, download links for buyers, reviews by buyers.
 */
export class MarketApi extends HttpApiGroup.make("market")
  .add(
    HttpApiEndpoint.post("createProduct", "/marketplace/products")
      .setPayload(CreateProduct)
      .addSuccess(Product, { status: 201 })
      .addError(Unprocessable.envelope)
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("listProducts", "/marketplace/products")
      .setUrlParams(ProductListParams)
      .addSuccess(ProductList)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
  )
  .add(
    HttpApiEndpoint.get("getProduct", "/marketplace/products/:id")
      .setPath(ProductPath)
      .addSuccess(Product)
      .addError(NotFound.envelope)
      .addError(Unauthorized.envelope)
  )
  .add(
    HttpApiEndpoint.patch("updateProduct", "/marketplace/products/:id")
      .setPath(ProductPath)
      .setPayload(UpdateProduct)
      .addSuccess(Product)
      .addError(Unprocessable.envelope)
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("deleteProduct", "/marketplace/products/:id")
      .setPath(ProductPath)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("uploadFile", "/marketplace/products/:id/files")
      .setPath(ProductPath)
      .setPayload(HttpApiSchema.MultipartStream(Schema.Struct({ file: Multipart.SingleFileSchema })))
      .addSuccess(ProductFile, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(PayloadTooLarge.envelope)
      .addError(UnsupportedMediaType.envelope)
      .addError(Unprocessable.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("deleteFile", "/marketplace/products/:id/files/:file_id")
      .setPath(Schema.Struct({ id: ProductId, file_id: ProductFileId }))
      .addSuccess(Schema.Void, { status: 204 })
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(HttpApiEndpoint.get("cart", "/marketplace/cart").addSuccess(Cart).middleware(Authentication))
  .add(
    HttpApiEndpoint.post("addToCart", "/marketplace/cart/items")
      .setPayload(Choice)
      .addSuccess(Cart, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .addError(Unprocessable.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("removeFromCart", "/marketplace/cart/items/:product_id")
      .setPath(Schema.Struct({ product_id: ProductId }))
      .addSuccess(Schema.Void, { status: 204 })
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("checkout", "/marketplace/orders")
      .setHeaders(Schema.Struct({ "idempotency-key": Schema.optional(Schema.String) }))
      .setPayload(Checkout)
      .addSuccess(Order, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .addError(Unprocessable.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("listOrders", "/marketplace/orders")
      .setUrlParams(PageParams)
      .addSuccess(OrderList)
      .addError(BadRequest.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("getOrder", "/marketplace/orders/:id")
      .setPath(Schema.Struct({ id: OrderId }))
      .addSuccess(Order)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("download", "/marketplace/download/:product_id")
      .setPath(Schema.Struct({ product_id: ProductId }))
      .addSuccess(Download)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("createReview", "/marketplace/products/:id/reviews")
      .setPath(ProductPath)
      .setPayload(NewReview)
      .addSuccess(Review, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("listReviews", "/marketplace/products/:id/reviews")
      .setPath(ProductPath)
      .setUrlParams(PageParams)
      .addSuccess(ReviewList)
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
      .addError(Unauthorized.envelope)
  )
  .addError(ServiceUnavailable.envelope) {}
