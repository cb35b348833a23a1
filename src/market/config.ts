import { Config, Effect } from "effect"
import { oneLine, positiveInt, StartupError } from "../platform/config.js"

const marketConfig = Config.all({
  maxFileBytes: positiveInt("MARKET_MAX_FILE_BYTES", 524_288_000),
  downloadLinkTtlSeconds: positiveInt("MARKET_DOWNLOAD_LINK_TTL_SECONDS", 900),
  pendingOrderTtlSeconds: positiveInt("MARKET_PENDING_ORDER_TTL_SECONDS", 3600),
  pendingOrderSweepMs: positiveInt("MARKET_PENDING_ORDER_SWEEP_MS", 60_000)
})

/** Marketplace settings: how large a product file may be, how long a download link lives, how long an order may stay pending. */
export class MarketConfig extends Effect.Service<MarketConfig>()("veza/MarketConfig", {
  effect: marketConfig.pipe(Effect.mapError((e) => new StartupError({ message: `configuration error: ${oneLine(String(e))}` })))
}) {}
