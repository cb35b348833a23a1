import { Context, Effect } from "effect"
import type { UserId, UserRole } from "../users/schema.js"

/** The authenticated caller, provided by the Authentication middleware. */
export interface Actor {
  readonly id: UserId
  readonly role: UserRole
}

export class CurrentUser extends Context.Tag("veza/CurrentUser")<CurrentUser, Actor>() {}

/** Runs `f` as the authenticated caller. */
export const withActor = <A, E, R>(f: (actor: Actor) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentUser, f)
