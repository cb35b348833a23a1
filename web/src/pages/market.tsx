import { type FormEvent, useState } from "react"
import { Link, useNavigate, useParams } from "react-router"
import { call, id } from "../api.js"
import { useApp } from "../session.js"
import { ConfirmDelete, formatDate, formatMoney, MoreButton, Show, useAction, useAsync, usePaged, useTitle } from "../ui.js"
import { RequireSignIn } from "./auth.js"
import type { LicenseId, Product, ProductId, ProductType } from "../../../src/market/schema.js"
import type { TrackId } from "../../../src/tracks/schema.js"

const TYPES: ReadonlyArray<ProductType> = ["beat", "sample_pack", "preset", "loop", "midi", "template", "other"]
const typeLabel = (t: string) => t.replace(/_/g, " ")

const MarketNav = () => {
  const { session } = useApp()
  return (
    <p className="row wrap">
      <Link to="/market">Browse</Link>
      {session !== null && (
        <>
          <Link to="/cart">Cart</Link>
          <Link to="/purchases">Purchases</Link>
          <Link to="/market/sell">Sell</Link>
        </>
      )}
    </p>
  )
}

export const MarketPage = () => {
  useTitle("Market")
  const [type, setType] = useState<ProductType | "">("")
  const products = usePaged(
    (at) => call((c) => c.market.listProducts({ urlParams: { limit: 50, ...(type === "" ? {} : { type }), ...at } })),
    [type]
  )
  return (
    <section>
      <h1>Market</h1>
      <MarketNav />
      <label>
        Type{" "}
        <select value={type} onChange={(e) => setType(e.target.value as ProductType | "")}>
          <option value="">All</option>
          {TYPES.map((t) => (
            <option key={t} value={t}>
              {typeLabel(t)}
            </option>
          ))}
        </select>
      </label>
      <Show state={products.state} retry={products.reload}>
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted">Nothing for sale yet.</p>
          ) : (
            <ul className="grid">
              {page.items.map((p) => {
                const cheapest = [...p.licenses].sort((a, b) => a.price_cents - b.price_cents)[0]
                return (
                  <li key={p.id} className="card">
                    <Link to={`/market/products/${p.id}`} className="card-title">
                      {p.title}
                    </Link>
                    <p className="muted small">
                      {typeLabel(p.type)}
                      {p.genre !== null && ` · ${p.genre}`}
                      {p.bpm !== null && ` · ${p.bpm} BPM`} · {p.sale_count} sold
                    </p>
                    {cheapest !== undefined && <p>from {formatMoney(cheapest.price_cents, cheapest.currency)}</p>}
                  </li>
                )
              })}
            </ul>
          )
        }
      </Show>
      <MoreButton paged={products} />
    </section>
  )
}

/** For a buyer who has not reviewed the product yet (the server checks both again). */
const ReviewForm = ({ productId, onPosted }: { productId: ProductId; onPosted: () => void }) => {
  const [rating, setRating] = useState(5)
  const [comment, setComment] = useState("")
  const action = useAction()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const posted = await action.run(() =>
      call((c) => c.market.createReview({ path: { id: productId }, payload: { rating, ...(comment.trim() === "" ? {} : { comment: comment.trim() }) } }))
    )
    if (posted !== undefined) onPosted()
  }
  return (
    <form onSubmit={submit} className="stack card" aria-label="Your review">
      <fieldset className="row wrap">
        <legend>Your rating</legend>
        {[1, 2, 3, 4, 5].map((n) => (
          <label key={n} className="inline">
            <input type="radio" name="rating" value={n} checked={rating === n} onChange={() => setRating(n)} /> {"★".repeat(n)}
            <span className="sr-only"> {n} of 5</span>
          </label>
        ))}
      </fieldset>
      <label>
        Your review (optional)
        <textarea value={comment} rows={3} maxLength={2000} onChange={(e) => setComment(e.target.value)} />
      </label>
      {action.error !== null && <p className="error" role="alert">{action.error}</p>}
      <button type="submit" className="primary" disabled={action.busy}>
        Post review
      </button>
    </form>
  )
}

