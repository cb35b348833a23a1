import { Effect, Ref } from "effect"

/**
 * Whether this process should receive traffic: false once draining starts,
 * and false while any registered dependency check fails.
 */
export class Readiness extends Effect.Service<Readiness>()("veza/Readiness", {
  effect: Effect.gen(function* () {
    // A plain flag: the HTTP front reads it synchronously on every request.
    let draining = false
    const checks = yield* Ref.make(new Map<string, Effect.Effect<void, unknown>>())

    const register = (name: string, check: Effect.Effect<void, unknown>) =>
      Ref.update(checks, (m) => new Map(m).set(name, check))

    const report = Effect.gen(function* () {
      const isDraining = draining
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
        draining = true
      }),
      isDraining: () => draining
    } as const
  })
}) {}
