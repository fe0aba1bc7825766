/**
 * What a controller tells of what it does (docs/operations.md, "Kubernetes Events"): the Event on the object, the
 * metrics and the log line of each action, and what it keeps to tell them right: which key's object was deleted to be
 * recreated (its create is `Recreated`, with the reason), which problem of a key was already reported (said once
 * until it changes), and since when a change handed over by ingest waits for its object (the0_event_to_object_seconds).
 */
import { Effect } from "effect"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { KindMap } from "../../domain/Kube.ts"
import type { MetricsService } from "../Metrics.ts"
import type { ManifestError } from "../manifests/ManifestError.ts"
import * as ControllerEvents from "./ControllerEvents.ts"
import type { EventRecorder } from "./EventRecorder.ts"
import type { DeleteReason } from "./Plan.ts"

export interface ActionReportsOptions<K extends "Pod" | "CronJob"> {
  readonly controller: "bot" | "schedule"
  readonly kind: K
  readonly collectionName: string
  readonly namespace: string
  readonly rollLimit: number
}

/** What a resync counted, for its gauges. */
export interface ResyncCounts {
  readonly invalid: number
  readonly desired: number
  readonly running: number
}

export interface ActionReports<K extends "Pod" | "CronJob"> {
  /** Ingest handed over a change of the key at `now` (ms): the first one not yet acted on is the one measured. */
  readonly handedOver: (id: string, now: number) => void
  /** The key's plan creates or replaces nothing: its pending change is not measured. */
  readonly unmeasured: (id: string) => void
  readonly created: (id: string, object: KindMap[K]) => Effect.Effect<void>
  readonly updated: (id: string, object: KindMap[K]) => Effect.Effect<void>
  readonly deleted: (
    id: string,
    deleted: { readonly name: string; readonly uid: string; readonly reason: DeleteReason },
    detail: { readonly absence: ControllerEvents.Absence; readonly phase?: string | undefined }
  ) => Effect.Effect<void>
  /** The key's replacement waits for a roll-out slot; `live` is the object that keeps running, if any. */
  readonly rollWaiting: (id: string, live: KindMap[K] | undefined) => Effect.Effect<void>
  /** The key's document builds no valid object; said once until the error changes. */
  readonly invalid: (id: string, error: ManifestError, live: KindMap[K] | undefined) => Effect.Effect<void>
  /** A document does not decode; counted each time, logged once until the error changes. */
  readonly undecodable: (error: DocumentDecodeError) => Effect.Effect<void>
  readonly resynced: (counts: ResyncCounts, millis: number) => void
  readonly resyncFailed: (message: string) => Effect.Effect<void>
  /** This replica starts leading: changes handed over before were acted on by the leader then. */
  readonly leading: () => void
  /** Forgets the keys not kept (their document and object are gone). */
  readonly prune: (keep: (id: string) => boolean) => void
}

export const make = <K extends "Pod" | "CronJob">(
  options: ActionReportsOptions<K>,
  events: EventRecorder,
  metrics: MetricsService
): ActionReports<K> => {
  const { kind, namespace } = options
  const labels = { controller: options.controller }
  /** Keys whose object was deleted to be recreated: the create that follows is a `Recreated` Event. */
  const replaced = new Map<string, ControllerEvents.Replaced>()
  /** The problem last reported per key (an invalid document) or document id (one that does not decode). */
  const reported = new Map<string, string>()
  /** When ingest first handed over a change of the key not yet acted on. */
  const pendingSince = new Map<string, number>()

  const subject = (id: string): ControllerEvents.Subject => ({ kind, noun: options.controller, id })
  const referenceTo = (object: KindMap[K]) =>
    ControllerEvents.reference(kind, namespace, object.metadata.name, object.metadata.uid)
  /** The key's object now runs its latest handed-over change: how long that took since ingest handed it over. */
  const converged = (id: string) =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        const since = pendingSince.get(id)
        if (since === undefined) return
        pendingSince.delete(id)
        metrics.eventToObjectSeconds.observe(labels, (clock.unsafeCurrentTimeMillis() - since) / 1000)
      })
    )

  return {
    handedOver: (id, now) => {
      if (!pendingSince.has(id)) pendingSince.set(id, now)
    },
    unmeasured: (id) => {
      pendingSince.delete(id)
    },
    created: (id, object) =>
      Effect.suspend(() => {
        metrics.objectsCreated.inc({ kind })
        reported.delete(id)
        const previous = replaced.get(id)
        replaced.delete(id)
        return Effect.andThen(
          converged(id),
          events.record(ControllerEvents.created(subject(id), referenceTo(object), previous))
        )
      }),
    updated: (id, object) =>
      Effect.suspend(() => {
        metrics.objectsUpdated.inc({ kind })
        return Effect.andThen(converged(id), events.record(ControllerEvents.updated(subject(id), referenceTo(object))))
      }),
    deleted: (id, { name, uid, reason }, { absence, phase }) =>
      Effect.suspend(() => {
        metrics.objectsDeleted.inc({ kind, reason })
        if (ControllerEvents.isReplace(reason)) replaced.set(id, { reason, ...(phase === undefined ? {} : { phase }) })
        else if (reason === "orphan") replaced.delete(id)
        return Effect.andThen(
          Effect.logInfo(`deleted ${kind} ${name} (${reason})`),
          events.record(
            ControllerEvents.deleted(subject(id), ControllerEvents.reference(kind, namespace, name, uid), reason, {
              absence,
              rollLimit: options.rollLimit,
              ...(phase === undefined ? {} : { phase })
            })
          )
        )
      }),
    rollWaiting: (id, live) =>
      live === undefined
        ? Effect.void
        : events.record(ControllerEvents.rollWaiting(subject(id), referenceTo(live), options.rollLimit)),
    invalid: (id, error, live) =>
      Effect.suspend(() => {
        if (reported.get(id) === error.message) return Effect.void
        reported.set(id, error.message)
        metrics.skippedDocuments.inc({ collection: options.collectionName, reason: "invalid" })
        return Effect.andThen(
          Effect.logWarning(`cannot build ${kind} for ${id}: ${error.field}: ${error.message}`),
          live === undefined
            ? Effect.void
            : events.record(ControllerEvents.invalid(subject(id), referenceTo(live), error))
        )
      }),
    undecodable: (error) =>
      Effect.suspend(() => {
        metrics.skippedDocuments.inc({ collection: options.collectionName, reason: "undecodable" })
        if (reported.get(error.documentId) === error.message) return Effect.void
        reported.set(error.documentId, error.message)
        return Effect.logWarning(`skipping document that does not decode: ${error.message}`)
      }),
    resynced: (counts, millis) => {
      metrics.invalidDocuments.set(labels, counts.invalid)
      metrics.botsDesired.set(labels, counts.desired)
      metrics.botsRunning.set(labels, counts.running)
      metrics.resyncs.inc({ ...labels, outcome: "ok" })
      metrics.resyncSeconds.observe(labels, millis / 1000)
    },
    resyncFailed: (message) =>
      Effect.suspend(() => {
        metrics.resyncs.inc({ ...labels, outcome: "error" })
        return Effect.logWarning(`resync skipped, nothing deleted: ${message}`)
      }),
    leading: () => pendingSince.clear(),
    prune: (keep) => {
      for (const map of [replaced, reported, pendingSince]) for (const id of map.keys()) if (!keep(id)) map.delete(id)
    }
  }
}
