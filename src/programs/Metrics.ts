/**
 * The process's Prometheus metrics (prom-client, one registry per process so tests stay isolated), exposed in
 * the text format on `/metrics`.
 */
import { Context, Effect, Layer } from "effect"
import { Counter, Gauge, Histogram, Registry } from "prom-client"
import type { KubeTraffic } from "../services/KubeApi.ts"

const make = () => {
  const registry = new Registry()
  const registers = [registry]
  const counter = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L>) =>
    new Counter<L>({ name, help, labelNames, registers })
  const gauge = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L>) =>
    new Gauge<L>({ name, help, labelNames, registers })
  const histogram = <L extends string>(
    name: string,
    help: string,
    labelNames: ReadonlyArray<L>,
    buckets: Array<number>
  ) => new Histogram<L>({ name, help, labelNames, buckets, registers })
  const latency = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
  /** The API client's counts, read at each scrape; set by `observeKubeTraffic` (none in the memory layers). */
  let traffic: KubeTraffic | undefined
  new Counter<"verb" | "code">({
    name: "the0_kube_requests_total",
    help: "Kubernetes API requests by verb and answer (code 0: no answer), watches not included",
    labelNames: ["verb", "code"],
    registers,
    collect() {
      this.reset()
      for (const r of traffic?.requests().values() ?? []) this.inc({ verb: r.verb, code: String(r.code) }, r.count)
    }
  })
  new Gauge({
    name: "the0_kube_requests_in_flight",
    help: "Kubernetes API requests sent and not yet answered",
    registers,
    collect() {
      this.set(traffic?.inFlight() ?? 0)
    }
  })
  new Counter({
    name: "the0_kube_throttled_total",
    help: "Answers that asked the client to wait (429, or Retry-After on a server error); each request was sent again",
    registers,
    collect() {
      this.reset()
      this.inc(traffic?.throttled() ?? 0)
    }
  })
  return {
    registry,
    observeKubeTraffic: (source: KubeTraffic) => {
      traffic = source
    },
    reconciles: counter("the0_reconcile_total", "Reconciles by controller and outcome", ["controller", "outcome"]),
    reconcileSeconds: histogram("the0_reconcile_duration_seconds", "Reconcile duration", ["controller"], latency),
    queueDepth: gauge("the0_workqueue_depth", "Keys waiting in the work queue", ["controller"]),
    queueWaitSeconds: histogram(
      "the0_workqueue_wait_seconds",
      "Time a key waited before a worker took it",
      ["controller"],
      latency
    ),
    queueRetries: counter("the0_workqueue_retries_total", "Keys retried with backoff after a failed reconcile", [
      "controller"
    ]),
    watchRestarts: counter("the0_watch_restarts_total", "Watch restarts by kind and reason", ["kind", "reason"]),
    objectsCreated: counter("the0_objects_created_total", "Objects created", ["kind"]),
    objectsUpdated: counter("the0_objects_updated_total", "Objects updated in place", ["kind"]),
    objectsDeleted: counter("the0_objects_deleted_total", "Objects deleted by reason", ["kind", "reason"]),
    skippedDocuments: counter("the0_skipped_documents_total", "Documents skipped because they do not decode or build", [
      "collection",
      "reason"
    ]),
    invalidDocuments: gauge("the0_invalid_documents", "Documents currently skipped", ["controller"]),
    massDeleteRefusals: counter("the0_mass_delete_refusals_total", "Resyncs that refused a mass deletion", [
      "controller"
    ]),
    massDeleteBlocked: gauge("the0_mass_delete_blocked", "1 while orphan deletions are held back", ["controller"]),
    objectsAwaitingMigration: gauge(
      "the0_objects_awaiting_migration",
      "Objects made by the0's controller (no document-hash annotation) not yet replaced or updated",
      ["controller"]
    ),
    resyncs: counter("the0_resync_total", "Full resyncs by outcome", ["controller", "outcome"]),
    botsDesired: gauge(
      "the0_bots_desired",
      "Enabled documents at the last resync (bots for the bot controller, schedules for the schedule controller)",
      ["controller"]
    ),
    botsRunning: gauge(
      "the0_bots_running",
      "Keys with a running object at the last resync: a Running Pod, or a CronJob not being deleted",
      ["controller"]
    ),
    eventToObjectSeconds: histogram(
      "the0_event_to_object_seconds",
      "From a document change handed to the controller to the create or replace of its object succeeding",
      ["controller"],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
    ),
    kubeEvents: counter(
      "the0_kube_events_total",
      "Kubernetes Events by outcome: created, patched (a repeat counted in its series), error, dropped (queue " +
        "full) or throttled (the object's rate limit)",
      ["controller", "outcome"]
    ),
    resyncSeconds: histogram("the0_resync_duration_seconds", "Full resync duration", ["controller"], latency),
    leader: gauge("the0_leader", "1 while this replica holds the lease", []),
    leaderTransitions: counter("the0_leader_transitions_total", "Times this replica gained or lost the lease", ["to"]),
    events: counter("the0_events_total", "Bot lifecycle events by subject and outcome", ["subject", "outcome"]),
    eventBusConnected: gauge("the0_event_bus_connected", "1 while connected to NATS", []),
    ingestCaughtUp: gauge(
      "the0_ingest_caught_up",
      "1 once event ingest has applied the backlog the stream held at start; the controllers act only then",
      []
    ),
    credentialsSecretWritable: gauge(
      "the0_minio_credentials_secret_writable",
      "0 while the leader cannot write the MinIO credentials Secret it owns (permission or API error), else 1",
      []
    )
  }
}

export type MetricsService = ReturnType<typeof make>

export class Metrics extends Context.Tag("the0/Metrics")<Metrics, MetricsService>() {
  static readonly layer: Layer.Layer<Metrics> = Layer.sync(Metrics, make)
}

/** The Prometheus text exposition of every metric. */
export const exposition = Effect.flatMap(Metrics, (m) => Effect.promise(() => m.registry.metrics()))
