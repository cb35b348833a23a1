import { decodeTimeCursor, encodeTimeCursor, pageOf, type TimeCursor } from "../platform/cursor.js"
import { Notifications } from "../social/notifications.js"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { Readable } from "node:stream"
import { Multipart } from "@effect/platform"
import { NodeSink } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Data, Effect, Either, Option, Stream } from "effect"
import type { Actor } from "../auth/current-user.js"
import { isAdmin, policyRequire } from "../auth/policy.js"
import { BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType } from "../platform/api-errors.js"
import { AppConfig } from "../platform/config.js"
import { sqlErrors, uniqueViolation } from "../platform/sql-errors.js"
import { Storage } from "../platform/storage.js"
import { scopedTempDir } from "../platform/temp-dir.js"
import type { TrackId } from "../tracks/schema.js"
import { Tracks } from "../tracks/service.js"
import type { Checkout, CreateProduct, UpdateProduct } from "./api.js"
import { MarketConfig } from "./config.js"
import { ProductDownloadLinks } from "./links.js"
import { PaymentGateway } from "./payment-gateway.js"
import { canSeeProduct, managesProduct } from "./policy.js"
import { MarketRepo, type ProductRow, type StoredOrder, toProduct } from "./repo.js"
import type { LicenseId, OrderId, ProductFileId, ProductId, ProductType } from "./schema.js"
import { isUuid } from "../platform/text.js"
import { AuditLog } from "../audit/service.js"

const productNotFound = () => NotFound.of("product not found", "PRODUCT_NOT_FOUND")
const orderNotFound = () => NotFound.of("order not found", "ORDER_NOT_FOUND")
/** Licences as stored: terms left out are none. */
const offer = (licenses: CreateProduct["licenses"]) => licenses.map((l) => ({ ...l, terms: l.terms ?? null }))
const notSeller = () => Forbidden.of("only the product's seller or an admin may change it", "NOT_SELLER")

/** What RFC 9110 allows in a header value, minus spaces; long enough for a UUID or a hash. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/
const CONTENT_TYPE = /^[A-Za-z0-9][\w.+-]*\/[\w.+-]+$/
/** Room for part headers on top of the file itself. */
const FORM_OVERHEAD_BYTES = 64 * 1024
/** The download name of a product's linked track (its original upload). */
export const TRACK_FILE = "track"

class DiskWriteFailed extends Data.TaggedError("DiskWriteFailed")<{ readonly cause: unknown }> {}

const decodeCursor = (cursor: string | undefined) => Effect.map(decodeTimeCursor(cursor), Option.getOrUndefined)

const page = <A>(rows: ReadonlyArray<A>, limit: number, position: (a: A) => TimeCursor) =>
  pageOf(rows, limit, (last) => {
    const p = position(last)
    return encodeTimeCursor(p.at, p.id)
  })

/** The same items in any order make the same request. */
const digestOf = (items: Checkout["items"]) =>
  NodeCrypto.createHash("sha256")
    .update(JSON.stringify(items.map((i) => [i.product_id.toLowerCase(), i.license_id.toLowerCase()]).sort()))
    .digest("hex")

const storableName = (filename: string) => NodePath.basename(filename).replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 255) || "file"

/**
 * The marketplace's rules: sellers list products with licences and files;
 * buyers check out once per Idempotency-Key, pay through the PaymentGateway,
 * then download and review what they bought.
 */
