import { Effect } from "effect"
import { isAdmin, policy } from "../auth/policy.js"
import { Forbidden } from "../platform/api-errors.js"

/** The admin area (audit log, report queue, moderation actions) is the admin role's alone. */
export const canModerate = policy("Moderation", "manage", (actor) =>
  isAdmin(actor) ? Effect.succeed(true) : Effect.fail(Forbidden.of("this needs the admin role", "ADMIN_ONLY"))
)