export const ProductPage = () => {
  const { id: productId = "" } = useParams()
  const { session } = useApp()
  const navigate = useNavigate()
  const product = useAsync(() => call((c) => c.market.getProduct({ path: { id: id<ProductId>(productId) } })), [productId])
  const reviews = usePaged(
    (at) => call((c) => c.market.listReviews({ path: { id: id<ProductId>(productId) }, urlParams: { limit: 20, ...at } })),
    [productId]
  )
  // Whether the reader bought it, from their latest orders: only buyers may review.
  const bought = useAsync(
    async () =>
      session === null
        ? false
        : (await call((c) => c.market.listOrders({ urlParams: { limit: 100 } }))).items.some((o) => o.status === "paid" && o.items.some((i) => i.product_id === productId)),
    [productId, session?.userId]
  )
  const [license, setLicense] = useState<string | null>(null)
  const action = useAction()
  useTitle(product.state.status === "ok" ? product.state.value.title : "Product")
  return (
    <Show state={product.state} retry={product.reload}>
      {(p) => (
        <article className="narrow">
          <MarketNav />
          <h1>{p.title}</h1>
          <p className="muted">
            {typeLabel(p.type)}
            {p.genre !== null && ` · ${p.genre}`}
            {p.bpm !== null && ` · ${p.bpm} BPM`}
            {p.musical_key !== null && ` · ${p.musical_key}`} · <span data-testid="rating">{p.review_count > 0 ? `★ ${p.average_rating.toFixed(1)} (${p.review_count} ${p.review_count === 1 ? "review" : "reviews"})` : "no reviews yet"}</span>
          </p>
          {p.track_id !== null && (
            <p>
              <Link to={`/tracks/${p.track_id}`}>Listen to the track</Link>
            </p>
          )}
          {p.description !== null && <p>{p.description}</p>}
          <form
            onSubmit={async (e: FormEvent) => {
              e.preventDefault()
              if (license === null) return
              const ok = await action.run(() => call((c) => c.market.addToCart({ payload: { product_id: p.id, license_id: id<LicenseId>(license) } })).then(() => true))
              if (ok) navigate("/cart")
            }}
          >
            <fieldset className="licences">
              <legend>Choose a licence</legend>
              {p.licenses.map((l) => (
                <label key={l.id} className={`licence ${l.sold_out ? "sold-out" : ""}`}>
                  <input type="radio" name="licence" value={l.id} disabled={l.sold_out} checked={license === l.id} onChange={() => setLicense(l.id)} />
                  <strong>{l.type}</strong> — {formatMoney(l.price_cents, l.currency)}
                  {l.sold_out && " (sold)"}
                  {l.terms !== null && <span className="muted small"> · {l.terms}</span>}
                </label>
              ))}
            </fieldset>
            {session === null ? (
              <p>
                <Link to={`/signin?next=/market/products/${p.id}`}>Sign in</Link> to buy.
              </p>
            ) : session.userId === p.seller_id ? (
              <p className="muted">This is your product: you manage it below.</p>
            ) : (
              <button type="submit" className="primary" disabled={license === null || action.busy}>
                Add to cart
              </button>
            )}
            {action.error !== null && <p className="error" role="alert">{action.error}</p>}
          </form>
          {session !== null && (session.userId === p.seller_id || session.role === "admin") && <ProductManager product={p} onSaved={(saved) => product.set(() => saved)} />}
          <h2>Reviews</h2>
          <Show state={reviews.state} retry={reviews.reload}>
            {(page) => (
              <>
                {bought.state.status === "ok" && bought.state.value && !page.items.some((r) => r.user_id === session?.userId) && (
                  <ReviewForm
                    productId={p.id}
                    onPosted={() => {
                      // The average and count are the product's: read both again.
                      product.reload()
                      reviews.reload()
                    }}
                  />
                )}
                {page.items.length === 0 ? (
                  <p className="muted">No reviews yet.</p>
                ) : (
                  <ul className="comments">
                    {page.items.map((r) => (
                      <li key={r.id} data-testid="review">
                        <span aria-label={`${r.rating} of 5`}>{"★".repeat(r.rating)}</span> <Link to={`/u/${r.username}`}>{r.username}</Link>{" "}
                        <span className="muted small">{formatDate(r.created_at)}</span>
                        {r.comment !== null && <p>{r.comment}</p>}
                      </li>
                    ))}
                  </ul>
                )}
              </>
            )}
          </Show>
          <MoreButton paged={reviews} />
        </article>
      )}
    </Show>
  )
}

