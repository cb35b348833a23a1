import { Effect } from "effect"
import { isAdmin, policy } from "../auth/policy.js"
import type { UserId } from "./schema.js"

/** A profile is changed by its owner or an admin. */
export const canUpdate = (id: UserId) => policy("User", "update", (actor) => Effect.succeed(actor.id === id || isAdmin(actor)))
