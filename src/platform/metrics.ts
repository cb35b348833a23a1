import { Effect, Metric, MetricState } from "effect"
import * as Prom from "prom-client"

/**
 * Fibers alive in this process, from the counter Effect's runtime keeps while
 * its RuntimeMetrics flag is on (the default). The counter has one series per
 * set of metric labels the fibers were started under, hence the sum.
 */
const activeFibers = () => {
  let total = 0
  for (const pair of Metric.unsafeSnapshot()) {
    if (pair.metricKey.name === "effect_fiber_active" && MetricState.isCounterState(pair.metricState)) {
      total += Number(pair.metricState.count)
    }
  }
  return total
}

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
    /** A gauge read when scraped: sizes of live structures, which must fall back once their users leave. */
    const gauge = (name: string, help: string, read: () => number) =>
      new Prom.Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read())
        }
      })
    gauge("veza_effect_fibers_active", "Effect fibers alive in this process", activeFibers)
    return {
      httpRequests,
      httpDuration,
      counter,
      gauge,
      render: Effect.promise(() => registry.metrics()),
      contentType: registry.contentType
    } as const
  }
}) {}
