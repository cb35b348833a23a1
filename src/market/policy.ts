import { Effect } from "effect"
import type { Actor } from "../auth/current-user.js"
import { isAdmin, policy } from "../auth/policy.js"
import type { UserRole } from "../users/schema.js"
import type { ProductStatus } from "./schema.js"

/** The creator-side account types of SPEC §4 (and admins) sell; listeners buy. */
const SELLER_ROLES: ReadonlySet<UserRole> = new Set(["creator", "artist", "producer", "label", "admin"])

export const canSell = policy("Product", "create", (actor) => Effect.succeed(SELLER_ROLES.has(actor.role)))

export const managesProduct = (actor: Actor | undefined, product: { readonly seller_id: string }) =>
  actor !== undefined && (actor.id === product.seller_id || isAdmin(actor))

/**
 * Active products are on the shelf for everyone; drafts and withdrawn ones
 * exist only for their seller and admins (others get 404).
 */
export const canSeeProduct = (actor: Actor | undefined, product: { readonly seller_id: string; readonly status: ProductStatus; readonly seller_banned: boolean }) =>
  (product.status === "active" && !product.seller_banned) || managesProduct(actor, product)
