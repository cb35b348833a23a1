import { Effect, Option } from "effect"
import { sqlErrors } from "../platform/sql-errors.js"
import type { UserId } from "../users/schema.js"
import { SocialRepo } from "./repo.js"

/**
 * Who has shut whom out. Other domains (chat, comments, playlist invites,
 * notifications) ask before letting one user reach another.
 */
export class Blocks extends Effect.Service<Blocks>()("veza/Blocks", {
  effect: Effect.gen(function* () {
    const repo = yield* SocialRepo
    return {
      /**
       * True when either user has blocked the other. Symmetric on purpose: a
       * blocked user may not reach the blocker, and the blocker may not reach
       * someone they hid from themselves without unblocking first.
       */
      isBlocked: (a: UserId, b: UserId) => repo.isBlocked(a, b).pipe(sqlErrors),

      /**
       * `effect` in one transaction with the check that neither has blocked
       * the other, holding the lock a block takes on the pair: a block landing
       * meanwhile comes after it (and undoes what it may, as 0023's trigger
       * ends collaborations) rather than missing it. None when blocked.
       */
      unlessBlocked: <A, E, R>(a: UserId, b: UserId, effect: Effect.Effect<A, E, R>) =>
        repo.pairLocked(
          a,
          b,
          Effect.flatMap(repo.isBlocked(a, b), (blocked) => (blocked ? Effect.succeed(Option.none<A>()) : Effect.map(effect, Option.some)))
        )
    } as const
  }),
  dependencies: [SocialRepo.Default]
}) {}
