import type { Actor } from "../auth/current-user.js"
import { Forbidden, Unprocessable } from "../platform/api-errors.js"
import type { UserId } from "../users/schema.js"

/** Following or blocking is about someone else; the answer names the action. */
export const notSelf = (actor: Actor, target: UserId, action: "follow" | "block") =>
  actor.id === target ? Unprocessable.of(`you cannot ${action} yourself`, action === "follow" ? "CANNOT_FOLLOW_SELF" : "CANNOT_BLOCK_SELF") : undefined

export const blockedRefusal = () => Forbidden.of("one of you has blocked the other", "BLOCKED")
