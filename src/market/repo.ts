import { SqlClient, type SqlError } from "@effect/sql"
import { Data, Effect, Option } from "effect"
import type { TrackId } from "../tracks/schema.js"
import type { UserId } from "../users/schema.js"
import type {
  CartItem,
  LicenseId,
  LicenseType,
  Order,
  OrderId,
  Product,
  ProductFileId,
  ProductId,
  ProductStatus,
  ProductType,
  Review
} from "./schema.js"
import { rowLimit, type TimeCursor, timeCursorColumn } from "../platform/cursor.js"


export interface ProductRow extends Omit<Product, "files" | "licenses"> {
  readonly deleted: boolean
  /** Its seller is banned: only they (and admins) see it while the ban lasts. */
  readonly seller_banned: boolean
  readonly licenses: ReadonlyArray<Product["licenses"][number]>
  readonly files: ReadonlyArray<{ id: ProductFileId; filename: string; content_type: string; size_bytes: number; created_at: string }>
  readonly cursor_at: string
}

export const toProduct = ({ deleted: _deleted, seller_banned: _banned, cursor_at: _cursor, ...r }: ProductRow): Product => ({
  ...r,
  files: r.files.map((f) => ({ ...f, created_at: new Date(f.created_at) }))
})

export interface StoredFile {
  readonly id: ProductFileId
  readonly product_id: ProductId
  readonly filename: string
  readonly content_type: string
  readonly size_bytes: number
  readonly storage_key: string
}

export interface NewProduct {
  readonly sellerId: UserId
  readonly title: string
  readonly type: ProductType
  readonly description: string | null
  readonly tags: ReadonlyArray<string>
  readonly genre: string | null
  readonly bpm: number | null
  readonly musicalKey: string | null
  readonly status: ProductStatus
  readonly trackId: TrackId | null
  readonly licenses: ReadonlyArray<{ type: LicenseType; price_cents: number; currency: string; terms: string | null }>
}

/** One licence of a product being bought, read under the product's lock. */
export interface SaleLine {
  readonly product_id: ProductId
  readonly seller_id: UserId
  readonly title: string
  readonly product_type: ProductType
  readonly status: ProductStatus
  readonly deleted: boolean
  readonly license_id: LicenseId
  readonly license_type: LicenseType
  readonly price_cents: number
  readonly currency: string
  readonly exclusive_taken: boolean
  /** The product sells a track that is deleted or hidden since: there is nothing to deliver. */
  readonly track_gone: boolean
  /** Its seller is banned: nothing of theirs is sold while the ban lasts. */
  readonly seller_banned: boolean
}

interface OrderRow extends Omit<Order, "total_cents"> {
  readonly total_cents: string | number
  readonly request_digest: string
  readonly cursor_at: string
}

const toOrder = ({ request_digest: _d, cursor_at: _c, ...r }: OrderRow): Order => ({ ...r, total_cents: Number(r.total_cents) })

export interface StoredOrder {
  readonly order: Order
  readonly digest: string
  readonly cursorAt: string
}

/** Of product p: its seller is banned, so nothing of theirs is shown to others or sold. */
const SELLER_BANNED = `exists (select 1 from users u where u.id = p.seller_id and u.is_banned)`
/** Of product p: it sells no track, or one neither deleted nor hidden; otherwise there is nothing to deliver. */
const TRACK_AVAILABLE = `(p.track_id is null or exists (select 1 from tracks t where t.id = p.track_id and t.deleted_at is null and t.hidden_at is null))`

const PRODUCT_COLUMNS = `
  p.id, p.seller_id, p.track_id, p.title, p.type, p.description, p.tags, p.genre, p.bpm, p.musical_key, p.status,
  p.sale_count, p.review_count, p.average_rating::float8 as average_rating, p.created_at, p.updated_at,
  p.deleted_at is not null as deleted,
  ${SELLER_BANNED} as seller_banned,
  ${timeCursorColumn("p.created_at")} as cursor_at,
  coalesce((select json_agg(json_build_object('id', l.id, 'type', l.type, 'price_cents', l.price_cents, 'currency', l.currency,
                                              'terms', l.terms, 'sold_out', l.exclusive_order_id is not null) order by l.type)
              from product_licenses l where l.product_id = p.id and l.withdrawn_at is null), '[]') as licenses,
  coalesce((select json_agg(json_build_object('id', f.id, 'filename', f.filename, 'content_type', f.content_type,
                                              'size_bytes', f.size_bytes, 'created_at', f.created_at) order by f.created_at, f.id)
              from product_files f where f.product_id = p.id), '[]') as files`

