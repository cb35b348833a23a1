import { Effect, Option } from "effect"
import { AppConfig } from "../platform/config.js"
import { makeSigner } from "../platform/signed-links.js"
import { MarketConfig } from "./config.js"

export const PRODUCT_DOWNLOAD_PATHS = ["/downloads/products/:product_id/:file"]

/**
 * Signed, expiring links to one file of one product, handed to buyers. The
 * link alone opens the file (a browser or a download manager can follow it
 * without the bearer token); it stops working after MARKET_DOWNLOAD_LINK_TTL_SECONDS.
 */
export class ProductDownloadLinks extends Effect.Service<ProductDownloadLinks>()("veza/ProductDownloadLinks", {
  effect: Effect.gen(function* () {
    const app = yield* AppConfig
    const config = yield* MarketConfig
    const signer = makeSigner(app.jwtSecret, "veza/market-downloads/v1")
    const base = Option.getOrElse(app.publicUrl, () => "").replace(/\/$/, "")
    const subject = (productId: string, file: string) => `${productId}/${file}`

    const sign = (productId: string, file: string, now = Date.now()) => {
      const { exp, sig } = signer.sign(subject(productId, file), config.downloadLinkTtlSeconds, now)
      return { url: `${base}/downloads/products/${productId}/${file}?exp=${exp}&sig=${sig}`, expiresAt: new Date(exp * 1000) }
    }

    const verify = (productId: string, file: string, exp: string | null, sig: string | null) => signer.verify(subject(productId, file), exp, sig)

    return { sign, verify } as const
  }),
  dependencies: [MarketConfig.Default]
}) {}
