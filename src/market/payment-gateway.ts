import { Context, Data, Effect, Layer } from "effect"

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

/**
 * The default gateway, `sandbox`: NO MONEY MOVES. Every charge is settled
 * at once and successfully, with a reference `sandbox_<order id>`, so the
 * whole purchase flow (orders, downloads, reviews) works without a provider
 * account. Never run a real shop on it: see docs/payments.md.
 */
export const SandboxPaymentGateway = Layer.succeed(PaymentGateway, {
  name: "sandbox",
  charge: (charge) => Effect.succeed({ provider: "sandbox", reference: `sandbox_${charge.orderId}` })
})