const ORDER_COLUMNS = `
  o.id, o.buyer_id, o.status, o.total_cents, o.currency, o.payment_provider, o.payment_reference, o.paid_at,
  o.created_at, o.updated_at, o.request_digest,
  ${timeCursorColumn("o.created_at")} as cursor_at,
  coalesce((select json_agg(json_build_object('id', i.id, 'product_id', i.product_id, 'license_id', i.license_id,
                                              'seller_id', i.seller_id, 'product_title', i.product_title,
                                              'product_type', i.product_type, 'license_type', i.license_type,
                                              'price_cents', i.price_cents, 'currency', i.currency) order by i.product_title, i.id)
              from order_items i where i.order_id = o.id), '[]') as items`

/** An offer change that would withdraw an exclusive licence someone has bought (or is buying): refused, nothing changed. */
export class SoldExclusiveWithdrawal extends Data.TaggedError("SoldExclusiveWithdrawal")<{}> {}

export class MarketRepo extends Effect.Service<MarketRepo>()("veza/MarketRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const productColumns = sql.literal(PRODUCT_COLUMNS)
    const orderColumns = sql.literal(ORDER_COLUMNS)
    /** A JSON array of strings as text[]: parameters stay parameters, whatever the strings hold. */
    const textArray = (values: ReadonlyArray<string>) => sql`array(select jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))`

    /** Deleted ones included: buyers keep their downloads when a product is withdrawn. */
    const productById = (id: ProductId) =>
      sql<ProductRow>`select ${productColumns} from products p where p.id = ${id}`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const createProduct = (p: NewProduct) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const [row] = yield* sql<{ id: ProductId }>`
            insert into products (seller_id, track_id, title, type, description, tags, genre, bpm, musical_key, status)
            values (${p.sellerId}, ${p.trackId}, ${p.title}, ${p.type}, ${p.description}, ${textArray(p.tags)}, ${p.genre},
                    ${p.bpm}, ${p.musicalKey}, ${p.status})
            returning id`
          for (const l of p.licenses) {
            yield* sql`insert into product_licenses (product_id, type, price_cents, currency, terms)
                       values (${row!.id}, ${l.type}, ${l.price_cents}, ${l.currency}, ${l.terms})`
          }
          return row!.id
        })
      )

    const updateProduct = (
      id: ProductId,
      patch: {
        title?: string | undefined
        type?: ProductType | undefined
        description?: string | null | undefined
        tags?: ReadonlyArray<string> | undefined
        genre?: string | null | undefined
        bpm?: number | null | undefined
        musical_key?: string | null | undefined
        status?: ProductStatus | undefined
        track_id?: TrackId | null | undefined
        licenses?: ReadonlyArray<NewProduct["licenses"][number]> | undefined
      }
    ): Effect.Effect<void, SqlError.SqlError | SoldExclusiveWithdrawal> => {
      const { tags, licenses, ...plain } = patch
      const set = Object.fromEntries(Object.entries(plain).filter(([, v]) => v !== undefined))
      if (Object.keys(set).length === 0 && tags === undefined && licenses === undefined) return Effect.void
      // `updated_at = now()` gives the clause a first item, whichever of the others is present.
      // Updating the row first also locks it, as checkout does, so no order is
      // priced from a half-changed offer.
      const product = sql<{ id: ProductId }>`
        update products set updated_at = now()
          ${Object.keys(set).length > 0 ? sql`, ${sql.update(set)}` : sql``}
          ${tags === undefined ? sql`` : sql`, tags = ${textArray(tags)}`}
         where id = ${id} and deleted_at is null returning id`
      if (licenses === undefined) return Effect.asVoid(product)
      return sql.withTransaction(
        Effect.gen(function* () {
          if ((yield* product).length === 0) return
          for (const l of licenses) {
            yield* sql`insert into product_licenses (product_id, type, price_cents, currency, terms)
                       values (${id}, ${l.type}, ${l.price_cents}, ${l.currency}, ${l.terms})
                       on conflict (product_id, type) do update
                         set price_cents = excluded.price_cents, currency = excluded.currency, terms = excluded.terms, withdrawn_at = null`
          }
          const kept = textArray(licenses.map((l) => l.type))
          // Once sold, an exclusive licence is what keeps the product off sale: it cannot be taken away.
          const soldExclusive = yield* sql`select 1 from product_licenses
                                            where product_id = ${id} and type::text <> all(${kept}) and withdrawn_at is null and exclusive_order_id is not null`
          if (soldExclusive.length > 0) return yield* new SoldExclusiveWithdrawal()
          yield* sql`delete from cart_items c using product_licenses l
                      where c.license_id = l.id and l.product_id = ${id} and l.type::text <> all(${kept})`
          yield* sql`delete from product_licenses l
                      where l.product_id = ${id} and l.type::text <> all(${kept})
                        and not exists (select 1 from order_items i where i.license_id = l.id)`
          yield* sql`update product_licenses set withdrawn_at = now()
                      where product_id = ${id} and type::text <> all(${kept}) and withdrawn_at is null`
        })
      )
    }

    const softDeleteProduct = (id: ProductId) => sql`update products set deleted_at = now() where id = ${id} and deleted_at is null`.pipe(Effect.asVoid)

    /**
     * Newest first after `after`. Others see active products; a seller
     * listing their own (`sellerId` = viewer) sees drafts and withdrawn ones too.
     */
    const listProducts = (options: {
      viewer: UserId | undefined
      sellerId: UserId | undefined
      type: ProductType | undefined
      after: TimeCursor | undefined
      limit: number
    }) => {
      const own = options.sellerId !== undefined && options.sellerId === options.viewer
      return sql<ProductRow>`
        select ${productColumns} from products p
         where p.deleted_at is null
           ${own ? sql`` : sql`and p.status = 'active' and not ${sql.literal(SELLER_BANNED)} and ${sql.literal(TRACK_AVAILABLE)}`}
           ${options.sellerId === undefined ? sql`` : sql`and p.seller_id = ${options.sellerId}`}
           ${options.type === undefined ? sql`` : sql`and p.type = ${options.type}`}
           ${options.after === undefined ? sql`` : sql`and (p.created_at, p.id) < (${options.after.at}::timestamptz, ${options.after.id}::uuid)`}
         order by p.created_at desc, p.id desc
         limit ${rowLimit(options.limit + 1)}`
    }

    const insertFile = (f: StoredFile & { storage_backend: string }) =>
      sql`insert into product_files (id, product_id, filename, content_type, size_bytes, storage_backend, storage_key)
          values (${f.id}, ${f.product_id}, ${f.filename}, ${f.content_type}, ${f.size_bytes}, ${f.storage_backend}, ${f.storage_key})`.pipe(
        Effect.asVoid
      )

    const fileById = (product: ProductId, id: ProductFileId) =>
      sql<StoredFile>`
        select id, product_id, filename, content_type, size_bytes::float8 as size_bytes, storage_key
          from product_files where id = ${id} and product_id = ${product}`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const files = (product: ProductId) =>
      sql<StoredFile>`
        select id, product_id, filename, content_type, size_bytes::float8 as size_bytes, storage_key
          from product_files where product_id = ${product} order by created_at, id`

    const deleteFile = (product: ProductId, id: ProductFileId) =>
      sql<{ storage_key: string }>`delete from product_files where id = ${id} and product_id = ${product} returning storage_key`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]?.storage_key))
      )

    /** Every licence of these products, with what a sale snapshots. */
    const saleLines = (products: ReadonlyArray<ProductId>) =>
      sql<SaleLine>`
        select p.id as product_id, p.seller_id, p.title, p.type as product_type, p.status, p.deleted_at is not null as deleted,
               l.id as license_id, l.type as license_type, l.price_cents, l.currency, l.exclusive_order_id is not null as exclusive_taken,
               not ${sql.literal(TRACK_AVAILABLE)} as track_gone, ${sql.literal(SELLER_BANNED)} as seller_banned
          from products p join product_licenses l on l.product_id = p.id and l.withdrawn_at is null
         where p.id = any(${products}::uuid[])`

    const cart = (user: UserId) =>
      sql<CartItem>`
        select c.product_id, c.license_id, p.title as product_title, l.type as license_type, l.price_cents, l.currency, c.updated_at as added_at
          from cart_items c join products p on p.id = c.product_id join product_licenses l on l.id = c.license_id
         where c.user_id = ${user} and p.deleted_at is null
         order by c.updated_at, c.product_id`

    const putInCart = (user: UserId, product: ProductId, license: LicenseId) =>
      sql`insert into cart_items (user_id, product_id, license_id) values (${user}, ${product}, ${license})
          on conflict (user_id, product_id) do update set license_id = excluded.license_id`.pipe(Effect.asVoid)

    const removeFromCart = (user: UserId, product: ProductId) =>
      sql`delete from cart_items where user_id = ${user} and product_id = ${product}`.pipe(Effect.asVoid)

    const orderByKey = (buyer: UserId, key: string) =>
      sql<OrderRow>`select ${orderColumns} from orders o where o.buyer_id = ${buyer} and o.idempotency_key = ${key}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r): StoredOrder => ({ order: toOrder(r), digest: r.request_digest, cursorAt: r.cursor_at })))
      )

    const orderById = (id: OrderId) =>
      sql<OrderRow>`select ${orderColumns} from orders o where o.id = ${id}`.pipe(Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toOrder)))

    const listOrders = (buyer: UserId, after: TimeCursor | undefined, limit: number) =>
      sql<OrderRow>`
        select ${orderColumns} from orders o
         where o.buyer_id = ${buyer}
           ${after === undefined ? sql`` : sql`and (o.created_at, o.id) < (${after.at}::timestamptz, ${after.id}::uuid)`}
         order by o.created_at desc, o.id desc
         limit ${rowLimit(limit + 1)}`.pipe(Effect.map((rows) => rows.map((r) => ({ order: toOrder(r), cursorAt: r.cursor_at }))))

    /**
     * Locks the products being bought, in id order so that overlapping
     * checkouts queue instead of deadlocking. Held until the transaction ends:
     * whoever comes second sees what the first one bought.
     */
    const lockProducts = (ids: ReadonlyArray<ProductId>) =>
      sql`select id from products where id = any(${[...ids].sort()}::uuid[]) order by id for update`.pipe(Effect.asVoid)

    /**
     * Licences among these that the buyer holds through a paid order, or is
     * paying for in a pending one: two checkouts at once under different
     * keys (a double click) would otherwise both be charged.
     */
    const ownedLicenses = (buyer: UserId, licenses: ReadonlyArray<LicenseId>) =>
      sql<{ license_id: LicenseId }>`
        select distinct i.license_id from order_items i join orders o on o.id = i.order_id
         where o.buyer_id = ${buyer} and o.status in ('paid', 'pending') and i.license_id = any(${licenses}::uuid[])`.pipe(
        Effect.map((rows) => new Set(rows.map((r) => r.license_id)))
      )

    const insertOrder = (o: { buyer: UserId; key: string; digest: string; totalCents: number; currency: string; lines: ReadonlyArray<SaleLine> }) =>
      Effect.gen(function* () {
        const [row] = yield* sql<{ id: OrderId }>`
          insert into orders (buyer_id, total_cents, currency, idempotency_key, request_digest)
          values (${o.buyer}, ${o.totalCents}, ${o.currency}, ${o.key}, ${o.digest}) returning id`
        const id = row!.id
        for (const l of o.lines) {
          yield* sql`
            insert into order_items (order_id, product_id, license_id, seller_id, product_title, product_type, license_type, price_cents, currency)
            values (${id}, ${l.product_id}, ${l.license_id}, ${l.seller_id}, ${l.title}, ${l.product_type}, ${l.license_type}, ${l.price_cents}, ${l.currency})`
        }
        return id
      })

    /** Marks the exclusive licences as held by the order; answers how many it got (all, unless another order holds one). */
    const claimExclusives = (order: OrderId, licenses: ReadonlyArray<LicenseId>) =>
      sql`update product_licenses set exclusive_order_id = ${order}
           where id = any(${licenses}::uuid[]) and type = 'exclusive' and exclusive_order_id is null returning id`.pipe(Effect.map((rows) => rows.length))

    /** The order is paid, and its products leave the buyer's cart (a declined one leaves the cart as it was, to try again). */
    const markPaid = (id: OrderId, provider: string, reference: string) =>
      sql`
        with paid as (
          update orders set status = 'paid', paid_at = now(), payment_provider = ${provider}, payment_reference = ${reference}
           where id = ${id} and status = 'pending'
          returning id, buyer_id
        )
        delete from cart_items c using paid, order_items i
         where i.order_id = paid.id and c.user_id = paid.buyer_id and c.product_id = i.product_id`.pipe(Effect.asVoid)

    /** A declined payment gives its exclusive licences back. */
    const markFailed = (id: OrderId, provider: string) =>
      sql.withTransaction(
        Effect.zipRight(
          sql`update orders set status = 'failed', failed_at = now(), payment_provider = ${provider} where id = ${id} and status = 'pending'`,
          sql`update product_licenses set exclusive_order_id = null where exclusive_order_id = ${id}`
        )
      ).pipe(Effect.asVoid)

    /**
     * Orders left pending longer than `seconds` (the process settling them
     * died, or a provider never called back) fail, and give back the
     * exclusive licences they held; answers how many.
     */
    const expirePendingOrders = (seconds: number) =>
      sql<{ expired: number }>`
        with expired as (
          update orders set status = 'failed', failed_at = now()
           where status = 'pending' and created_at < now() - make_interval(secs => ${seconds})
          returning id
        ), released as (
          update product_licenses set exclusive_order_id = null where exclusive_order_id in (select id from expired) returning id
        )
        select count(*)::int as expired from expired`.pipe(Effect.map((rows) => rows[0]?.expired ?? 0))

    const hasPaidFor = (buyer: UserId, product: ProductId) =>
      sql`select 1 from order_items i join orders o on o.id = i.order_id
           where o.buyer_id = ${buyer} and o.status = 'paid' and i.product_id = ${product} limit 1`.pipe(Effect.map((rows) => rows.length > 0))

    const insertReview = (product: ProductId, user: UserId, rating: number, comment: string | null) =>
      sql<{ id: string }>`insert into product_reviews (product_id, user_id, rating, comment) values (${product}, ${user}, ${rating}, ${comment}) returning id`.pipe(
        Effect.map((rows) => rows[0]!.id)
      )

    const reviews = (product: ProductId, options: { id?: string; after?: TimeCursor | undefined; limit: number }) =>
      sql<Review & { cursor_at: string }>`
        select r.id, r.product_id, r.user_id, u.username, r.rating, r.comment, r.created_at, r.updated_at,
               ${sql.literal(timeCursorColumn("r.created_at"))} as cursor_at
          from product_reviews r join users u on u.id = r.user_id
         where r.product_id = ${product}
           ${options.id === undefined ? sql`` : sql`and r.id = ${options.id}`}
           ${options.after === undefined ? sql`` : sql`and (r.created_at, r.id) < (${options.after.at}::timestamptz, ${options.after.id}::uuid)`}
         order by r.created_at desc, r.id desc
         limit ${rowLimit(options.limit + 1)}`

    return {
      productById,
      createProduct,
      updateProduct,
      softDeleteProduct,
      listProducts,
      insertFile,
      fileById,
      files,
      deleteFile,
      saleLines,
      cart,
      putInCart,
      removeFromCart,
      orderByKey,
      orderById,
      listOrders,
      lockProducts,
      ownedLicenses,
      insertOrder,
      claimExclusives,
      markPaid,
      markFailed,
      expirePendingOrders,
      hasPaidFor,
      insertReview,
      reviews
    } as const
  })
}) {}
