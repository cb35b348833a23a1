import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type JsonResponse, type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { uploadTrack } from "../support/tracks.js"

const db = await freshDatabase("market")
let server: RunningServer
const dataDir = tempDataDir()
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-market-"))

beforeAll(async () => {
  server = await startServer({
    DATABASE_URL: db,
    DATA_DIR: dataDir,
    DB_POOL_MAX: "20",
    MARKET_PENDING_ORDER_TTL_SECONDS: "60",
    MARKET_PENDING_ORDER_SWEEP_MS: "200",
    TRACK_PURGE_INTERVAL_MS: "200"
  })
})

type User = Awaited<ReturnType<typeof registerUser>>

const api = <T = any>(method: string, path: string, who?: User, body?: unknown, headers: Record<string, string> = {}) =>
  http<T>(server.baseUrl, method, `/api/v1${path}`, { headers, ...(who === undefined ? {} : { token: who.access_token }), ...(body === undefined ? {} : { body }) })

const seller = () => registerUser(server.baseUrl, { account_type: "producer" })
const listener = () => registerUser(server.baseUrl)
const admin = async () => {
  const u = await listener()
  await query(db, "update users set role = 'admin' where id = $1", [u.user.id])
  return u
}

/** The SPEC §4 error envelope, with this status and code, and nothing else. */
const expectError = (res: JsonResponse, status: number, code?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(Object.keys(res.body)).toEqual(["error"])
  expect(res.body.error).toMatchObject({ code: code ?? expect.any(String), message: expect.any(String) })
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(js|ts):\d+/)
}

const LICENSES = [
  { type: "basic", price_cents: 2999, currency: "EUR" },
  { type: "premium", price_cents: 7999, currency: "EUR" },
  { type: "exclusive", price_cents: 49900, currency: "EUR" }
]

