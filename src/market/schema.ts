import { Schema } from "effect"
import { StoredText } from "../platform/text.js"
import { TrackId } from "../tracks/schema.js"
import { UserId } from "../users/schema.js"

export const ProductId = Schema.UUID.pipe(Schema.brand("ProductId"))
export type ProductId = typeof ProductId.Type
export const LicenseId = Schema.UUID.pipe(Schema.brand("LicenseId"))
export type LicenseId = typeof LicenseId.Type
export const ProductFileId = Schema.UUID.pipe(Schema.brand("ProductFileId"))
export type ProductFileId = typeof ProductFileId.Type
export const OrderId = Schema.UUID.pipe(Schema.brand("OrderId"))
export type OrderId = typeof OrderId.Type
export const ReviewId = Schema.UUID.pipe(Schema.brand("ReviewId"))
export type ReviewId = typeof ReviewId.Type

export const ProductType = Schema.Literal("beat", "sample_pack", "preset", "loop", "midi", "template", "other")
export type ProductType = typeof ProductType.Type
export const ProductStatus = Schema.Literal("draft", "active", "inactive")
export type ProductStatus = typeof ProductStatus.Type
export const LicenseType = Schema.Literal("basic", "premium", "exclusive")
export type LicenseType = typeof LicenseType.Type
export const OrderStatus = Schema.Literal("pending", "paid", "failed", "refunded")
export type OrderStatus = typeof OrderStatus.Type

/** ISO 4217: three uppercase letters. */
export const Currency = Schema.String.pipe(Schema.pattern(/^[A-Z]{3}$/, { message: () => "currency must be an ISO 4217 code such as EUR or USD" }))

/** Integer cents, up to 10 million units of the currency. */
export const PriceCents = Schema.Int.pipe(
  Schema.between(0, 1_000_000_000, { message: () => "price_cents must be an integer between 0 and 1000000000" })
)

const trimmed = (name: string, max: number) =>
  StoredText.pipe(
    Schema.transform(Schema.String, { strict: true, decode: (s) => s.trim(), encode: (s) => s }),
    Schema.minLength(1, { message: () => `${name} must not be blank` }),
    Schema.maxLength(max, { message: () => `${name} must be at most ${max} characters` })
  )

export const ProductTitle = trimmed("title", 255)
export const ProductDescription = StoredText.pipe(Schema.maxLength(5000, { message: () => "description must be at most 5000 characters" }))
export const Genre = trimmed("genre", 100)
export const MusicalKey = trimmed("musical_key", 10)
export const Bpm = Schema.Int.pipe(Schema.between(1, 999, { message: () => "bpm must be an integer between 1 and 999" }))
export const Tags = Schema.Array(trimmed("a tag", 50)).pipe(Schema.maxItems(20, { message: () => "at most 20 tags" }))

export const NewLicense = Schema.Struct({
  type: LicenseType,
  price_cents: PriceCents,
  currency: Currency,
  terms: Schema.optional(StoredText.pipe(Schema.maxLength(10000)))
})

export const License = Schema.Struct({
  id: LicenseId,
  type: LicenseType,
  price_cents: Schema.Int,
  currency: Schema.String,
  terms: Schema.NullOr(Schema.String),
  /** Only exclusive licences can sell out: once bought, nobody else can buy them. */
  sold_out: Schema.Boolean
}).annotations({ identifier: "License" })
export type License = typeof License.Type

export const ProductFile = Schema.Struct({
  id: ProductFileId,
  filename: Schema.String,
  content_type: Schema.String,
  size_bytes: Schema.Int,
  created_at: Schema.Date
}).annotations({ identifier: "ProductFile" })
export type ProductFile = typeof ProductFile.Type

export const Product = Schema.Struct({
  id: ProductId,
  seller_id: UserId,
  track_id: Schema.NullOr(TrackId),
  title: Schema.String,
  type: ProductType,
  description: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  genre: Schema.NullOr(Schema.String),
  bpm: Schema.NullOr(Schema.Int),
  musical_key: Schema.NullOr(Schema.String),
  status: ProductStatus,
  licenses: Schema.Array(License),
  files: Schema.Array(ProductFile),
  sale_count: Schema.Int,
  review_count: Schema.Int,
  average_rating: Schema.Number,
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "Product" })
export type Product = typeof Product.Type

export const CartItem = Schema.Struct({
  product_id: ProductId,
  license_id: LicenseId,
  product_title: Schema.String,
  license_type: LicenseType,
  price_cents: Schema.Int,
  currency: Schema.String,
  added_at: Schema.Date
}).annotations({ identifier: "CartItem" })
export type CartItem = typeof CartItem.Type

export const OrderItem = Schema.Struct({
  id: Schema.UUID,
  product_id: ProductId,
  license_id: LicenseId,
  seller_id: UserId,
  product_title: Schema.String,
  product_type: ProductType,
  license_type: LicenseType,
  price_cents: Schema.Int,
  currency: Schema.String
}).annotations({ identifier: "OrderItem" })

export const Order = Schema.Struct({
  id: OrderId,
  buyer_id: UserId,
  status: OrderStatus,
  total_cents: Schema.Int,
  currency: Schema.String,
  payment_provider: Schema.NullOr(Schema.String),
  payment_reference: Schema.NullOr(Schema.String),
  items: Schema.Array(OrderItem),
  paid_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "Order" })
export type Order = typeof Order.Type

export const Review = Schema.Struct({
  id: ReviewId,
  product_id: ProductId,
  user_id: UserId,
  username: Schema.String,
  rating: Schema.Int,
  comment: Schema.NullOr(Schema.String),
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "Review" })
export type Review = typeof Review.Type

export const DownloadFile = Schema.Struct({
  /** A product file's id, or `track` for the linked track's original. */
  id: Schema.String,
  filename: Schema.String,
  size_bytes: Schema.Int,
  url: Schema.String
}).annotations({ identifier: "DownloadFile" })

export const Download = Schema.Struct({
  /** The first of `files`: what a one-file product is. */
  url: Schema.String,
  expires_at: Schema.Date,
  files: Schema.Array(DownloadFile)
}).annotations({ identifier: "Download" })
export type Download = typeof Download.Type
