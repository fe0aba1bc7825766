/**
 * One controller (Bot → Pods, Schedule → CronJobs): an informer on its objects, a keyed work queue, the
 * per-key reconcile (read desired → read observed → plan → act), and the periodic full resync with the
 * safety rails. The informer runs on every replica; workers and resync only while `run` is running (leader).
 * What it does to an object is told as a Kubernetes Event on that object (ControllerEvents, EventRecorder).
 */

import { Chunk, Duration, Effect, Either, Option, Schedule, type Scope, Stream } from "effect"
import { type Bot, isEnabled } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { KindMap } from "../../domain/Kube.ts"
import { Label } from "../../domain/Labels.ts"
import { massDeleteThreshold } from "../../domain/MassDelete.ts"
import { BotStore, type BotStoreError } from "../../services/BotStore.ts"
import { KubeApi, type KubeApiError } from "../../services/KubeApi.ts"
import type { Written } from "../ingest/ApplyEvent.ts"
import { Metrics } from "../Metrics.ts"
import * as ControllerEvents from "./ControllerEvents.ts"
import type { ControllerSettings } from "./ControllerSettings.ts"
import * as EventRecorder from "./EventRecorder.ts"
import * as Informer from "./Informer.ts"
import type { OwnedKind } from "./OwnedKinds.ts"
import { type Action, type Desired, madeByThe0, plan, rolledReasons } from "./Plan.ts"
import * as WorkQueue from "./WorkQueue.ts"

export interface ControllerState {
  readonly firstResyncDone: boolean
  readonly massDeleteBlocked: boolean
  readonly rolling: ReadonlyArray<string>
  readonly invalid: ReadonlyArray<string>
}

export interface Controller<K extends "Pod" | "CronJob"> {
  readonly name: string
  readonly informer: Informer.Informer<K>
  /**
   * A document just changed in the store (NATS ingest): reconcile the key now, from the document ingest wrote when
   * it is given (unless a later version was already handed over), else from a fresh read.
   */
  readonly notify: (id: string, written?: Written) => Effect.Effect<void>
  /** Reconciles one key now, outside the queue (tests and benchmarks). */
  readonly reconcile: (id: string) => Effect.Effect<void, KubeApiError | BotStoreError>
  readonly resync: Effect.Effect<void>
  /** Runs the workers and the periodic resync (first one at once) until the scope closes. */
  readonly run: Effect.Effect<void, never, Scope.Scope>
  readonly state: () => ControllerState
  readonly queueDepth: Effect.Effect<number>
}

