import { Effect } from "effect"
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
      isBlocked: (a: UserId, b: UserId) => repo.isBlocked(a, b).pipe(sqlErrors)
    } as const
  }),
  dependencies: [SocialRepo.Default]
}) {}
