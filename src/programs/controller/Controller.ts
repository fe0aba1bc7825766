/**
 * One controller (Bot → Pods, Schedule → CronJobs): an informer on its objects, a keyed work queue, the per-key
 * reconcile (read desired → read observed → plan → act), and the periodic full resync
 * (docs/architecture.md, "Reconcile"). The informer runs on every replica; workers and resync only while `run` is
 * running (leader). What each key should run is the DesiredCache's; the rails are the RollBudget and the
 * MassDeleteGuard; what is told of each action (Events, metrics, logs) is the ActionReports'; the migration from the0's
 * objects is counted by the MigrationProgress.
 */

import { Duration, Effect, Option, type Scope } from "effect"
import type { Bot } from "../../domain/Bot.ts"
import type { KindMap } from "../../domain/Kube.ts"
import { Label } from "../../domain/Labels.ts"
import { BotStore, type BotStoreError } from "../../services/BotStore.ts"
import { KubeApi, type KubeApiError } from "../../services/KubeApi.ts"
import type { Written } from "../ingest/ApplyEvent.ts"
import { Metrics } from "../Metrics.ts"
import * as ActionReports from "./ActionReports.ts"
import type { ControllerSettings } from "./ControllerSettings.ts"
import * as DesiredCache from "./DesiredCache.ts"
import * as EventRecorder from "./EventRecorder.ts"
import * as Informer from "./Informer.ts"
import * as MassDeleteGuard from "./MassDeleteGuard.ts"
import * as MigrationProgress from "./MigrationProgress.ts"
import type { OwnedKind } from "./OwnedKinds.ts"
import { type Action, type Desired, plan } from "./Plan.ts"
import * as RollBudget from "./RollBudget.ts"
import * as WorkQueue from "./WorkQueue.ts"

export interface ControllerState {
  readonly firstResyncDone: boolean
  readonly massDeleteBlocked: boolean
  readonly rolling: ReadonlyArray<string>
  readonly invalid: ReadonlyArray<string>
  /** Keys whose built object the controller holds to send; none at rest (docs/architecture.md, "Reconcile"). */
  readonly holding: ReadonlyArray<string>
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
  /** Runs the first resync, then the workers and a resync every interval, until the scope closes. */
  readonly run: Effect.Effect<void, never, Scope.Scope>
  readonly state: () => ControllerState
  readonly queueDepth: Effect.Effect<number>
}