const Cart = () => {
  useTitle("Cart")
  const navigate = useNavigate()
  const cart = useAsync(() => call((c) => c.market.cart()), [])
  const action = useAction()
  // One key per checkout attempt: a retry after a lost answer gets the same order, not a second one.
  const [key, setKey] = useState(() => crypto.randomUUID())
  return (
    <section className="narrow">
      <h1>Cart</h1>
      <MarketNav />
      <Show state={cart.state} retry={cart.reload}>
        {(c) => {
          if (c.items.length === 0) return <p className="muted">Your cart is empty. <Link to="/market">Browse the market</Link>.</p>
          const currencies = [...new Set(c.items.map((i) => i.currency))]
          return (
            <>
              <ul className="plain cart">
                {c.items.map((i) => (
                  <li key={i.product_id} className="row spread">
                    <span>
                      <Link to={`/market/products/${i.product_id}`}>{i.product_title}</Link> <span className="muted small">{i.license_type} licence</span>
                    </span>
                    <span className="row">
                      {formatMoney(i.price_cents, i.currency)}
                      <button
                        type="button"
                        className="small"
                        aria-label={`Remove ${i.product_title}`}
                        onClick={async () => {
                          const ok = await action.run(() => call((cl) => cl.market.removeFromCart({ path: { product_id: i.product_id } })).then(() => true))
                          if (ok) cart.reload()
                        }}
                      >
                        ✕
                      </button>
                    </span>
                  </li>
                ))}
              </ul>
              {currencies.map((cur) => (
                <p key={cur} className="total">
                  Total: {formatMoney(c.items.filter((i) => i.currency === cur).reduce((s, i) => s + i.price_cents, 0), cur)}
                </p>
              ))}
              <button
                type="button"
                className="primary"
                disabled={action.busy}
                onClick={async () => {
                  const order = await action.run(() =>
                    call((cl) =>
                      cl.market.checkout({ headers: { "idempotency-key": key }, payload: { items: c.items.map((i) => ({ product_id: i.product_id, license_id: i.license_id })) } })
                    )
                  )
                  if (order !== undefined) {
                    setKey(crypto.randomUUID())
                    navigate("/purchases")
                  }
                }}
              >
                Checkout
              </button>
              <p className="muted small">Payments run through the sandbox gateway: no money moves.</p>
            </>
          )
        }}
      </Show>
      {action.error !== null && <p className="error" role="alert">{action.error}</p>}
    </section>
  )
}

export const CartPage = () => (
  <RequireSignIn what="see your cart">
    <Cart />
  </RequireSignIn>
)

const Purchases = () => {
  useTitle("Purchases")
  const orders = usePaged((at) => call((c) => c.market.listOrders({ urlParams: { limit: 50, ...at } })), [])
  const action = useAction()
  return (
    <section className="narrow">
      <h1>Purchases</h1>
      <MarketNav />
      {action.error !== null && <p className="error" role="alert">{action.error}</p>}
      <Show state={orders.state} retry={orders.reload}>
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted">No purchases yet.</p>
          ) : (
            <ul className="plain">
              {page.items.map((o) => (
                <li key={o.id} className="card">
                  <p>
                    Order of {formatDate(o.created_at)} · {formatMoney(o.total_cents, o.currency)} · <strong>{o.status}</strong>
                  </p>
                  <ul className="plain">
                    {o.items.map((i) => (
                      <li key={i.id} className="row spread">
                        <span>
                          <Link to={`/market/products/${i.product_id}`}>{i.product_title}</Link> <span className="muted small">{i.license_type}</span>
                        </span>
                        {o.status === "paid" && (
                          <button
                            type="button"
                            className="small"
                            disabled={action.busy}
                            onClick={async () => {
                              const d = await action.run(() => call((c) => c.market.download({ path: { product_id: i.product_id } })))
                              if (d !== undefined) window.location.assign(d.url)
                            }}
                          >
                            Download
                          </button>
                        )}
                      </li>
                    ))}
                  </ul>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <MoreButton paged={orders} />
    </section>
  )
}

export const PurchasesPage = () => (
  <RequireSignIn what="see your purchases">
    <Purchases />
  </RequireSignIn>
)

const LICENCE_TYPES = ["basic", "premium", "exclusive"] as const
type Prices = Record<(typeof LICENCE_TYPES)[number], string>

/** The offer a price form describes: a licence for every type with a price, in one currency. */
const offerFrom = (prices: Prices, currency: string) =>
  LICENCE_TYPES.filter((t) => prices[t].trim() !== "").map((t) => ({ type: t, price_cents: Math.round(Number(prices[t]) * 100), currency }))

/** A price per licence type (empty: not offered) and the currency. */
const LicencePrices = ({ prices, setPrices, currency, setCurrency }: { prices: Prices; setPrices: (f: (p: Prices) => Prices) => void; currency: string; setCurrency: (c: string) => void }) => (
  <fieldset>
    <legend>Licences (leave a price empty to not offer it)</legend>
    {LICENCE_TYPES.map((t) => (
      <label key={t}>
        {t} price
        <input inputMode="decimal" pattern="\d+(\.\d{1,2})?" value={prices[t]} onChange={(e) => setPrices((p) => ({ ...p, [t]: e.target.value }))} />
      </label>
    ))}
    <label>
      Currency
      <select value={currency} onChange={(e) => setCurrency(e.target.value)}>
        <option>EUR</option>
        <option>USD</option>
        <option>GBP</option>
      </select>
    </label>
  </fieldset>
)

/** The seller's (or an admin's) panel on a product page: on sale or not, the licence offer, deleting it. */
const ProductManager = ({ product, onSaved }: { product: Product; onSaved: (p: Product) => void }) => {
  const navigate = useNavigate()
  const [status, setStatus] = useState(product.status)
  const [prices, setPrices] = useState<Prices>(() => {
    const of = (t: (typeof LICENCE_TYPES)[number]) => product.licenses.find((l) => l.type === t)
    return Object.fromEntries(LICENCE_TYPES.map((t) => [t, of(t) === undefined ? "" : (of(t)!.price_cents / 100).toFixed(2)])) as Prices
  })
  const [currency, setCurrency] = useState(product.licenses[0]?.currency ?? "EUR")
  const save = useAction()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const saved = await save.run(() => call((c) => c.market.updateProduct({ path: { id: product.id }, payload: { status, licenses: offerFrom(prices, currency) } })))
    if (saved !== undefined) onSaved(saved)
  }
  return (
    <section className="manage" aria-labelledby="manage-product-title">
      <h2 id="manage-product-title">Your product</h2>
      <p className="muted small">{product.sale_count} sold</p>
      <form className="stack" onSubmit={submit} aria-label="Product offer">
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value as Product["status"])}>
            <option value="active">On sale</option>
            <option value="inactive">Off sale</option>
            <option value="draft">Draft (only you)</option>
          </select>
        </label>
        <LicencePrices prices={prices} setPrices={setPrices} currency={currency} setCurrency={setCurrency} />
        <p className="muted small">A licence left without a price is withdrawn; orders already made keep theirs.</p>
        <button type="submit" className="primary" disabled={save.busy}>
          Save
        </button>
        {save.error !== null && <p className="error" role="alert">{save.error}</p>}
      </form>
      <div className="row">
        <ConfirmDelete what="product" onDelete={() => call((c) => c.market.deleteProduct({ path: { id: product.id } })).then(() => navigate("/market"))} />
      </div>
    </section>
  )
}

