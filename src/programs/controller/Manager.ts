/**
 * The controller manager: both controllers with their caches, event ingest and leader election on every
 * replica; while this replica leads, the workers, the periodic resync and the credentials Secret. Losing the
 * lease stops those at once; the caches stay warm for the next term and for the QueryServer. An event applied
 * by a replica that does not lead reaches the leader as a reconcile request. The controllers act only once event
 * ingest has applied the backlog the stream held at start.
 */
import { Effect, FiberHandle, Ref, Schedule, type Scope, Stream } from "effect"
import type { EventTarget } from "../../domain/BotEvent.ts"
import type { Secret } from "../../domain/Kube.ts"
import type { BotStore } from "../../services/BotStore.ts"
import { EventBus } from "../../services/EventBus.ts"
import { KubeApi } from "../../services/KubeApi.ts"
import * as EventIngest from "../ingest/EventIngest.ts"
import * as ReconcileRequests from "../ingest/ReconcileRequests.ts"
import { Metrics } from "../Metrics.ts"
import { minioSecret } from "../manifests/MinioSecret.ts"
import * as Controller from "./Controller.ts"
import type { ControllerSettings } from "./ControllerSettings.ts"
import * as LeaderElection from "./LeaderElection.ts"
import { botPods, scheduleCronJobs } from "./OwnedKinds.ts"

export interface Manager {
  readonly bots: Controller.Controller<"Pod">
  readonly schedules: Controller.Controller<"CronJob">
  readonly leader: LeaderElection.LeaderElection
  /** Caches synced, the event backlog applied and, on the leader, the first resync of both controllers done. */
  readonly ready: Effect.Effect<boolean>
}

/** Creates or updates the credentials Secret the bot Pods read. */
const ensureSecret = (secret: Secret, namespace: string) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const name = secret.metadata.name
    const current = yield* api
      .get("Secret", namespace, name)
      .pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
    if (current === undefined) yield* api.create("Secret", namespace, secret)
    else if (JSON.stringify(current.data) !== JSON.stringify(secret.data))
      yield* api.update("Secret", namespace, { ...current, data: secret.data ?? {} })
  })

export const make = (
  settings: ControllerSettings
): Effect.Effect<Manager, never, KubeApi | BotStore | EventBus | Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const api = yield* KubeApi
    if (api.traffic !== undefined) metrics.observeKubeTraffic(api.traffic)
    const namespace = settings.manifest.namespace
    const bots = yield* Controller.make(botPods, settings)
    const schedules = yield* Controller.make(scheduleCronJobs, settings)
    const leader = yield* LeaderElection.make({ ...settings.leaderElection, namespace })
    const local: EventIngest.Notify = (target, id, written) =>
      target === "bot" ? bots.notify(id, written) : schedules.notify(id, written)
    const bus = yield* EventBus
    yield* bus.connectionState.pipe(
      Effect.tap((state) => Effect.sync(() => metrics.eventBusConnected.set(state === "connected" ? 1 : 0))),
      Effect.repeat(Schedule.spaced("1 second")),
      Effect.forkScoped
    )
    const requestLeader = (target: EventTarget, id: string) =>
      ReconcileRequests.publish(target, id).pipe(Effect.provideService(EventBus, bus), Effect.ignore)
    const notify: EventIngest.Notify = (target, id, written) =>
      Effect.andThen(
        local(target, id, written),
        Effect.flatMap(leader.isLeader.get, (leading) => (leading ? Effect.void : requestLeader(target, id)))
      )
    yield* ReconcileRequests.serve(local)
    const ingest = yield* EventIngest.run(notify, settings.ingestConcurrency)

    // bot Pods cannot start while the Secret they read is missing: until it is written the leader is not ready
    const secretWritten = yield* Ref.make(settings.ownedMinioCredentials === undefined)
    metrics.credentialsSecretWritable.set(1)
    const lead = Effect.gen(function* () {
      if (settings.ownedMinioCredentials !== undefined) {
        const secret = minioSecret(settings.manifest, settings.ownedMinioCredentials)
        yield* ensureSecret(secret, namespace).pipe(
          Effect.tapError((e) =>
            Effect.andThen(
              Effect.sync(() => metrics.credentialsSecretWritable.set(0)),
              Effect.logError(
                `cannot write the MinIO credentials Secret ${namespace}/${secret.metadata.name} that bot Pods read ` +
                  `(the controller needs get, create and update on secrets, or --minio-secret-name naming one): ${e.message}`
              )
            )
          ),
          Effect.retry(Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("1 minute")))),
          Effect.andThen(Ref.set(secretWritten, true)),
          Effect.andThen(Effect.sync(() => metrics.credentialsSecretWritable.set(1))),
          Effect.forkScoped
        )
      }
      // a backlog applied half would look like bots created and not yet deleted: act only once it is applied
      yield* ingest.awaitCaughtUp
      yield* bots.run
      yield* schedules.run
      return yield* Effect.never
    }).pipe(Effect.scoped)

    const term = yield* FiberHandle.make()
    yield* leader.isLeader.changes.pipe(
      Stream.changes,
      Stream.runForEach((leading) => {
        metrics.leader.set(leading ? 1 : 0)
        metrics.leaderTransitions.inc({ to: leading ? "leader" : "follower" })
        return leading ? FiberHandle.run(term, lead).pipe(Effect.asVoid) : FiberHandle.clear(term)
      }),
      Effect.forkScoped
    )

    const ready = Effect.gen(function* () {
      if (!bots.informer.hasSynced() || !schedules.informer.hasSynced() || !(yield* ingest.caughtUp)) return false
      const leading = yield* leader.isLeader.get
      return (
        !leading ||
        (bots.state().firstResyncDone && schedules.state().firstResyncDone && (yield* Ref.get(secretWritten)))
      )
    })
    return { bots, schedules, leader, ready }
  })