export const make = <K extends "Pod" | "CronJob", D extends Bot>(
  spec: OwnedKind<K, D>,
  settings: ControllerSettings
): Effect.Effect<Controller<K>, never, KubeApi | BotStore | Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const collection = spec.collection(yield* BotStore)
    const metrics = yield* Metrics
    const name = spec.controller
    const namespace = settings.manifest.namespace
    const events = yield* EventRecorder.make({
      namespace,
      controller: name,
      reportingInstance: settings.leaderElection.identity
    })
    const subject = (id: string): ControllerEvents.Subject => ({ kind: spec.kind, noun: spec.controller, id })
    const referenceTo = (object: KindMap[K]) =>
      ControllerEvents.reference(spec.kind, namespace, object.metadata.name, object.metadata.uid)
    /** The object a key runs (not being deleted), if any: what an Event about the key regards. */
    const liveObject = (id: string) => observed(id).find((o) => o.metadata.deletionTimestamp === undefined)

    const queue = yield* WorkQueue.make(
      { ...WorkQueue.defaultOptions, workers: settings.workers },
      {
        depth: (n) => metrics.queueDepth.set({ controller: name }, n),
        waited: (ms) => metrics.queueWaitSeconds.observe({ controller: name }, ms / 1000),
        retried: () => metrics.queueRetries.inc({ controller: name }),
        processed: (_key, ms, outcome) => {
          metrics.reconciles.inc({ controller: name, outcome })
          metrics.reconcileSeconds.observe({ controller: name }, ms / 1000)
        }
      }
    )

    /** Names of live objects made by the0's controller (no document hash), replaced or updated once each. */
    const awaitingMigration = new Set<string>()
    const track = (object: KindMap[K], gone: boolean) => {
      if (!gone && object.metadata.deletionTimestamp === undefined && madeByThe0(object))
        awaitingMigration.add(object.metadata.name)
      else awaitingMigration.delete(object.metadata.name)
      metrics.objectsAwaitingMigration.set({ controller: name }, awaitingMigration.size)
    }

    const informer = yield* Informer.make(
      spec.kind,
      {
        namespace,
        labelSelector: `${Label.managedBy}=${spec.managedBy}`,
        indexLabels: [spec.idLabel],
        watchdog: settings.watchdog,
        ...(spec.keep === undefined ? {} : { keep: spec.keep })
      },
      {
        event: (type, object) => {
          track(object, type === "DELETED")
          const id = object.metadata.labels?.[spec.idLabel]
          return id === undefined ? Effect.void : queue.add(id)
        },
        restarted: (reason) => metrics.watchRestarts.inc({ kind: spec.kind, reason })
      }
    )

    /** What we last learned of each key's document, from a resync, a read or ingest; dropped on a bare notify. */
    const known = new Map<string, Desired<KindMap[K]>>()
    /** The version of the last document ingest handed over, per key: an older one arriving late is not used. */
    const writtenVersion = new Map<string, number>()
    /** Built objects by document JSON, so an unchanged document is not rebuilt on every resync. */
    const built = new Map<string, { readonly json: string; readonly desired: Desired<KindMap[K]> }>()
    const notifiedAt = new Map<string, number>()
    const rolling = new Set<string>()
    const waitingForRoll = new Set<string>()
    const reported = new Map<string, string>()
    /** When ingest first handed over a change of the key not yet acted on (the0_event_to_object_seconds). */
    const pendingSince = new Map<string, number>()
    /** Why a key wants nothing running, as far as a read or ingest told; for the Event of its deletion. */
    const absence = new Map<string, ControllerEvents.Absence>()
    /** Keys whose object was deleted to be recreated: the create that follows is a `Recreated` Event. */
    const replaced = new Map<string, ControllerEvents.Replaced>()
    let notifySeq = 0
    let firstResyncDone = false
    let massDeleteBlocked = false
    let migrating = false

    const desiredOf = (document: D): Desired<KindMap[K]> => {
      if (!isEnabled(document)) {
        absence.set(document.id, "disabled")
        return { _tag: "Absent" }
      }
      absence.delete(document.id)
      const json = JSON.stringify(document)
      const memo = built.get(document.id)
      if (memo?.json === json) return memo.desired
      const desired: Desired<KindMap[K]> = Either.match(spec.build(settings.manifest, document), {
        onLeft: (error) => ({ _tag: "Invalid", error }),
        onRight: (object) => ({ _tag: "Present", object })
      })
      built.set(document.id, { json, desired })
      return desired
    }

    /** The desired object for a document ingest wrote; one that does not decode is reported as a read's would be. */
    const desiredWritten = (id: string, document: Written["document"]): Effect.Effect<Desired<KindMap[K]>> =>
      document === null
        ? Effect.sync(() => {
            absence.set(id, "deleted")
            return { _tag: "Absent" } as const
          })
        : Either.match(spec.decode(document), {
            onRight: (decoded) => Effect.succeed(desiredOf(decoded)),
            onLeft: (error) => Effect.as(reportUndecodable(error), { _tag: "Unknown", reason: error.message } as const)
          })

    const reportUndecodable = (error: DocumentDecodeError) =>
      Effect.suspend(() => {
        metrics.skippedDocuments.inc({ collection: spec.collectionName, reason: "undecodable" })
        if (reported.get(error.documentId) === error.message) return Effect.void
        reported.set(error.documentId, error.message)
        return Effect.logWarning(`skipping document that does not decode: ${error.message}`)
      })

    const readDesired = (id: string): Effect.Effect<Desired<KindMap[K]>, BotStoreError> =>
      Effect.suspend(() => {
        const cached = known.get(id)
        if (cached !== undefined) return Effect.succeed(cached)
        return collection.get(id).pipe(
          Effect.map((found) => {
            if (Option.isSome(found)) return desiredOf(found.value)
            absence.set(id, "deleted")
            return { _tag: "Absent" } as const
          }),
          Effect.catchTag("DocumentDecodeError", (error) =>
            Effect.as(reportUndecodable(error), { _tag: "Unknown", reason: error.message } as const)
          ),
          Effect.tap((desired) => Effect.sync(() => known.set(id, desired)))
        )
      })

    const observed = (id: string) => informer.byLabel(spec.idLabel, id)

    const planFor = (id: string, desired: Desired<KindMap[K]>) =>
      plan({
        desired,
        observed: observed(id),
        onChange: spec.onChange,
        fingerprintAnnotation: spec.fingerprintAnnotation,
        orphanDeletesAllowed: firstResyncDone && !massDeleteBlocked,
        rollAllowed: rolling.has(id) || rolling.size < settings.rollLimit
      })

    /** A roll is over once the key runs its desired object (Running, for Pods) or wants nothing. */
    const settleRoll = (id: string, desired: Desired<KindMap[K]>) =>
      Effect.suspend(() => {
        if (!rolling.has(id)) return Effect.void
        const wanted =
          desired._tag === "Present" ? desired.object.metadata.annotations?.[spec.fingerprintAnnotation] : undefined
        const done =
          desired._tag !== "Present" ||
          observed(id).some(
            (o) =>
              o.metadata.deletionTimestamp === undefined &&
              o.metadata.annotations?.[spec.fingerprintAnnotation] === wanted &&
              (o.kind !== "Pod" || o.status?.phase === "Running")
          )
        if (!done) return Effect.void
        rolling.delete(id)
        const next = [...waitingForRoll]
        waitingForRoll.clear()
        return Effect.forEach(next, queue.add, { discard: true })
      })

    /** The key's object now runs its latest handed-over change: how long that took since ingest handed it over. */
    const converged = (id: string) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const since = pendingSince.get(id)
          if (since === undefined) return
          pendingSince.delete(id)
          metrics.eventToObjectSeconds.observe({ controller: name }, (clock.unsafeCurrentTimeMillis() - since) / 1000)
        })
      )

    const recordDeleted = (id: string, action: Extract<Action<KindMap[K]>, { _tag: "Delete" }>, phase?: string) =>
      Effect.suspend(() => {
        if (ControllerEvents.isReplace(action.reason))
          replaced.set(id, { reason: action.reason, ...(phase === undefined ? {} : { phase }) })
        else if (action.reason === "orphan") replaced.delete(id)
        return events.record(
          ControllerEvents.deleted(
            subject(id),
            ControllerEvents.reference(spec.kind, namespace, action.name, action.uid),
            action.reason,
            {
              absence: absence.get(id) ?? "unlisted",
              rollLimit: settings.rollLimit,
              ...(phase === undefined ? {} : { phase })
            }
          )
        )
      })

    const act = (id: string, action: Action<KindMap[K]>): Effect.Effect<void, KubeApiError> => {
      switch (action._tag) {
        case "Create":
          return api.create(spec.kind, namespace, action.object).pipe(
            Effect.tap((created) => {
              informer.observeWrite(created as KindMap[K])
              metrics.objectsCreated.inc({ kind: spec.kind })
              reported.delete(id)
              const previous = replaced.get(id)
              replaced.delete(id)
              return Effect.andThen(
                converged(id),
                events.record(ControllerEvents.created(subject(id), referenceTo(created as KindMap[K]), previous))
              )
            }),
            Effect.asVoid
          )
        case "Update":
          return api.update(spec.kind, namespace, action.object).pipe(
            Effect.tap((updated) => {
              informer.observeWrite(updated as KindMap[K])
              // the cache skips the watch event of our own write: a CronJob made by the0 is migrated here
              track(informer.get(updated.metadata.name) ?? (updated as KindMap[K]), false)
              metrics.objectsUpdated.inc({ kind: spec.kind })
              return Effect.andThen(
                converged(id),
                events.record(ControllerEvents.updated(subject(id), referenceTo(updated as KindMap[K])))
              )
            }),
            Effect.asVoid
          )
        case "Delete": {
          const before = informer.get(action.name)
          const phase = before?.kind === "Pod" ? before.status?.phase : undefined
          return api
            .delete(spec.kind, namespace, action.name, { ...spec.deleteOptions, preconditions: { uid: action.uid } })
            .pipe(
              Effect.tap(() => metrics.objectsDeleted.inc({ kind: spec.kind, reason: action.reason })),
              Effect.andThen(Effect.logInfo(`deleted ${spec.kind} ${action.name} (${action.reason})`)),
              Effect.andThen(recordDeleted(id, action, phase)),
              Effect.catchTag("KubeNotFound", () => Effect.void),
              Effect.andThen(
                Effect.clockWith((clock) =>
                  Effect.sync(() =>
                    informer.observeDelete(
                      action.name,
                      action.uid,
                      new Date(clock.unsafeCurrentTimeMillis()).toISOString()
                    )
                  )
                )
              )
            )
        }
        case "Wait":
          return Effect.suspend(() => {
            if (action.reason !== "roll-limit") return Effect.void
            waitingForRoll.add(id)
            const live = liveObject(id)
            return live === undefined
              ? Effect.void
              : events.record(ControllerEvents.rollWaiting(subject(id), referenceTo(live), settings.rollLimit))
          })
        case "Report":
          return Effect.suspend(() => {
            if (reported.get(id) === action.error.message) return Effect.void
            reported.set(id, action.error.message)
            metrics.skippedDocuments.inc({ collection: spec.collectionName, reason: "invalid" })
            const live = liveObject(id)
            return Effect.andThen(
              Effect.logWarning(`cannot build ${spec.kind} for ${id}: ${action.error.field}: ${action.error.message}`),
              live === undefined
                ? Effect.void
                : events.record(ControllerEvents.invalid(subject(id), referenceTo(live), action.error))
            )
          })
      }
    }

    const reconcile = (id: string) =>
      Effect.gen(function* () {
        const desired = yield* readDesired(id)
        yield* settleRoll(id, desired)
        const actions = planFor(id, desired)
        // a change that creates or replaces nothing is not measured
        if (desired._tag !== "Present" || actions.length === 0) pendingSince.delete(id)
        // the slot is taken with the plan, before any call: workers planning meanwhile see it spent
        if (actions.some((a) => a._tag === "Delete" && rolledReasons.has(a.reason))) rolling.add(id)
        for (const action of actions) yield* act(id, action)
      }).pipe(Effect.annotateLogs({ controller: name, key: id }))

    /** Where the migration from the0's objects stands: at start, then at every resync until it is done. */
    const reportMigration = Effect.suspend(() => {
      const left = awaitingMigration.size
      const wasMigrating = migrating
      migrating = left > 0
      if (left > 0)
        return Effect.logInfo(
          spec.onChange === "recreate"
            ? `migrating ${left} ${spec.kind}s made by the0, ${settings.rollLimit} at a time`
            : `updating ${left} ${spec.kind}s made by the0 in place`
        )
      return wasMigrating ? Effect.logInfo(`every ${spec.kind} made by the0 has been migrated`) : Effect.void
    })

    const resync = Effect.gen(function* () {
      const started = Date.now()
      const startSeq = notifySeq
      const results = yield* Stream.runCollect(collection.listEnabled)
      const next = new Map<string, Desired<KindMap[K]>>()
      for (const result of Chunk.toReadonlyArray(results)) {
        if (Either.isLeft(result)) {
          yield* reportUndecodable(result.left)
          next.set(result.left.documentId, { _tag: "Unknown", reason: result.left.message })
        } else if (!next.has(result.right.id)) next.set(result.right.id, desiredOf(result.right))
      }
      const observedIds = informer.labelValues(spec.idLabel)
      const absent = observedIds.filter((id) => !next.has(id))
      for (const id of absent) next.set(id, { _tag: "Absent" })
      const blocked = !settings.allowMassDelete && absent.length > massDeleteThreshold(observedIds.length)
      if (blocked) {
        metrics.massDeleteRefusals.inc({ controller: name })
        yield* events.record(
          ControllerEvents.massDeletionRefused(
            ControllerEvents.reference("Lease", namespace, settings.leaderElection.leaseName),
            spec.kind,
            spec.collectionName,
            absent.length,
            observedIds.length
          )
        )
        yield* Effect.logError(
          `refusing to delete ${absent.length} of ${observedIds.length} managed ${spec.kind}s whose documents are gone from ${spec.collectionName}; ` +
            "check the database, or restart with --allow-mass-delete to proceed"
        )
      }
      massDeleteBlocked = blocked
      metrics.massDeleteBlocked.set({ controller: name }, blocked ? 1 : 0)
      known.clear()
      for (const [id, desired] of next) if ((notifiedAt.get(id) ?? -1) <= startSeq) known.set(id, desired)
      for (const id of built.keys()) if (!next.has(id)) built.delete(id)
      for (const id of absence.keys()) if (!next.has(id)) absence.delete(id)
      for (const id of replaced.keys()) if (!next.has(id)) replaced.delete(id)
      // keys gone from the store and the cluster, not notified while we listed, need no notification history
      for (const [id, seq] of notifiedAt)
        if (!next.has(id) && seq <= startSeq) {
          notifiedAt.delete(id)
          writtenVersion.delete(id)
          pendingSince.delete(id)
        }
      firstResyncDone = true
      yield* reportMigration
      let invalid = 0
      let desiredCount = 0
      for (const [id, desired] of next) {
        if (desired._tag === "Invalid") invalid++
        if (desired._tag !== "Absent") desiredCount++
        const actions = planFor(id, desired)
        if (actions.some((a) => a._tag !== "Wait" || a.reason === "roll-limit") || rolling.has(id)) yield* queue.add(id)
      }
      metrics.invalidDocuments.set({ controller: name }, invalid)
      metrics.botsDesired.set({ controller: name }, desiredCount)
      metrics.botsRunning.set(
        { controller: name },
        informer
          .labelValues(spec.idLabel)
          .filter((id) =>
            observed(id).some(
              (o) => o.metadata.deletionTimestamp === undefined && (o.kind !== "Pod" || o.status?.phase === "Running")
            )
          ).length
      )
      metrics.resyncs.inc({ controller: name, outcome: "ok" })
      metrics.resyncSeconds.observe({ controller: name }, (Date.now() - started) / 1000)
    }).pipe(
      Effect.catchTag("BotStoreError", (error) =>
        Effect.sync(() => metrics.resyncs.inc({ controller: name, outcome: "error" })).pipe(
          Effect.andThen(Effect.logWarning(`resync skipped, nothing deleted: ${error.message}`))
        )
      ),
      Effect.annotateLogs({ controller: name })
    )

    const controller: Controller<K> = {
      name,
      informer,
      notify: (id, written) =>
        Effect.clockWith((clock) => {
          notifiedAt.set(id, ++notifySeq)
          if (!pendingSince.has(id)) pendingSince.set(id, clock.unsafeCurrentTimeMillis())
          if (written === undefined) {
            known.delete(id)
            return queue.add(id)
          }
          return desiredWritten(id, written.document).pipe(
            Effect.tap((desired) =>
              Effect.sync(() => {
                if (written.version <= (writtenVersion.get(id) ?? -1)) return
                writtenVersion.set(id, written.version)
                known.set(id, desired)
              })
            ),
            Effect.andThen(queue.add(id))
          )
        }),
      reconcile,
      resync,
      run: Effect.gen(function* () {
        // changes handed over before this replica led were acted on by the leader then
        pendingSince.clear()
        yield* informer.synced
        yield* Effect.annotateLogs(reportMigration, { controller: name })
        yield* queue.run((id) => Effect.as(reconcile(id), Option.none()))
        yield* Effect.forkScoped(Effect.repeat(resync, Schedule.spaced(Duration.decode(settings.resyncInterval))))
      }),
      state: () => ({
        firstResyncDone,
        massDeleteBlocked,
        rolling: [...rolling],
        invalid: [...built.entries()].filter(([, m]) => m.desired._tag === "Invalid").map(([id]) => id)
      }),
      queueDepth: queue.depth
    }
    return controller
  })
