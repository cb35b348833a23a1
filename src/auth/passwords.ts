import * as argon2 from "argon2"
import { Effect } from "effect"
import { AppConfig } from "../platform/config.js"

/** argon2id hashing; runs on libuv's thread pool, off the event loop. */
export class Passwords extends Effect.Service<Passwords>()("veza/Passwords", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const options = {
      type: argon2.argon2id,
      memoryCost: config.argon2MemoryKib,
      timeCost: config.argon2TimeCost,
      parallelism: 1
    } as const
    const hash = (password: string) => Effect.promise(() => argon2.hash(password, options))
    // Verifying against this when the account does not exist keeps response
    // times from telling which emails are registered.
    const decoy = yield* hash("decoy-password-for-unknown-accounts")
    const verify = (stored: string | null, password: string) =>
      Effect.promise(() => argon2.verify(stored ?? decoy, password).catch(() => false)).pipe(
        Effect.map((ok) => ok && stored !== null)
      )
    return { hash, verify } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
