import { Effect } from "effect"
import { Forbidden } from "../platform/api-errors.js"
import { type Actor, CurrentUser } from "./current-user.js"

/**
 * Proof, at the type level, that the current user passed the policy for
 * `Action` on `Entity`. Service writes require it in their context; the only
 * way to satisfy that requirement is `policyUse`, so a handler that forgets
 * the ownership check does not compile.
 */
export interface AuthorizedActor<Entity extends string, Action extends string> {
  readonly _Entity: Entity
  readonly _Action: Action
}

export interface Policy<Entity extends string, Action extends string, E, R> {
  readonly entity: Entity
  readonly action: Action
  readonly check: Effect.Effect<Actor, E | Forbidden, R | CurrentUser>
}

export const policy = <Entity extends string, Action extends string, E = never, R = never>(
  entity: Entity,
  action: Action,
  allow: (actor: Actor) => Effect.Effect<boolean, E, R>
): Policy<Entity, Action, E, R> => ({
  entity,
  action,
  check: Effect.flatMap(CurrentUser, (actor) =>
    Effect.flatMap(allow(actor), (ok) =>
      ok ? Effect.succeed(actor) : Effect.fail(Forbidden.of(`not allowed to ${action} this ${entity.toLowerCase()}`))
    )
  )
})

export const policyUse =
  <Entity extends string, Action extends string, E2, R2>(p: Policy<Entity, Action, E2, R2>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2 | Forbidden, Exclude<R, AuthorizedActor<Entity, Action>> | R2 | CurrentUser> =>
    Effect.zipRight(p.check, effect) as Effect.Effect<A, E | E2 | Forbidden, Exclude<R, AuthorizedActor<Entity, Action>> | R2 | CurrentUser>

/** Marks a service effect as requiring a passed policy. */
export const policyRequire =
  <Entity extends string, Action extends string>(_entity: Entity, _action: Action) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | AuthorizedActor<Entity, Action>> =>
    effect

export const isAdmin = (actor: Actor) => actor.role === "admin"
