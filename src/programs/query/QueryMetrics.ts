/**
 * The QueryServer's Prometheus metrics, registered once per registry on the process's `Metrics`: requests by
 * route, mode (realtime, job, none) and status code with their latency, ephemeral Jobs in flight, and result
 * objects cleaned up.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client"
import type { MetricsService } from "../Metrics.ts"

export type QueryMode = "realtime" | "job" | "none"

const make = (registry: Registry) => {
  const registers = [registry]
  return {
    requests: new Counter<"route" | "mode" | "status">({
      name: "the0_query_requests_total",
      help: "QueryServer requests by route, mode (realtime, job, none) and HTTP status",
      labelNames: ["route", "mode", "status"],
      registers
    }),
    requestSeconds: new Histogram<"route" | "mode" | "status">({
      name: "the0_query_request_duration_seconds",
      help: "QueryServer request latency by route, mode and HTTP status",
      labelNames: ["route", "mode", "status"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers
    }),
    jobsInFlight: new Gauge({
      name: "the0_query_jobs_in_flight",
      help: "Ephemeral query Jobs running on this replica",
      registers
    }),
    jobsRejected: new Counter({
      name: "the0_query_jobs_rejected_total",
      help: "Queries refused with 429 because every ephemeral-Job slot was taken",
      registers
    }),
    resultsCleaned: new Counter<"outcome">({
      name: "the0_query_results_cleaned_total",
      help: "Query result objects removed from the query-results bucket, by outcome (removed, failed)",
      labelNames: ["outcome"],
      registers
    }),
    jobsCleaned: new Counter<"outcome">({
      name: "the0_query_jobs_deleted_total",
      help: "Ephemeral query Jobs deleted by the QueryServer, by outcome (deleted, gone, failed)",
      labelNames: ["outcome"],
      registers
    })
  }
}

export type QueryMetrics = ReturnType<typeof make>

/**
 * Counts a request and its latency. The labelled children are looked up once per label set: prom-client hashes
 * the labels on every `inc`/`observe` given labels, a cost the realtime path should not pay per query.
 */
export const requestObserver = (metrics: QueryMetrics) => {
  const children = new Map<
    string,
    { readonly count: { inc: () => void }; readonly seconds: { observe: (value: number) => void } }
  >()
  return (route: string, mode: QueryMode, status: number, seconds: number): void => {
    const key = `${route} ${mode} ${status}`
    let child = children.get(key)
    if (child === undefined) {
      const labels = { route, mode, status: String(status) }
      child = { count: metrics.requests.labels(labels), seconds: metrics.requestSeconds.labels(labels) }
      children.set(key, child)
    }
    child.count.inc()
    child.seconds.observe(seconds)
  }
}

const byRegistry = new WeakMap<Registry, QueryMetrics>()

/** The query metrics of this process's registry, registered on first use. */
export const queryMetrics = (metrics: MetricsService): QueryMetrics => {
  const existing = byRegistry.get(metrics.registry)
  if (existing !== undefined) return existing
  const created = make(metrics.registry)
  byRegistry.set(metrics.registry, created)
  return created
}
