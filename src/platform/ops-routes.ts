import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { Metrics } from "./metrics.js"
import { Readiness } from "./readiness.js"

export const OPS_PATHS = ["/healthz", "/health", "/readyz", "/metrics"] as const

/** Liveness, readiness and Prometheus metrics: served by every role. */
export const OpsRoutes = HttpLayerRouter.use((router) =>
  Effect.gen(function* () {
    const readiness = yield* Readiness
    const metrics = yield* Metrics
    const alive = HttpServerResponse.unsafeJson({ status: "ok" })
    yield* router.add("GET", "/healthz", Effect.succeed(alive))
    yield* router.add("GET", "/health", Effect.succeed(alive))
    yield* router.add(
      "GET",
      "/readyz",
      Effect.map(readiness.report, (report) =>
        HttpServerResponse.unsafeJson({ status: report.ready ? "ready" : "not_ready", ...report }, { status: report.ready ? 200 : 503 })
      )
    )
    yield* router.add(
      "GET",
      "/metrics",
      Effect.map(metrics.render, (text) => HttpServerResponse.text(text, { contentType: metrics.contentType }))
    )
  })
)