const createProduct = async (who: User, body: Record<string, unknown> = {}) => {
  const res = await api("POST", "/marketplace/products", who, { title: `Beat ${NodeCrypto.randomBytes(3).toString("hex")}`, type: "beat", licenses: LICENSES, ...body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

const licenseOf = (product: any, type: string) => product.licenses.find((l: any) => l.type === type)

/** `key: null` sends no Idempotency-Key header. */
const checkout = (who: User, items: ReadonlyArray<{ product_id: string; license_id: string }>, key: string | null = NodeCrypto.randomUUID()) =>
  api("POST", "/marketplace/orders", who, { items }, key === null ? {} : { "idempotency-key": key })

const buy = async (who: User, product: any, type = "basic") => {
  const res = await checkout(who, [{ product_id: product.id, license_id: licenseOf(product, type).id }])
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

/** A product selling a track the seller uploads, named `filename`. */
const productSellingTrack = async (who: User, filename: string) => {
  const song = await generateAudio(work, { seconds: 1, format: "wav", name: filename })
  const track = await uploadTrack(server.baseUrl, who.access_token, { path: song })
  expect(track.status, JSON.stringify(track.body)).toBe(201)
  return { song, track, product: await createProduct(who, { track_id: track.body.id }) }
}

const uploadFile = async (who: User | undefined, productId: string, content: Buffer | string, name = "kit.zip", type = "application/zip") => {
  const form = new FormData()
  form.append("file", new Blob([content], { type }), name)
  const res = await fetch(`${server.baseUrl}/api/v1/marketplace/products/${productId}/files`, {
    method: "POST",
    body: form,
    headers: who === undefined ? {} : { authorization: `Bearer ${who.access_token}` }
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text.length > 0 ? JSON.parse(text) : undefined } as JsonResponse
}

describe("products", () => {
  it("a creator-side account lists a product with licences; listeners cannot sell", async () => {
    const s = await seller()
    const p = await createProduct(s, { description: "808s", tags: ["trap", "dark"], bpm: 140, musical_key: "Am", genre: "trap" })
    expect(p).toMatchObject({ seller_id: s.user.id, type: "beat", status: "active", tags: ["trap", "dark"], bpm: 140, sale_count: 0, review_count: 0, average_rating: 0, files: [] })
    expect(p.licenses.map((l: any) => [l.type, l.price_cents, l.currency, l.sold_out])).toEqual([
      ["basic", 2999, "EUR", false],
      ["premium", 7999, "EUR", false],
      ["exclusive", 49900, "EUR", false]
    ])
    for (const l of p.licenses) expect(l.id).toMatch(/^[0-9a-f-]{36}$/)
    const l = await listener()
    expectError(await api("POST", "/marketplace/products", l, { title: "x", type: "beat", licenses: LICENSES }), 403)
    expectError(await api("POST", "/marketplace/products", undefined, { title: "x", type: "beat", licenses: LICENSES }), 401)
    const anonymous = await api("GET", `/marketplace/products/${p.id}`)
    expect(anonymous.status).toBe(200)
    expect(anonymous.body).toEqual(p)
  })

  it("bad input is a 400 in the error envelope", async () => {
    const s = await seller()
    const bodies: Array<Record<string, unknown>> = [
      { type: "beat", licenses: LICENSES },
      { title: "   ", type: "beat", licenses: LICENSES },
      { title: "t", type: "song", licenses: LICENSES },
      { title: "t", type: "beat", licenses: [] },
      { title: "t", type: "beat" },
      { title: "t", type: "beat", licenses: [LICENSES[0], LICENSES[0]] },
      { title: "t", type: "beat", licenses: [{ type: "basic", price_cents: 10, currency: "eur" }] },
      { title: "t", type: "beat", licenses: [{ type: "basic", price_cents: 10, currency: "EURO" }] },
      { title: "t", type: "beat", licenses: [{ type: "basic", price_cents: -1, currency: "EUR" }] },
      { title: "t", type: "beat", licenses: [{ type: "basic", price_cents: 9.99, currency: "EUR" }] },
      { title: "t", type: "beat", licenses: [{ type: "lease", price_cents: 10, currency: "EUR" }] },
      { title: "t\u0000", type: "beat", licenses: LICENSES },
      { title: "t", type: "beat", bpm: 0, licenses: LICENSES },
      { title: "t", type: "beat", track_id: "not-a-uuid", licenses: LICENSES },
      { title: "x".repeat(256), type: "beat", licenses: LICENSES }
    ]
    for (const body of bodies) expectError(await api("POST", "/marketplace/products", s, body), 400, "VALIDATION_ERROR")
    expectError(await api("GET", "/marketplace/products/nope"), 400)
    expectError(await api("GET", "/marketplace/products?cursor=garbage"), 400, "INVALID_CURSOR")
    expectError(await api("GET", "/marketplace/products?limit=0"), 400)
    expectError(await api("GET", `/marketplace/products/${NodeCrypto.randomUUID()}`), 404, "PRODUCT_NOT_FOUND")
  })

  it("drafts exist only for their seller; only the seller (or an admin) edits and deletes", async () => {
    const s = await seller()
    const other = await seller()
    const draft = await createProduct(s, { status: "draft" })
    expectError(await api("GET", `/marketplace/products/${draft.id}`, other), 404)
    expectError(await api("GET", `/marketplace/products/${draft.id}`), 404)
    expect((await api("GET", `/marketplace/products/${draft.id}`, s)).status).toBe(200)
    expectError(await api("PATCH", `/marketplace/products/${draft.id}`, other, { title: "mine" }), 404)

    const p = await createProduct(s)
    expectError(await api("PATCH", `/marketplace/products/${p.id}`, other, { title: "mine" }), 403, "NOT_SELLER")
    expectError(await api("DELETE", `/marketplace/products/${p.id}`, other), 403, "NOT_SELLER")
    expectError(await api("PATCH", `/marketplace/products/${p.id}`, s, { bpm: 5000 }), 400)
    const patched = await api("PATCH", `/marketplace/products/${p.id}`, s, { title: " New title ", tags: ["lofi"], description: null, bpm: 90, status: "inactive" })
    expect(patched.status, JSON.stringify(patched.body)).toBe(200)
    expect(patched.body).toMatchObject({ title: "New title", tags: ["lofi"], description: null, bpm: 90, status: "inactive" })
    expectError(await api("GET", `/marketplace/products/${p.id}`, other), 404)
    const a = await admin()
    expect((await api("PATCH", `/marketplace/products/${p.id}`, a, { status: "active" })).body.status).toBe("active")

    expect((await api("DELETE", `/marketplace/products/${p.id}`, s)).status).toBe(204)
    expectError(await api("GET", `/marketplace/products/${p.id}`, s), 404)
    expectError(await api("DELETE", `/marketplace/products/${p.id}`, s), 404)
  })

  it("the seller changes the licence offer: prices change, a withdrawn licence leaves the product and carts, orders keep theirs", async () => {
    const s = await seller()
    const early = await listener()
    const late = await listener()
    const p = await createProduct(s)
    const before = { basic: licenseOf(p, "basic"), premium: licenseOf(p, "premium"), exclusive: licenseOf(p, "exclusive") }
    const earlyOrder = await buy(early, p, "premium")
    expect((await api("POST", "/marketplace/cart/items", late, { product_id: p.id, license_id: before.premium.id })).status).toBe(201)

    expectError(await api("PATCH", `/marketplace/products/${p.id}`, s, { licenses: [] }), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", `/marketplace/products/${p.id}`, s, { licenses: [LICENSES[0], LICENSES[0]] }), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", `/marketplace/products/${p.id}`, s, { licenses: [{ type: "basic", price_cents: -1, currency: "EUR" }] }), 400, "VALIDATION_ERROR")
    expectError(await api("PATCH", `/marketplace/products/${p.id}`, late, { licenses: [LICENSES[0]] }), 403, "NOT_SELLER")

    // Premium (ordered) and exclusive (never ordered) are withdrawn; basic is repriced with terms.
    const repriced = await api("PATCH", `/marketplace/products/${p.id}`, s, { licenses: [{ type: "basic", price_cents: 1500, currency: "EUR", terms: "non-profit use" }] })
    expect(repriced.status, JSON.stringify(repriced.body)).toBe(200)
    expect(repriced.body.licenses).toEqual([{ id: before.basic.id, type: "basic", price_cents: 1500, currency: "EUR", terms: "non-profit use", sold_out: false }])
    expect((await api("GET", `/marketplace/products/${p.id}`, late)).body.licenses).toEqual(repriced.body.licenses)
    expect((await api("GET", "/marketplace/cart", late)).body.items).toEqual([])
    expectError(await api("POST", "/marketplace/cart/items", late, { product_id: p.id, license_id: before.premium.id }), 404, "LICENSE_NOT_FOUND")
    expectError(await checkout(late, [{ product_id: p.id, license_id: before.premium.id }]), 404, "LICENSE_NOT_FOUND")
    expectError(await checkout(late, [{ product_id: p.id, license_id: before.exclusive.id }]), 404, "LICENSE_NOT_FOUND")
    const bought = await buy(late, repriced.body, "basic")
    expect(bought).toMatchObject({ total_cents: 1500, items: [expect.objectContaining({ license_id: before.basic.id, price_cents: 1500 })] })
    // The order made before the change keeps its licence, price and download.
    const kept = await api("GET", `/marketplace/orders/${earlyOrder.id}`, early)
    expect(kept.body.items).toEqual(earlyOrder.items)
    expect(await query(db, "select type::text, withdrawn_at is not null as withdrawn from product_licenses where product_id = $1 order by type", [p.id])).toEqual([
      { type: "basic", withdrawn: false },
      { type: "premium", withdrawn: true }
    ])

    // Offering premium again brings back the same licence, which its buyer already holds.
    const back = await api("PATCH", `/marketplace/products/${p.id}`, s, { licenses: [{ type: "basic", price_cents: 1500, currency: "EUR" }, { type: "premium", price_cents: 9900, currency: "EUR" }] })
    expect(back.status, JSON.stringify(back.body)).toBe(200)
    expect(licenseOf(back.body, "premium")).toMatchObject({ id: before.premium.id, price_cents: 9900, terms: null })
    expect(licenseOf(back.body, "basic").terms).toBeNull()
    expectError(await checkout(early, [{ product_id: p.id, license_id: before.premium.id }]), 409, "ALREADY_PURCHASED")
  })

  it("a sold exclusive licence cannot be withdrawn: the product stays sold out, and the whole change is refused", async () => {
    const s = await seller()
    const p = await createProduct(s)
    await buy(await listener(), p, "exclusive")
    expectError(await api("PATCH", `/marketplace/products/${p.id}`, s, { title: "Renamed", licenses: [LICENSES[0]] }), 409, "EXCLUSIVE_SOLD")
    const after = (await api("GET", `/marketplace/products/${p.id}`, s)).body
    expect(after.title).toBe(p.title)
    expect(after.licenses.map((l: any) => [l.type, l.sold_out])).toEqual([["basic", false], ["premium", false], ["exclusive", true]])
    expectError(await checkout(await listener(), [{ product_id: p.id, license_id: licenseOf(p, "basic").id }]), 409, "EXCLUSIVE_SOLD")
    // Repricing while keeping it is allowed; it stays sold.
    const repriced = await api("PATCH", `/marketplace/products/${p.id}`, s, { licenses: LICENSES.map((l) => ({ ...l, price_cents: l.price_cents + 100 })) })
    expect(repriced.status, JSON.stringify(repriced.body)).toBe(200)
    expect(licenseOf(repriced.body, "exclusive")).toMatchObject({ id: licenseOf(p, "exclusive").id, sold_out: true })
  })

  it("lists active products newest first with a cursor; a seller's own list includes drafts", async () => {
    const s = await seller()
    const made = []
    for (let i = 0; i < 3; i++) made.push(await createProduct(s, { type: "preset" }))
    const draft = await createProduct(s, { type: "preset", status: "draft" })
    const first = await api("GET", `/marketplace/products?seller_id=${s.user.id}&type=preset&limit=2`)
    expect(first.body.items.map((p: any) => p.id)).toEqual([made[2].id, made[1].id])
    const second = await api("GET", `/marketplace/products?seller_id=${s.user.id}&type=preset&limit=2&cursor=${first.body.next_cursor}`)
    expect(second.body).toEqual({ items: [expect.objectContaining({ id: made[0].id })], next_cursor: null })
    const own = await api("GET", `/marketplace/products?seller_id=${s.user.id}`, s)
    expect(own.body.items.map((p: any) => p.id)).toEqual([draft.id, made[2].id, made[1].id, made[0].id])
  })

  it("a product can sell one of the seller's own tracks, not someone else's", async () => {
    const s = await seller()
    const other = await seller()
    const song = await generateAudio(work, { seconds: 1, format: "mp3" })
    const track = await uploadTrack(server.baseUrl, other.access_token, { path: song })
    expect(track.status).toBe(201)
    expectError(await api("POST", "/marketplace/products", s, { title: "x", type: "beat", track_id: track.body.id, licenses: LICENSES }), 403, "NOT_TRACK_OWNER")
    expectError(await api("POST", "/marketplace/products", s, { title: "x", type: "beat", track_id: NodeCrypto.randomUUID(), licenses: LICENSES }), 404, "TRACK_NOT_FOUND")
    const privateTrack = await uploadTrack(server.baseUrl, other.access_token, { path: song }, { visibility: "private" })
    expectError(await api("POST", "/marketplace/products", s, { title: "x", type: "beat", track_id: privateTrack.body.id, licenses: LICENSES }), 404, "TRACK_NOT_FOUND")
    const p = await createProduct(other, { track_id: track.body.id })
    expect(p.track_id).toBe(track.body.id)
    // A track a moderator hid cannot be put on sale.
    await query(db, "update tracks set hidden_at = now() where id = $1", [track.body.id])
    expectError(await api("POST", "/marketplace/products", other, { title: "y", type: "beat", track_id: track.body.id, licenses: LICENSES }), 422, "TRACK_HIDDEN")
  })
})

describe("product files", () => {
  it("the seller uploads and deletes files; others cannot", async () => {
    const s = await seller()
    const other = await seller()
    const p = await createProduct(s)
    expectError(await uploadFile(other, p.id, "x"), 403, "NOT_SELLER")
    expectError(await uploadFile(undefined, p.id, "x"), 401)
    expectError(await uploadFile(s, NodeCrypto.randomUUID(), "x"), 404)
    expectError(await uploadFile(s, p.id, ""), 422, "EMPTY_FILE")
    expectError(await api("POST", `/marketplace/products/${p.id}/files`, s, { file: "x" }), 415)
    const up = await uploadFile(s, p.id, Buffer.alloc(5000, 7), "../../etc/Drum Kit.zip")
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    expect(up.body).toMatchObject({ filename: "Drum Kit.zip", content_type: "application/zip", size_bytes: 5000 })
    expect((await api("GET", `/marketplace/products/${p.id}`)).body.files).toEqual([expect.objectContaining({ id: up.body.id, filename: "Drum Kit.zip" })])
    expectError(await api("DELETE", `/marketplace/products/${p.id}/files/${up.body.id}`, other), 403)
    expect((await api("DELETE", `/marketplace/products/${p.id}/files/${up.body.id}`, s)).status).toBe(204)
    expectError(await api("DELETE", `/marketplace/products/${p.id}/files/${up.body.id}`, s), 404, "FILE_NOT_FOUND")
    expect((await api("GET", `/marketplace/products/${p.id}`)).body.files).toEqual([])
  })
})

describe("cart", () => {
  it("adds, replaces the licence, lists and removes; refuses own products and foreign licences", async () => {
    const s = await seller()
    const b = await listener()
    const p = await createProduct(s)
    const q = await createProduct(s)
    expect((await api("GET", "/marketplace/cart", b)).body).toEqual({ items: [] })
    const added = await api("POST", "/marketplace/cart/items", b, { product_id: p.id, license_id: licenseOf(p, "basic").id })
    expect(added.status).toBe(201)
    expect(added.body.items).toEqual([expect.objectContaining({ product_id: p.id, license_type: "basic", price_cents: 2999, currency: "EUR" })])
    await api("POST", "/marketplace/cart/items", b, { product_id: p.id, license_id: licenseOf(p, "premium").id })
    await api("POST", "/marketplace/cart/items", b, { product_id: q.id, license_id: licenseOf(q, "basic").id })
    const cart = (await api("GET", "/marketplace/cart", b)).body.items
    expect(cart.map((i: any) => [i.product_id, i.license_type])).toEqual([
      [p.id, "premium"],
      [q.id, "basic"]
    ])
    expectError(await api("POST", "/marketplace/cart/items", b, { product_id: p.id, license_id: licenseOf(q, "basic").id }), 404, "LICENSE_NOT_FOUND")
    expectError(await api("POST", "/marketplace/cart/items", s, { product_id: p.id, license_id: licenseOf(p, "basic").id }), 422, "OWN_PRODUCT")
    expectError(await api("POST", "/marketplace/cart/items", b, { product_id: p.id }), 400)
    expect((await api("DELETE", `/marketplace/cart/items/${q.id}`, b)).status).toBe(204)
    expect((await api("DELETE", `/marketplace/cart/items/${q.id}`, b)).status).toBe(204)
    expect((await api("GET", "/marketplace/cart", b)).body.items.map((i: any) => i.product_id)).toEqual([p.id])
    // Checkout takes bought products out of the cart.
    await buy(b, p, "premium")
    expect((await api("GET", "/marketplace/cart", b)).body.items).toEqual([])
  })
})

describe("checkout", () => {
  it("settles through the sandbox gateway with price snapshots", async () => {
    const s = await seller()
    const b = await listener()
    const p = await createProduct(s)
    const q = await createProduct(s, { type: "sample_pack" })
    const res = await checkout(b, [
      { product_id: p.id, license_id: licenseOf(p, "basic").id },
      { product_id: q.id, license_id: licenseOf(q, "premium").id }
    ])
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    const order = res.body
    expect(order).toMatchObject({ buyer_id: b.user.id, status: "paid", total_cents: 2999 + 7999, currency: "EUR", payment_provider: "sandbox", payment_reference: `sandbox_${order.id}` })
    expect(order.paid_at).not.toBeNull()
    expect(order.items).toHaveLength(2)
    expect(order.items).toContainEqual(expect.objectContaining({ product_id: q.id, product_type: "sample_pack", license_type: "premium", price_cents: 7999, seller_id: s.user.id, product_title: q.title }))
    // Later price and title changes leave the order as it was.
    await query(db, "update product_licenses set price_cents = 1 where product_id = $1", [q.id])
    await api("PATCH", `/marketplace/products/${q.id}`, s, { title: "Renamed" })
    const again = await api("GET", `/marketplace/orders/${order.id}`, b)
    expect(again.body).toEqual(order)
    expect((await api("GET", `/marketplace/products/${p.id}`)).body.sale_count).toBe(1)
    expectError(await checkout(b, [{ product_id: p.id, license_id: licenseOf(p, "basic").id }]), 409, "ALREADY_PURCHASED")
  })

  it("one Idempotency-Key, one order: a retry gets the same answer, another body is refused", async () => {
    const s = await seller()
    const b = await listener()
    const p = await createProduct(s)
    const items = [{ product_id: p.id, license_id: licenseOf(p, "basic").id }]
    const key = NodeCrypto.randomUUID()
    const first = await checkout(b, items, key)
    const second = await checkout(b, items, key)
    expect(first.status).toBe(201)
    expect(second.status).toBe(201)
    expect(second.body).toEqual(first.body)
    expectError(await checkout(b, [{ product_id: p.id, license_id: licenseOf(p, "premium").id }], key), 422, "IDEMPOTENCY_KEY_REUSED")
    // Concurrent retries of a new key still make one order.
    const q = await createProduct(s)
    const qItems = [{ product_id: q.id, license_id: licenseOf(q, "exclusive").id }]
    const qKey = NodeCrypto.randomUUID()
    const all = await Promise.all(Array.from({ length: 6 }, () => checkout(b, qItems, qKey)))
    expect(all.map((r) => r.status)).toEqual(Array(6).fill(201))
    expect(new Set(all.map((r) => r.body.id)).size).toBe(1)
    const orders = await query(db, "select count(*)::int as n from orders where buyer_id = $1", [b.user.id])
    expect(orders[0]!["n"]).toBe(2)
    // Keys belong to their buyer: another buyer's identical key is a new order.
    const other = await listener()
    const theirs = await checkout(other, items, key)
    expect(theirs.status).toBe(201)
    expect(theirs.body.id).not.toBe(first.body.id)
  })

  it("one buyer checking out one licence at once under several keys buys it once", async () => {
    const s = await seller()
    const b = await listener()
    const p = await createProduct(s)
    const items = [{ product_id: p.id, license_id: licenseOf(p, "basic").id }]
    const all = await Promise.all(Array.from({ length: 8 }, () => checkout(b, items)))
    expect(all.filter((r) => r.status === 201).map((r) => r.body.status)).toEqual(["paid"])
    for (const r of all.filter((r) => r.status !== 201)) expectError(r, 409, "ALREADY_PURCHASED")
    const orders = await query(db, "select status from orders where buyer_id = $1", [b.user.id])
    expect(orders).toEqual([{ status: "paid" }])
    expect((await api("GET", `/marketplace/products/${p.id}`)).body.sale_count).toBe(1)
  })

  it("refuses what cannot be bought, in the error envelope", async () => {
    const s = await seller()
    const b = await listener()
    const p = await createProduct(s)
    const usd = await createProduct(s, { licenses: [{ type: "basic", price_cents: 100, currency: "USD" }] })
    const basic = { product_id: p.id, license_id: licenseOf(p, "basic").id }
    expectError(await checkout(b, [basic], null), 400, "IDEMPOTENCY_KEY_REQUIRED")
    expectError(await checkout(b, [basic], "has space"), 400, "INVALID_IDEMPOTENCY_KEY")
    expectError(await checkout(b, [basic], "x".repeat(256)), 400, "INVALID_IDEMPOTENCY_KEY")
    expectError(await checkout(b, []), 400, "VALIDATION_ERROR")
    expectError(await checkout(b, [basic, basic]), 400, "VALIDATION_ERROR")
    // The same product spelled in another letter case is the same product.
    expectError(await checkout(b, [basic, { ...basic, product_id: p.id.toUpperCase() }]), 400, "VALIDATION_ERROR")
    expectError(await checkout(b, [{ product_id: "x", license_id: "y" }]), 400, "VALIDATION_ERROR")
    expectError(await checkout(b, [{ product_id: NodeCrypto.randomUUID(), license_id: licenseOf(p, "basic").id }]), 404, "PRODUCT_NOT_FOUND")
    expectError(await checkout(b, [{ product_id: p.id, license_id: licenseOf(usd, "basic").id }]), 404, "LICENSE_NOT_FOUND")
    expectError(await checkout(b, [basic, { product_id: usd.id, license_id: licenseOf(usd, "basic").id }]), 422, "MIXED_CURRENCIES")
    expectError(await checkout(s, [basic]), 422, "OWN_PRODUCT")
    const draft = await createProduct(s, { status: "draft" })
    expectError(await checkout(b, [{ product_id: draft.id, license_id: licenseOf(draft, "basic").id }]), 404, "PRODUCT_NOT_FOUND")
    expectError(await api("POST", "/marketplace/orders", undefined, { items: [basic] }, { "idempotency-key": "k" }), 401)
    // Nothing above made an order.
    expect((await api("GET", "/marketplace/orders", b)).body.items).toEqual([])
  })

  it("an exclusive licence sells once, even to many concurrent buyers", async () => {
    const s = await seller()
    const p = await createProduct(s)
    const buyers = await Promise.all(Array.from({ length: 10 }, () => listener()))
    const exclusive = { product_id: p.id, license_id: licenseOf(p, "exclusive").id }
    const results = await Promise.all(buyers.map((b) => checkout(b, [exclusive])))
    const statuses = results.map((r) => r.status).sort()
    expect(statuses, JSON.stringify(results.map((r) => r.body))).toEqual([201, ...Array(9).fill(409)])
    for (const r of results.filter((r) => r.status === 409)) expectError(r, 409, "EXCLUSIVE_SOLD")
    const held = await query(db, "select count(*)::int as n from order_items where license_id = $1", [exclusive.license_id])
    expect(held[0]!["n"]).toBe(1)
    const product = (await api("GET", `/marketplace/products/${p.id}`)).body
    expect(licenseOf(product, "exclusive").sold_out).toBe(true)
    // Once sold exclusively, the product's other licences are off the market too.
    expectError(await checkout(await listener(), [{ product_id: p.id, license_id: licenseOf(p, "basic").id }]), 409, "EXCLUSIVE_SOLD")
    expectError(await api("POST", "/marketplace/cart/items", await listener(), { product_id: p.id, license_id: licenseOf(p, "basic").id }), 409, "EXCLUSIVE_SOLD")
  })

  it("an order left pending past MARKET_PENDING_ORDER_TTL_SECONDS fails and gives its exclusive licence back", async () => {
    const s = await seller()
    const p = await createProduct(s)
    const exclusive = { product_id: p.id, license_id: licenseOf(p, "exclusive").id }
    // What a checkout leaves behind when its process dies before the payment settles: a pending order holding the licence.
    const stuck = await listener()
    // One statement: the sweeper must not find the order before it holds the licence.
    const [stale] = await query<{ id: string }>(
      db,
      `with stale as (insert into orders (buyer_id, total_cents, currency, idempotency_key, request_digest, created_at)
                      values ($1, 49900, 'EUR', 'stuck', repeat('0', 64), now() - interval '2 minutes') returning id),
            held as (update product_licenses set exclusive_order_id = (select id from stale) where id = $2)
       select id from stale`,
      [stuck.user.id, exclusive.license_id]
    )
    const [recent] = await query<{ id: string }>(
      db,
      `insert into orders (buyer_id, total_cents, currency, idempotency_key, request_digest) values ($1, 100, 'EUR', 'fresh', repeat('0', 64)) returning id`,
      [stuck.user.id]
    )
    await expect.poll(async () => (await query(db, "select status::text from orders where id = $1", [stale!.id]))[0]!["status"], { timeout: 10_000 }).toBe("failed")
    // A pending order younger than the TTL is left alone.
    expect((await query(db, "select status::text from orders where id = $1", [recent!.id]))[0]!["status"]).toBe("pending")
    const b = await listener()
    expect((await checkout(b, [exclusive])).status).toBe(201)
  })
})

describe("orders", () => {
  it("the buyer lists and reads their orders; nobody else sees them", async () => {
    const s = await seller()
    const b = await listener()
    const other = await listener()
    const bought = []
    for (let i = 0; i < 3; i++) bought.push(await buy(b, await createProduct(s)))
    const first = await api("GET", "/marketplace/orders?limit=2", b)
    expect(first.body.items.map((o: any) => o.id)).toEqual([bought[2].id, bought[1].id])
    const second = await api("GET", `/marketplace/orders?limit=2&cursor=${first.body.next_cursor}`, b)
    expect(second.body).toEqual({ items: [bought[0]], next_cursor: null })
    expect((await api("GET", "/marketplace/orders", other)).body.items).toEqual([])
    expectError(await api("GET", `/marketplace/orders/${bought[0].id}`, other), 404, "ORDER_NOT_FOUND")
    expectError(await api("GET", `/marketplace/orders/${bought[0].id}`), 401)
    expectError(await api("GET", "/marketplace/orders?cursor=bad", b), 400, "INVALID_CURSOR")
    expect((await api("GET", `/marketplace/orders/${bought[0].id}`, await admin())).status).toBe(200)
  })
})

describe("downloads", () => {
  it("buyers and the seller get signed, expiring links; the link streams the file", async () => {
    const s = await seller()
    const b = await listener()
    const other = await listener()
    const p = await createProduct(s, { type: "sample_pack" })
    const content = NodeCrypto.randomBytes(300_000)
    const uploaded = await uploadFile(s, p.id, content, "Drums vol 1.zip")
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201)
    const file = uploaded.body
    expectError(await api("GET", `/marketplace/download/${p.id}`, other), 403, "NOT_PURCHASED")
    expectError(await api("GET", `/marketplace/download/${p.id}`), 401)
    await buy(b, p)
    const res = await api("GET", `/marketplace/download/${p.id}`, b)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.files).toEqual([{ id: file.id, filename: "Drums vol 1.zip", size_bytes: 300_000, url: res.body.url }])
    const expires = Date.parse(res.body.expires_at) - Date.now()
    expect(expires).toBeGreaterThan(60_000)
    expect(expires).toBeLessThanOrEqual(900_000)
    // The link alone opens the file, no bearer token.
    const got = await fetch(server.baseUrl + res.body.url)
    expect(got.status).toBe(200)
    expect(got.headers.get("content-type")).toBe("application/zip")
    expect(got.headers.get("content-disposition")).toBe(`attachment; filename="Drums vol 1.zip"; filename*=UTF-8''Drums%20vol%201.zip`)
    expect(Buffer.from(await got.arrayBuffer()).equals(content)).toBe(true)
    // Tampered or expired links do not.
    const url = new URL(server.baseUrl + res.body.url)
    const exp = url.searchParams.get("exp")!
    const forged = [
      res.body.url.replace(/sig=[^&]+/, "sig=AAAA"),
      res.body.url.replace(`exp=${exp}`, `exp=${Number(exp) + 3600}`),
      res.body.url.replace(`exp=${exp}`, "exp=1000"),
      res.body.url.split("?")[0],
      res.body.url.replace(file.id, NodeCrypto.randomUUID())
    ]
    for (const f of forged) {
      const r = await fetch(server.baseUrl + f)
      expect(r.status, f).toBe(403)
      expect(((await r.json()) as any).error.code).toBe("INVALID_LINK")
    }
    expect((await api("GET", `/marketplace/download/${p.id}`, s)).status).toBe(200)
    // Withdrawing the product keeps the buyer's access, but not a stranger's view of it.
    await api("DELETE", `/marketplace/products/${p.id}`, s)
    expect((await api("GET", `/marketplace/download/${p.id}`, b)).status).toBe(200)
    expectError(await api("GET", `/marketplace/download/${p.id}`, other), 404)
    // A deleted file's old link finds nothing.
    await query(db, "delete from product_files where id = $1", [file.id])
    expect((await fetch(server.baseUrl + res.body.url)).status).toBe(404)
  })

  it("a product whose track is hidden or deleted is not sold: there would be nothing to deliver", async () => {
    const s = await seller()
    const moderator = await admin()
    const { song, track, product: p } = await productSellingTrack(s, "Gone.wav")
    expect((await api("POST", `/admin/tracks/${track.body.id}/hide`, moderator, { reason: "claim" })).status).toBe(200)
    expectError(await checkout(await listener(), [{ product_id: p.id, license_id: licenseOf(p, "basic").id }]), 409, "NOT_ON_SALE")
    expect((await api("POST", `/admin/tracks/${track.body.id}/unhide`, moderator)).status).toBe(200)
    const buyer = await listener()
    await buy(buyer, p)
    expect((await api("DELETE", `/tracks/${track.body.id}`, s)).status).toBe(204)
    expectError(await checkout(await listener(), [{ product_id: p.id, license_id: licenseOf(p, "premium").id }]), 409, "NOT_ON_SALE")
    expect((await api("GET", `/marketplace/products/${p.id}`)).body.sale_count).toBe(1)
    expect((await api("GET", `/marketplace/products?seller_id=${s.user.id}`)).body.items).toEqual([])
    // The buyer keeps the original they paid for: the deleted track's files are purged, but not that one.
    await waitUntil("the deleted track's files to be purged", async () =>
      (await query(db, "select 1 from track_storage_purges where track_id = $1", [track.body.id])).length === 0
    )
    const res = await api("GET", `/marketplace/download/${p.id}`, buyer)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const got = await fetch(server.baseUrl + res.body.files.find((f: any) => f.id === "track").url)
    expect(got.status).toBe(200)
    expect(Buffer.from(await got.arrayBuffer()).equals(NodeFs.readFileSync(song))).toBe(true)
  })

  it("a deleted track nobody bought takes its original with it, even when a product sold it", async () => {
    const s = await seller()
    const { track, product: p } = await productSellingTrack(s, "Unsold.wav")
    const [{ storage_key }] = await query<{ storage_key: string }>(db, "select storage_key from tracks where id = $1", [track.body.id])
    const stored = NodePath.join(dataDir, "storage", storage_key!)
    expect(NodeFs.existsSync(stored)).toBe(true)
    expect((await api("DELETE", `/tracks/${track.body.id}`, s)).status).toBe(204)
    await waitUntil("the deleted track's files to be purged", async () =>
      (await query(db, "select 1 from track_storage_purges where track_id = $1", [track.body.id])).length === 0
    )
    expect(NodeFs.existsSync(stored)).toBe(false)
    expectError(await api("GET", `/marketplace/download/${p.id}`, s), 409, "NO_FILES")
  })

  it("a product selling a track downloads the track's original; no files is a 409", async () => {
    const s = await seller()
    const b = await listener()
    const { song, product: p } = await productSellingTrack(s, "Original Take.wav")
    await buy(b, p, "premium")
    const res = await api("GET", `/marketplace/download/${p.id}`, b)
    expect(res.body.files).toEqual([expect.objectContaining({ id: "track", filename: "Original Take.wav" })])
    const got = await fetch(server.baseUrl + res.body.url)
    expect(Buffer.from(await got.arrayBuffer()).equals(NodeFs.readFileSync(song))).toBe(true)
    const empty = await createProduct(s)
    await buy(b, empty)
    expectError(await api("GET", `/marketplace/download/${empty.id}`, b), 409, "NO_FILES")
  })
})

describe("reviews", () => {
  it("only buyers review, once each; the product keeps the average and the count", async () => {
    const s = await seller()
    const [b1, b2, stranger] = await Promise.all([listener(), listener(), listener()])
    const p = await createProduct(s)
    expectError(await api("POST", `/marketplace/products/${p.id}/reviews`, stranger, { rating: 5 }), 403, "NOT_A_BUYER")
    expectError(await api("POST", `/marketplace/products/${p.id}/reviews`, s, { rating: 5 }), 403, "NOT_A_BUYER")
    await buy(b1, p)
    await buy(b2, p, "premium")
    for (const body of [{ rating: 0 }, { rating: 6 }, { rating: 4.5 }, {}, { rating: 3, comment: "x".repeat(2001) }]) {
      expectError(await api("POST", `/marketplace/products/${p.id}/reviews`, b1, body), 400, "VALIDATION_ERROR")
    }
    const first = await api("POST", `/marketplace/products/${p.id}/reviews`, b1, { rating: 4, comment: "punchy drums" })
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    expect(first.body).toMatchObject({ product_id: p.id, user_id: b1.user.id, username: b1.user.username, rating: 4, comment: "punchy drums" })
    expectError(await api("POST", `/marketplace/products/${p.id}/reviews`, b1, { rating: 1 }), 409, "ALREADY_REVIEWED")
    await api("POST", `/marketplace/products/${p.id}/reviews`, b2, { rating: 5 })
    const product = (await api("GET", `/marketplace/products/${p.id}`)).body
    expect(product).toMatchObject({ review_count: 2, average_rating: 4.5, sale_count: 2 })
    const list = await api("GET", `/marketplace/products/${p.id}/reviews?limit=1`)
    expect(list.body.items.map((r: any) => r.user_id)).toEqual([b2.user.id])
    const rest = await api("GET", `/marketplace/products/${p.id}/reviews?limit=1&cursor=${list.body.next_cursor}`)
    expect(rest.body).toEqual({ items: [first.body], next_cursor: null })
    expectError(await api("POST", `/marketplace/products/${NodeCrypto.randomUUID()}/reviews`, b1, { rating: 3 }), 404)
  })

  it("reviews arriving together are all counted in the average", async () => {
    const s = await seller()
    const p = await createProduct(s)
    const buyers = await Promise.all(Array.from({ length: 16 }, () => listener()))
    for (const b of buyers) await buy(b, p)
    // Each review's trigger recounts the product's reviews: one that counted before another committed must not win.
    const ratings = buyers.map((_, i) => 1 + (i % 5))
    const posted = await Promise.all(buyers.map((b, i) => api("POST", `/marketplace/products/${p.id}/reviews`, b, { rating: ratings[i] })))
    expect(posted.map((r) => r.status)).toEqual(buyers.map(() => 201))
    const product = (await api("GET", `/marketplace/products/${p.id}`)).body
    const average = Math.round((ratings.reduce((a, b) => a + b, 0) / ratings.length) * 100) / 100
    expect(product).toMatchObject({ review_count: buyers.length, average_rating: average })
  })
})

describe("a declined payment (SANDBOX_PAYMENTS=decline)", () => {
  // Its own server on the same database, its sandbox declining every charge; accounts are made through it.
  let declining: RunningServer
  beforeAll(async () => {
    declining = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), SANDBOX_PAYMENTS: "decline" })
  })
  afterAll(async () => {
    await declining?.stop()
  })
  const call = <T = any>(method: string, path: string, who?: User, body?: unknown, headers: Record<string, string> = {}) =>
    http<T>(declining.baseUrl, method, `/api/v1${path}`, { headers, ...(who === undefined ? {} : { token: who.access_token }), ...(body === undefined ? {} : { body }) })

  it("fails the order, releases its exclusive licence, keeps the cart, and grants nothing", async () => {
    const s = await registerUser(declining.baseUrl, { account_type: "producer" })
    const b = await registerUser(declining.baseUrl)
    const created = await call("POST", "/marketplace/products", s, { title: "Declined beat", type: "beat", licenses: LICENSES })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const p = created.body
    const exclusive = { product_id: p.id, license_id: licenseOf(p, "exclusive").id }
    expect((await call("POST", "/marketplace/cart/items", b, exclusive)).status).toBe(201)
    const key = NodeCrypto.randomUUID()
    const res = await call("POST", "/marketplace/orders", b, { items: [exclusive] }, { "idempotency-key": key })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ status: "failed", payment_provider: "sandbox", payment_reference: null, paid_at: null })
    // The same key answers the same failed order; trying again is a new key, and the licence is free for it.
    expect((await call("POST", "/marketplace/orders", b, { items: [exclusive] }, { "idempotency-key": key })).body).toEqual(res.body)
    expect(licenseOf((await call("GET", `/marketplace/products/${p.id}`)).body, "exclusive").sold_out).toBe(false)
    expect((await call("GET", "/marketplace/cart", b)).body.items.map((i: any) => i.product_id)).toEqual([p.id])
    const again = await call("POST", "/marketplace/orders", b, { items: [exclusive] }, { "idempotency-key": NodeCrypto.randomUUID() })
    expect(again.status, JSON.stringify(again.body)).toBe(201)
    expect(again.body.status).toBe("failed")
    // Nothing was bought: no sale, no download, no review, no "order paid" for either side.
    expect((await call("GET", `/marketplace/products/${p.id}`)).body.sale_count).toBe(0)
    expectError(await call("GET", `/marketplace/download/${p.id}`, b), 403, "NOT_PURCHASED")
    expectError(await call("POST", `/marketplace/products/${p.id}/reviews`, b, { rating: 5 }), 403, "NOT_A_BUYER")
    for (const who of [b, s]) {
      expect((await call("GET", "/notifications", who)).body.items.filter((n: any) => n.type === "order_paid")).toEqual([])
    }
    // The settling server sells the same licence to the same buyer.
    const login = await api("POST", "/auth/login", undefined, { email: b.email, password: b.password })
    expect(login.status, JSON.stringify(login.body)).toBe(200)
    const paid = await buy({ ...b, access_token: login.body.access_token }, p, "exclusive")
    expect(paid.status).toBe("paid")
    expect((await api("GET", "/marketplace/cart", { ...b, access_token: login.body.access_token })).body.items).toEqual([])
  })
})
