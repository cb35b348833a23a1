import { Effect } from "effect"
import * as Prom from "prom-client"

/**
 * One Prometheus registry per process, owned by this service. Domains
 * register their counters here under the seed's `veza_*` names.
 */
export class Metrics extends Effect.Service<Metrics>()("veza/Metrics", {
  sync: () => {
    const registry = new Prom.Registry()
    Prom.collectDefaultMetrics({ register: registry, prefix: "veza_" })
    const httpRequests = new Prom.Counter({
      name: "veza_http_requests_total",
      help: "HTTP requests by method, route and status",
      labelNames: ["method", "route", "status"] as const,
      registers: [registry]
    })
    const httpDuration = new Prom.Histogram({
      name: "veza_http_request_duration_seconds",
      help: "HTTP request duration in seconds",
      labelNames: ["method", "route"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry]
    })
    const counter = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L> = []) =>
      new Prom.Counter<L>({ name, help, labelNames, registers: [registry] })
    return {
      httpRequests,
      httpDuration,
      counter,
      render: Effect.promise(() => registry.metrics()),
      contentType: registry.contentType
    } as const
  }
}) {}