const Sell = () => {
  useTitle("Sell")
  const navigate = useNavigate()
  const { session } = useApp()
  const tracks = useAsync(() => call((c) => c.tracks.list({ urlParams: { user_id: session!.userId as never, limit: 100 } })), [])
  const [title, setTitle] = useState("")
  const [type, setType] = useState<ProductType>("beat")
  const [description, setDescription] = useState("")
  const [trackId, setTrackId] = useState("")
  const [prices, setPrices] = useState<Prices>({ basic: "19.99", premium: "", exclusive: "" })
  const [currency, setCurrency] = useState("EUR")
  const action = useAction()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const licenses = offerFrom(prices, currency)
    const product = await action.run(() =>
      call((c) =>
        c.market.createProduct({
          payload: {
            title,
            type,
            status: "active",
            licenses,
            ...(description.trim() === "" ? {} : { description }),
            ...(trackId === "" ? {} : { track_id: id<TrackId>(trackId) })
          }
        })
      )
    )
    if (product !== undefined) navigate(`/market/products/${product.id}`)
  }
  return (
    <section className="narrow">
      <h1>Sell on the market</h1>
      <MarketNav />
      <form onSubmit={submit} className="stack">
        <label>
          Title
          <input value={title} required maxLength={255} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.target.value as ProductType)}>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {typeLabel(t)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Description
          <textarea value={description} rows={3} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <label>
          Sold with one of your tracks (its original file is the download)
          <select value={trackId} onChange={(e) => setTrackId(e.target.value)}>
            <option value="">None</option>
            {tracks.state.status === "ok" &&
              tracks.state.value.items.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.title}
                </option>
              ))}
          </select>
          {tracks.state.status === "error" && (
            <span className="error small" role="alert">
              Your tracks could not be listed: {tracks.state.error}{" "}
              <button type="button" className="link" onClick={tracks.reload}>
                Retry
              </button>
            </span>
          )}
        </label>
        <LicencePrices prices={prices} setPrices={setPrices} currency={currency} setCurrency={setCurrency} />
        {action.error !== null && <p className="error" role="alert">{action.error}</p>}
        <button type="submit" className="primary" disabled={action.busy}>
          Put on sale
        </button>
      </form>
    </section>
  )
}

export const SellPage = () => (
  <RequireSignIn what="sell on the market">
    <Sell />
  </RequireSignIn>
)
