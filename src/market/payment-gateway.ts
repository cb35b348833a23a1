import { Config, Context, Data, Effect, Layer } from "effect"
import { oneLine, StartupError } from "../platform/config.js"

export interface Charge {
  readonly orderId: string
  readonly buyerId: string
  readonly totalCents: number
  readonly currency: string
}

/** The provider's answer: the order is paid, with the provider's reference for it. */
export interface Settlement {
  readonly provider: string
  readonly reference: string
}

export class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly provider: string; readonly reason: string }> {}

export interface PaymentGatewayService {
  /** Recorded on every order as `payment_provider`. */
  readonly name: string
  /** Settles the charge, or says why not. Called once per order, after it is stored. */
  readonly charge: (charge: Charge) => Effect.Effect<Settlement, PaymentDeclined>
}

/**
 * Takes payment for orders. Real providers (Stripe, Hyperswitch, …) are
 * adapters behind this tag; they will settle asynchronously (a webhook marks
 * the order paid), which the pending order status already allows for.
 */
export class PaymentGateway extends Context.Tag("veza/PaymentGateway")<PaymentGateway, PaymentGatewayService>() {}

const sandboxOutcome = Config.literal("settle", "decline")("SANDBOX_PAYMENTS").pipe(Config.withDefault("settle" as const))

/**
 * The default gateway, `sandbox`: NO MONEY MOVES. Every charge is settled
 * at once and successfully, with a reference `sandbox_<order id>`, so the
 * whole purchase flow (orders, downloads, reviews) works without a provider
 * account. With `SANDBOX_PAYMENTS=decline` it declines every charge instead,
 * for trying what a buyer sees when a payment fails. Never run a real shop
 * on it: see docs/payments.md.
 */
export const SandboxPaymentGateway = Layer.effect(
  PaymentGateway,
  Effect.map(
    Effect.mapError(sandboxOutcome, (e) => new StartupError({ message: `configuration error: ${oneLine(String(e))}` })),
    (outcome): PaymentGatewayService => ({
      name: "sandbox",
      charge: (charge) =>
        outcome === "settle"
          ? Effect.succeed({ provider: "sandbox", reference: `sandbox_${charge.orderId}` })
          : Effect.fail(new PaymentDeclined({ provider: "sandbox", reason: "declined by the sandbox (SANDBOX_PAYMENTS=decline)" }))
    })
  )
)
