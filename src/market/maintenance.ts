import { Duration, Effect, Layer, Schedule } from "effect"
import { MarketConfig } from "./config.js"
import { MarketRepo } from "./repo.js"

/**
 * Fails orders that stayed pending past `MARKET_PENDING_ORDER_TTL_SECONDS`,
 * so that an exclusive licence held by a checkout that never settled can be
 * sold again. Runs on every api node; the update is idempotent, so nodes
 * racing each other is harmless.
 */
export const MarketMaintenanceLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* MarketConfig
    const repo = yield* MarketRepo
    const sweep = repo.expirePendingOrders(config.pendingOrderTtlSeconds).pipe(
      Effect.tap((expired) => (expired === 0 ? Effect.void : Effect.logInfo("pending orders expired").pipe(Effect.annotateLogs({ orders: expired })))),
      Effect.catchAllCause((cause) => Effect.logWarning("pending order sweep failed", cause))
    )
    yield* sweep.pipe(Effect.repeat(Schedule.spaced(Duration.millis(config.pendingOrderSweepMs))), Effect.interruptible, Effect.forkScoped)
  })
).pipe(Layer.provide([MarketRepo.Default, MarketConfig.Default]))