export const make = <K extends "Pod" | "CronJob", D extends Bot>(
  spec: OwnedKind<K, D>,
  settings: ControllerSettings
): Effect.Effect<Controller<K>, never, KubeApi | BotStore | Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    type O = KindMap[K]
    const api = yield* KubeApi
    const metrics = yield* Metrics
    const name = spec.controller
    const namespace = settings.manifest.namespace
    const events = yield* EventRecorder.make({
      namespace,
      controller: name,
      reportingInstance: settings.leaderElection.identity
    })
    const reports = ActionReports.make(
      {
        controller: name,
        kind: spec.kind,
        collectionName: spec.collectionName,
        namespace,
        rollLimit: settings.rollLimit
      },
      events,
      metrics
    )
    const cache = DesiredCache.make(spec, settings.manifest, spec.collection(yield* BotStore), reports.undecodable)
    const budget = RollBudget.make(settings.rollLimit)
    const guard = MassDeleteGuard.make(
      {
        controller: name,
        kind: spec.kind,
        collectionName: spec.collectionName,
        namespace,
        leaseName: settings.leaderElection.leaseName,
        allow: settings.allowMassDelete
      },
      events,
      metrics
    )
    /** One resync at a time: a listing is adopted against the notifications counted since it began. */
    const resyncLock = yield* Effect.makeSemaphore(1)

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

    const migration = MigrationProgress.make(
      { kind: spec.kind, onChange: spec.onChange, rollLimit: settings.rollLimit },
      (left) => metrics.objectsAwaitingMigration.set({ controller: name }, left)
    )

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
          migration.track(object, type === "DELETED")
          const id = object.metadata.labels?.[spec.idLabel]
          return id === undefined ? Effect.void : queue.add(id)
        },
        restarted: (reason) => metrics.watchRestarts.inc({ kind: spec.kind, reason })
      }
    )
    const observed = (id: string) => informer.byLabel(spec.idLabel, id)
    /** The object a key runs (not being deleted), if any: what an Event about the key regards. */
    const liveObject = (id: string) => observed(id).find((o) => o.metadata.deletionTimestamp === undefined)
    const isRunning = (o: O) =>
      o.metadata.deletionTimestamp === undefined && (o.kind !== "Pod" || o.status?.phase === "Running")

    let firstResyncDone = false

    const planFor = (id: string, desired: Desired<O>) =>
      plan({
        desired,
        observed: observed(id),
        onChange: spec.onChange,
        fingerprintAnnotation: spec.fingerprintAnnotation,
        orphanDeletesAllowed: firstResyncDone && !guard.blocked(),
        rollAllowed: budget.allowed(id)
      })

    const settleRoll = (id: string, desired: Desired<O>) =>
      Effect.suspend(() =>
        Effect.forEach(
          budget.settle(id, () => RollBudget.rollOver(desired, observed(id), spec.fingerprintAnnotation)),
          queue.add,
          { discard: true }
        )
      )

    const act = (id: string, action: Exclude<Action<O>, { _tag: "Read" }>): Effect.Effect<void, KubeApiError> => {
      switch (action._tag) {
        case "Create":
          return api.create(spec.kind, namespace, action.object).pipe(
            Effect.tap((created) => {
              informer.observeWrite(created as O)
              return reports.created(id, created as O)
            }),
            Effect.asVoid
          )
        case "Update":
          return api.update(spec.kind, namespace, action.object).pipe(
            Effect.tap((updated) => {
              informer.observeWrite(updated as O)
              // the cache skips the watch event of our own write: a CronJob made by the0 is migrated here
              migration.track(informer.get(updated.metadata.name) ?? (updated as O), false)
              return reports.updated(id, updated as O)
            }),
            Effect.asVoid
          )
        case "Delete": {
          const before = informer.get(action.name)
          const phase = before?.kind === "Pod" ? before.status?.phase : undefined
          return api
            .delete(spec.kind, namespace, action.name, { ...spec.deleteOptions, preconditions: { uid: action.uid } })
            .pipe(
              Effect.andThen(reports.deleted(id, action, { absence: cache.absence(id), phase })),
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
            budget.wait(id)
            return reports.rollWaiting(id, liveObject(id))
          })
        case "Report":
          return Effect.suspend(() => reports.invalid(id, action.error, liveObject(id)))
      }
    }

    const reconcile = (id: string) =>
      Effect.gen(function* () {
        const cached = yield* cache.read(id)
        yield* settleRoll(id, cached)
        const first = planFor(id, cached)
        // the cache holds no object to send (docs/architecture.md, "Reconcile"): build it from the stored document
        const desired = first.some((a) => a._tag === "Read") ? yield* cache.reread(id) : cached
        const actions = desired === cached ? first : planFor(id, desired)
        // a change that creates or replaces nothing is not measured
        if (desired._tag !== "Present" || actions.length === 0) reports.unmeasured(id)
        budget.take(id, actions)
        for (const action of actions) if (action._tag !== "Read") yield* act(id, action)
        // the object is held while a create is still to come (after a delete, or a wait)
        if (!actions.some((a) => a._tag === "Delete" || a._tag === "Wait")) cache.settled(id, desired)
      }).pipe(Effect.annotateLogs({ controller: name, key: id }))

    /**
     * Whether a resync queues the key. It plans only to choose (the worker plans again with what it observes then):
     * a key whose plan does something, or waits for a roll slot (so that it is queued again when one frees), or
     * holds a slot (so that its roll is settled). A wait for a deletion to finish, or for the mass-delete guard,
     * is brought back by the informer's event or the next resync.
     */
    const needsWork = (id: string, actions: ReadonlyArray<Action<O>>) =>
      budget.isRolling(id) || actions.some((a) => a._tag !== "Wait" || a.reason === "roll-limit")

    const resync = Effect.gen(function* () {
      const started = Date.now()
      const listing = yield* cache.list(() => informer.labelValues(spec.idLabel))
      yield* guard.check(listing.absent.length, listing.observed)
      cache.adopt(listing)
      const keep = cache.keeps(listing)
      reports.prune(keep)
      budget.prune(keep)
      firstResyncDone = true
      yield* migration.report
      let invalid = 0
      let desiredCount = 0
      for (const [id, { desired }] of listing.entries) {
        if (desired._tag === "Invalid") invalid++
        if (desired._tag !== "Absent") desiredCount++
        const actions = planFor(id, desired)
        if (needsWork(id, actions)) yield* queue.add(id)
        // a key with something to send keeps the object the list built, so its worker need not read it again
        if (actions.length === 0) cache.settled(id, desired)
      }
      const running = informer.labelValues(spec.idLabel).filter((id) => observed(id).some(isRunning)).length
      reports.resynced({ invalid, desired: desiredCount, running }, Date.now() - started)
    }).pipe(
      resyncLock.withPermits(1),
      Effect.catchTag("BotStoreError", (error) => reports.resyncFailed(error.message)),
      Effect.annotateLogs({ controller: name })
    )

    const controller: Controller<K> = {
      name,
      informer,
      notify: (id, written) =>
        Effect.clockWith((clock) => {
          reports.handedOver(id, clock.unsafeCurrentTimeMillis())
          return Effect.andThen(cache.notified(id, written), queue.add(id))
        }),
      reconcile,
      resync,
      run: Effect.gen(function* () {
        reports.leading()
        yield* informer.synced
        yield* Effect.annotateLogs(migration.report, { controller: name })
        // the first resync before the workers: the keys the informer queued find what they want in the cache, from
        // one list of the store instead of a read each (a restart beside thousands of objects)
        yield* resync
        yield* queue.run((id) => Effect.as(reconcile(id), Option.none()))
        yield* Effect.forkScoped(Effect.forever(Effect.delay(resync, Duration.decode(settings.resyncInterval))))
      }),
      state: () => ({
        firstResyncDone,
        massDeleteBlocked: guard.blocked(),
        rolling: budget.rolling(),
        invalid: cache.invalid(),
        holding: cache.holding()
      }),
      queueDepth: queue.depth
    }
    return controller
  })