export class Market extends Effect.Service<Market>()("veza/Market", {
  effect: Effect.gen(function* () {
    const repo = yield* MarketRepo
    const audit = yield* AuditLog
    const sql = yield* SqlClient.SqlClient
    const tracks = yield* Tracks
    const storage = yield* Storage
    const links = yield* ProductDownloadLinks
    const notifications = yield* Notifications
    const gateway = yield* PaymentGateway
    const config = yield* MarketConfig
    const app = yield* AppConfig
    const uploadsDir = NodePath.join(app.dataDir, "tmp", "market-uploads")

    /** The product if the actor may see it (deleted ones are gone for everyone here). */
    const visible = (actor: Actor | undefined, id: ProductId) =>
      Effect.flatMap(repo.productById(id), (row) =>
        Option.isSome(row) && !row.value.deleted && canSeeProduct(actor, row.value) ? Effect.succeed(row.value) : Effect.fail(productNotFound())
      )

    const managed = (actor: Actor, id: ProductId) =>
      Effect.flatMap(visible(actor, id), (row) => (managesProduct(actor, row) ? Effect.succeed(row) : Effect.fail(notSeller())))

    const reload = (id: ProductId) => Effect.map(repo.productById(id), (row) => toProduct(Option.getOrThrow(row)))

    /** A track may be sold only by whoever owns it; one the actor cannot see is as missing as an unknown one. */
    const checkTrack = (actor: Actor, trackId: TrackId) =>
      tracks.get(trackId, actor).pipe(
        Effect.catchTag("NotFound", () => Effect.fail(NotFound.of("track not found", "TRACK_NOT_FOUND"))),
        Effect.flatMap((track): Effect.Effect<void, Forbidden | Unprocessable> =>
          track.creator_id !== actor.id && !isAdmin(actor)
            ? Effect.fail(Forbidden.of("only the track's owner can sell it", "NOT_TRACK_OWNER"))
            : track.hidden_at != null
              ? Effect.fail(Unprocessable.of("a track hidden by moderation cannot be sold", "TRACK_HIDDEN"))
              : Effect.void
        )
      )

    const createProduct = (actor: Actor, input: CreateProduct) =>
      Effect.gen(function* () {
        if (input.track_id !== undefined) yield* checkTrack(actor, input.track_id)
        const id = yield* repo.createProduct({
          sellerId: actor.id,
          title: input.title,
          type: input.type,
          description: input.description ?? null,
          tags: input.tags ?? [],
          genre: input.genre ?? null,
          bpm: input.bpm ?? null,
          musicalKey: input.musical_key ?? null,
          status: input.status ?? "active",
          trackId: input.track_id ?? null,
          licenses: offer(input.licenses)
        })
        return yield* reload(id)
      }).pipe(sqlErrors, policyRequire("Product", "create"))

    const getProduct = (actor: Actor | undefined, id: ProductId) => Effect.map(visible(actor, id), toProduct).pipe(sqlErrors)

    const listProducts = (actor: Actor | undefined, options: { sellerId?: ProductRow["seller_id"] | undefined; type?: ProductType | undefined; cursor?: string | undefined; limit: number }) =>
      Effect.gen(function* () {
        const after = yield* decodeCursor(options.cursor)
        const rows = yield* repo.listProducts({ viewer: actor?.id, sellerId: options.sellerId, type: options.type, after, limit: options.limit })
        const result = page(rows, options.limit, (r) => ({ at: r.cursor_at, id: r.id }))
        return { items: result.items.map(toProduct), next_cursor: result.next_cursor }
      }).pipe(sqlErrors)

    const updateProduct = (actor: Actor, id: ProductId, patch: UpdateProduct) =>
      Effect.gen(function* () {
        const row = yield* managed(actor, id)
        if (patch.track_id !== undefined && patch.track_id !== null) yield* checkTrack(actor, patch.track_id)
        const entry = { action: "admin.product_updated", targetType: "product", targetId: id, metadata: { fields: Object.keys(patch) } }
        yield* audit.onBehalf(actor, [row.seller_id], entry, repo.updateProduct(id, { ...patch, licenses: patch.licenses === undefined ? undefined : offer(patch.licenses) })).pipe(
          Effect.catchTag("SoldExclusiveWithdrawal", () =>
            Conflict.of("the exclusive licence has been sold: it stays on the product, which can be taken off sale instead", "EXCLUSIVE_SOLD")
          )
        )
        return yield* reload(id)
      }).pipe(sqlErrors)

    /** Soft: buyers keep their downloads and orders keep their items. */
    const deleteProduct = (actor: Actor, id: ProductId) =>
      Effect.flatMap(managed(actor, id), (row) =>
        audit.onBehalf(actor, [row.seller_id], { action: "admin.product_deleted", targetType: "product", targetId: id }, repo.softDeleteProduct(id))
      ).pipe(sqlErrors)

    const tooLarge = () => PayloadTooLarge.of(`the file exceeds the limit of ${config.maxFileBytes} bytes`)
    const multipartFailure = (e: Multipart.MultipartError) => {
      const limit = typeof e.cause === "object" && e.cause !== null && (e.cause as { _tag?: unknown })._tag === "ReachedLimit"
      return limit || /TooLarge/.test(e.reason) ? tooLarge() : e.reason === "TooManyParts" ? BadRequest.of('send one part, the file, as "file"') : BadRequest.of("the multipart body could not be parsed", "MALFORMED_BODY")
    }

    /** Streams the form's one file to disk, within the size limit. */
    const receiveFile = (parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>, dir: string) =>
      Effect.gen(function* () {
        let file: { path: string; name: string; contentType: string; size: number } | undefined
        yield* parts.pipe(
          Multipart.withLimitsStream({
            maxParts: Option.some(1),
            maxFileSize: Option.some(config.maxFileBytes),
            maxTotalSize: Option.some(config.maxFileBytes + FORM_OVERHEAD_BYTES)
          }),
          Stream.mapError(multipartFailure),
          Stream.runForEach((part) =>
            Effect.gen(function* () {
              if (part._tag !== "File" || part.key !== "file") return yield* BadRequest.of('send the file as the form field "file", and nothing else')
              const path = NodePath.join(dir, "upload")
              let size = 0
              yield* part.content.pipe(
                Stream.mapError(multipartFailure),
                Stream.tap((chunk) => {
                  size += chunk.length
                  return size > config.maxFileBytes ? Effect.fail(tooLarge()) : Effect.void
                }),
                Stream.run(NodeSink.fromWritable(() => NodeFs.createWriteStream(path), (cause) => new DiskWriteFailed({ cause }))),
                Effect.catchTag("DiskWriteFailed", (e) => Effect.die(e))
              )
              file = { path, name: part.name, contentType: part.contentType, size }
            })
          )
        )
        return Option.fromNullable(file)
      })

    const uploadFile = (
      actor: Actor,
      id: ProductId,
      parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>,
      headers: { readonly contentType: string | undefined; readonly contentLength: string | undefined }
    ) =>
      Effect.scoped(
        Effect.gen(function* () {
          yield* managed(actor, id)
          if (!/^multipart\/form-data\s*;\s*boundary=/i.test(headers.contentType ?? "")) {
            return yield* UnsupportedMediaType.of('send the file as multipart/form-data in the "file" field')
          }
          if (Number(headers.contentLength ?? 0) > config.maxFileBytes + FORM_OVERHEAD_BYTES) return yield* tooLarge()
          const dir = yield* scopedTempDir(uploadsDir, "product-")
          const received = yield* receiveFile(parts, dir)
          if (Option.isNone(received)) return yield* BadRequest.of('the form has no file; send it as the "file" field')
          const file = received.value
          if (file.size === 0) return yield* Unprocessable.of("the file is empty", "EMPTY_FILE")
          const fileId = NodeCrypto.randomUUID() as ProductFileId
          const key = `products/${id}/files/${fileId}`
          const contentType = CONTENT_TYPE.test(file.contentType) ? file.contentType.slice(0, 255) : "application/octet-stream"
          const stored = { id: fileId, product_id: id, filename: storableName(file.name), content_type: contentType, size_bytes: file.size, storage_key: key }
          // The stored object is removed again unless its row commits.
          yield* storage.putFile(key, file.path, { contentType }).pipe(
            Effect.zipRight(repo.insertFile({ ...stored, storage_backend: storage.backend })),
            Effect.onError(() => storage.delete(key).pipe(Effect.ignoreLogged))
          )
          return { id: fileId, filename: stored.filename, content_type: contentType, size_bytes: file.size, created_at: new Date() }
        })
      ).pipe(Effect.catchTag("StorageError", (e) => Effect.die(e)), sqlErrors)

    const deleteFile = (actor: Actor, id: ProductId, fileId: ProductFileId) =>
      Effect.gen(function* () {
        yield* managed(actor, id)
        const key = yield* repo.deleteFile(id, fileId)
        if (Option.isNone(key)) return yield* NotFound.of("file not found", "FILE_NOT_FOUND")
        // The row is gone, so nobody can be handed the object again; a failed delete only leaves an orphan.
        yield* storage.delete(key.value).pipe(Effect.ignoreLogged)
      }).pipe(sqlErrors)

    const cart = (actor: Actor) => Effect.map(repo.cart(actor.id), (items) => ({ items })).pipe(sqlErrors)

    const addToCart = (actor: Actor, productId: ProductId, licenseId: LicenseId) =>
      Effect.gen(function* () {
        const product = yield* visible(actor, productId)
        if (product.status !== "active") return yield* Conflict.of("this product is not on sale", "NOT_ON_SALE")
        const license = product.licenses.find((l) => l.id === licenseId.toLowerCase())
        if (license === undefined) return yield* NotFound.of("that licence is not one of this product's", "LICENSE_NOT_FOUND")
        if (product.seller_id === actor.id) return yield* Unprocessable.of("you cannot buy your own product", "OWN_PRODUCT")
        if (product.licenses.some((l) => l.sold_out)) return yield* Conflict.of("this product has been sold with an exclusive licence", "EXCLUSIVE_SOLD")
        yield* repo.putInCart(actor.id, product.id, license.id)
        return { items: yield* repo.cart(actor.id) }
      }).pipe(sqlErrors)

    const removeFromCart = (actor: Actor, productId: ProductId) => repo.removeFromCart(actor.id, productId).pipe(sqlErrors)

    /**
     * Stores the order and its items (prices as they are now) in one
     * transaction, holding the products' locks: a concurrent buyer of the
     * same exclusive licence waits, then finds it taken. A request that
     * waited behind its own retry finds that retry's order instead.
     */
    const place = (actor: Actor, key: string, digest: string, items: Checkout["items"]) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const ids = items.map((i) => i.product_id)
          yield* repo.lockProducts(ids)
          const earlier = yield* repo.orderByKey(actor.id, key)
          if (Option.isSome(earlier)) return Either.left(earlier.value)
          const lines = yield* repo.saleLines(ids)
          const chosen = []
          for (const item of items) {
            const ofProduct = lines.filter((l) => l.product_id === item.product_id)
            const first = ofProduct[0]
            if (first === undefined || first.deleted || first.status !== "active") {
              return yield* NotFound.of(`product ${item.product_id} is not on sale`, "PRODUCT_NOT_FOUND")
            }
            const line = ofProduct.find((l) => l.license_id === item.license_id)
            if (line === undefined) return yield* NotFound.of(`licence ${item.license_id} is not one of product ${item.product_id}'s`, "LICENSE_NOT_FOUND")
            if (line.seller_id === actor.id) return yield* Unprocessable.of("you cannot buy your own product", "OWN_PRODUCT")
            if (line.track_gone) return yield* Conflict.of(`"${line.title}" sells a track that is no longer available`, "NOT_ON_SALE")
            if (line.seller_banned) return yield* Conflict.of(`"${line.title}" is not on sale`, "NOT_ON_SALE")
            if (ofProduct.some((l) => l.exclusive_taken)) return yield* Conflict.of(`"${line.title}" has been sold with an exclusive licence`, "EXCLUSIVE_SOLD")
            chosen.push(line)
          }
          const currencies = new Set(chosen.map((l) => l.currency))
          if (currencies.size > 1) return yield* Unprocessable.of("all items of an order must be priced in one currency", "MIXED_CURRENCIES")
          const owned = yield* repo.ownedLicenses(actor.id, chosen.map((l) => l.license_id))
          const again = chosen.find((l) => owned.has(l.license_id))
          if (again !== undefined) return yield* Conflict.of(`you already hold the ${again.license_type} licence of "${again.title}"`, "ALREADY_PURCHASED")
          const orderId = yield* repo.insertOrder({
            buyer: actor.id,
            key,
            digest,
            totalCents: chosen.reduce((sum, l) => sum + l.price_cents, 0),
            currency: chosen[0]!.currency,
            lines: chosen
          })
          const exclusives = chosen.filter((l) => l.license_type === "exclusive").map((l) => l.license_id)
          if (exclusives.length > 0 && (yield* repo.claimExclusives(orderId, exclusives)) !== exclusives.length) {
            return yield* Conflict.of("an exclusive licence in this order has just been sold", "EXCLUSIVE_SOLD")
          }
          return Either.right(orderId)
        })
      )

    const checkout = (actor: Actor, idempotencyKey: string | undefined, input: Checkout) =>
      Effect.gen(function* () {
        if (idempotencyKey === undefined) {
          return yield* BadRequest.of("send an Idempotency-Key header (a fresh random value per purchase) so a retry cannot buy twice", "IDEMPOTENCY_KEY_REQUIRED")
        }
        if (!IDEMPOTENCY_KEY.test(idempotencyKey)) return yield* BadRequest.of("Idempotency-Key must be 1-255 visible ASCII characters", "INVALID_IDEMPOTENCY_KEY")
        const items = input.items.map((i) => ({ product_id: i.product_id.toLowerCase() as ProductId, license_id: i.license_id.toLowerCase() as LicenseId }))
        const digest = digestOf(items)
        const replay = (stored: StoredOrder) =>
          stored.digest === digest
            ? Effect.succeed(stored.order)
            : Effect.fail(Unprocessable.of("this Idempotency-Key was already used for a different order", "IDEMPOTENCY_KEY_REUSED"))
        const earlier = yield* repo.orderByKey(actor.id, idempotencyKey)
        if (Option.isSome(earlier)) return yield* replay(earlier.value)
        const placed = yield* place(actor, idempotencyKey, digest, items).pipe(
          Effect.catchTag("SqlError", (e) =>
            // A retry with the same key committed between our look-up and our insert.
            Option.getOrUndefined(uniqueViolation(e)) === "uq_orders_buyer_idempotency_key"
              ? Effect.map(repo.orderByKey(actor.id, idempotencyKey), (o) => Either.left(Option.getOrThrow(o)))
              : Effect.fail(e)
          )
        )
        if (Either.isLeft(placed)) return yield* replay(placed.left)
        const order = Option.getOrThrow(yield* repo.orderById(placed.right))
        yield* gateway.charge({ orderId: order.id, buyerId: actor.id, totalCents: order.total_cents, currency: order.currency }).pipe(
          Effect.matchEffect({
            onSuccess: (s) => repo.markPaid(order.id, s.provider, s.reference),
            onFailure: (e) =>
              Effect.zipRight(
                Effect.logWarning("payment declined").pipe(Effect.annotateLogs({ order_id: order.id, provider: e.provider, reason: e.reason })),
                repo.markFailed(order.id, e.provider)
              )
          })
        )
        const settled = Option.getOrThrow(yield* repo.orderById(order.id))
        if (settled.status === "paid") {
          yield* notifications.notify(actor.id, "order_paid", null, { order_id: settled.id, role: "buyer" })
          for (const seller of new Set(settled.items.map((item) => item.seller_id))) {
            yield* notifications.notify(seller, "order_paid", actor.id, { order_id: settled.id, role: "seller" })
          }
        }
        return settled
      }).pipe(sqlErrors)

    const listOrders = (actor: Actor, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const after = yield* decodeCursor(cursor)
        const rows = yield* repo.listOrders(actor.id, after, limit)
        const result = page(rows, limit, (r) => ({ at: r.cursorAt, id: r.order.id }))
        return { items: result.items.map((r) => r.order), next_cursor: result.next_cursor }
      }).pipe(sqlErrors)

    /** The buyer's own orders (and any, for admins); other people's orders do not exist for them. */
    const getOrder = (actor: Actor, id: OrderId) =>
      Effect.flatMap(repo.orderById(id), (order) =>
        Option.isSome(order) && (order.value.buyer_id === actor.id || isAdmin(actor)) ? Effect.succeed(order.value) : Effect.fail(orderNotFound())
      ).pipe(sqlErrors)

    /** Buyers of a paid order keep access after the product is withdrawn; the seller and admins always have it. */
    const mayDownload = (actor: Actor, row: ProductRow) =>
      managesProduct(actor, row) ? Effect.succeed(true) : repo.hasPaidFor(actor.id, row.id)

    const download = (actor: Actor, id: ProductId) =>
      Effect.gen(function* () {
        const row = Option.getOrUndefined(yield* repo.productById(id))
        if (row === undefined) return yield* productNotFound()
        if (!(yield* mayDownload(actor, row))) {
          if (row.deleted || !canSeeProduct(actor, row)) return yield* productNotFound()
          return yield* Forbidden.of("buy a licence of this product to download it", "NOT_PURCHASED")
        }
        const entries: Array<{ id: string; filename: string; size_bytes: number }> = (yield* repo.files(id)).map((f) => ({
          id: f.id,
          filename: f.filename,
          size_bytes: f.size_bytes
        }))
        if (row.track_id !== null) {
          const original = yield* tracks.originalFile(row.track_id)
          if (Option.isSome(original)) entries.push({ id: TRACK_FILE, filename: original.value.filename, size_bytes: original.value.size })
        }
        if (entries.length === 0) return yield* Conflict.of("this product has no files to download yet", "NO_FILES")
        const signed = entries.map((e) => ({ ...e, link: links.sign(row.id, e.id) }))
        return {
          url: signed[0]!.link.url,
          expires_at: signed[0]!.link.expiresAt,
          files: signed.map((e) => ({ id: e.id, filename: e.filename, size_bytes: e.size_bytes, url: e.link.url }))
        }
      }).pipe(sqlErrors)

    /** The object behind a signed link, if the link is valid and the file still exists. */
    const openDownload = (productId: string, file: string, exp: string | null, sig: string | null) =>
      Effect.gen(function* () {
        if (!isUuid(productId) || !links.verify(productId, file, exp, sig)) return Either.left("invalid" as const)
        const row = Option.getOrUndefined(yield* repo.productById(productId as ProductId))
        let target: { key: string; filename: string; contentType: string } | undefined
        if (row !== undefined && file === TRACK_FILE && row.track_id !== null) {
          const original = yield* tracks.originalFile(row.track_id)
          if (Option.isSome(original)) target = { key: original.value.key, filename: original.value.filename, contentType: "application/octet-stream" }
        } else if (row !== undefined && isUuid(file)) {
          const stored = yield* repo.fileById(row.id, file as ProductFileId)
          if (Option.isSome(stored)) target = { key: stored.value.storage_key, filename: stored.value.filename, contentType: stored.value.content_type }
        }
        if (target === undefined) return Either.left("missing" as const)
        const body = yield* storage.get(target.key).pipe(Effect.catchTag("RangeNotSatisfiable", () => Effect.succeed(Option.none())))
        return Option.match(body, {
          onNone: () => Either.left("missing" as const),
          onSome: (b) => Either.right({ stream: b.stream as Readable, size: b.size, filename: target.filename, contentType: target.contentType })
        })
      })

    const createReview = (actor: Actor, id: ProductId, input: { rating: number; comment?: string | undefined }) =>
      Effect.gen(function* () {
        const row = yield* visible(actor, id)
        if (row.seller_id === actor.id) return yield* Forbidden.of("sellers cannot review their own products", "NOT_A_BUYER")
        if (!(yield* repo.hasPaidFor(actor.id, id))) return yield* Forbidden.of("only buyers of this product can review it", "NOT_A_BUYER")
        const reviewId = yield* repo.insertReview(row.id, actor.id, input.rating, input.comment ?? null).pipe(
          Effect.catchTag("SqlError", (e) =>
            Option.isSome(uniqueViolation(e)) ? Effect.fail<Conflict | typeof e>(Conflict.of("you have already reviewed this product", "ALREADY_REVIEWED")) : Effect.fail(e)
          )
        )
        const [review] = yield* repo.reviews(row.id, { id: reviewId, limit: 1 })
        const { cursor_at: _c, ...rest } = review!
        return rest
      }).pipe(sqlErrors)

    const listReviews = (actor: Actor | undefined, id: ProductId, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        yield* visible(actor, id)
        const after = yield* decodeCursor(cursor)
        const rows = yield* repo.reviews(id, { after, limit })
        const result = page(rows, limit, (r) => ({ at: r.cursor_at, id: r.id }))
        return { items: result.items.map(({ cursor_at: _c, ...r }) => r), next_cursor: result.next_cursor }
      }).pipe(sqlErrors)

    return {
      createProduct,
      getProduct,
      listProducts,
      updateProduct,
      deleteProduct,
      uploadFile,
      deleteFile,
      cart,
      addToCart,
      removeFromCart,
      checkout,
      listOrders,
      getOrder,
      download,
      openDownload,
      createReview,
      listReviews
    } as const
  }),
  dependencies: [MarketRepo.Default, ProductDownloadLinks.Default, MarketConfig.Default]
}) {}
