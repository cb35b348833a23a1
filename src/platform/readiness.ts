import { Duration, Effect, Ref } from "effect"

/**
 * Whether this process should receive traffic: false once draining starts,
 * and false while any registered dependency check fails.
 */
export class Readiness extends Effect.Service<Readiness>()("veza/Readiness", {
  effect: Effect.gen(function* () {
    // Plain state: the HTTP front reads it synchronously on every request.
    let drainingSince: number | undefined
    const checks = yield* Ref.make(new Map<string, Effect.Effect<void, unknown>>())

    const register = (name: string, check: Effect.Effect<void, unknown>) =>
      Ref.update(checks, (m) => new Map(m).set(name, check))

    const report = Effect.gen(function* () {
      const isDraining = drainingSince !== undefined
      const entries = Array.from((yield* Ref.get(checks)).entries())
      const results = yield* Effect.forEach(
        entries,
        ([name, check]) =>
          check.pipe(
            Effect.timeout("2 seconds"),
            Effect.match({
              onFailure: (e) => [name, e instanceof Error ? e.message : String(e)] as const,
              onSuccess: () => [name, "ok"] as const
            })
          ),
        { concurrency: "unbounded" }
      )
      const ready = !isDraining && results.every(([, r]) => r === "ok")
      return { ready, draining: isDraining, checks: Object.fromEntries(results) as Record<string, string> }
    })

    return {
      register,
      report,
      startDraining: Effect.sync(() => {
        drainingSince ??= Date.now()
      }),
      isDraining: () => drainingSince !== undefined,
      /**
       * What is left of a shutdown grace period that started when draining
       * did, so that stages draining one after the other (HTTP, then jobs)
       * share one deadline instead of each taking the whole period.
       */
      remainingGrace: (grace: Duration.Duration) =>
        Duration.millis(Math.max(0, Duration.toMillis(grace) - (drainingSince === undefined ? 0 : Date.now() - drainingSince)))
    } as const
  })
}) {}
