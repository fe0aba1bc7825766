/**
 * What `the0-runtime status` reads (docs/operations.md, "`the0-runtime status`"): the enabled documents from the
 * store, the controllers' Pods and CronJobs and the leader-election Lease from the API server, and, when an event
 * bus is given, ingest's durable consumer and its stream, each once; for one bot, its document, its Pods and the
 * last line its `bot` container logged.
 */
import { Chunk, Clock, Effect, Either, type Layer, Option, Stream } from "effect"
import { eventsStream } from "../../domain/BotEvent.ts"
import type { Lease } from "../../domain/Kube.ts"
import { Label, ManagedBy } from "../../domain/Labels.ts"
import { BotStore } from "../../services/BotStore.ts"
import { EventBus } from "../../services/EventBus.ts"
import { KubeApi } from "../../services/KubeApi.ts"
import { durableName } from "../ingest/EventIngest.ts"
import { ContainerName } from "../manifests/PodParts.ts"
import { type BotStory, botStory } from "./BotStory.ts"
import { report, type StatusReport } from "./StatusReport.ts"

export interface StatusTarget {
  readonly namespace: string
  readonly leaseName: string
  /** The event bus ingest consumes, when given: connected only to read ingest's position, for at most `busTimeout`. */
  readonly events?: Layer.Layer<EventBus, unknown>
}

const busTimeout = "5 seconds"

const lease = (target: StatusTarget) =>
  Effect.flatMap(KubeApi, (api) =>
    api.get("Lease", target.namespace, target.leaseName).pipe(
      Effect.map((found): Lease | undefined => found),
      Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined))
    )
  )

/** Where ingest stands, or why NATS could not say: its trouble does not hide the rest of the screen. */
const ingest = (events: Layer.Layer<EventBus, unknown>) =>
  Effect.flatMap(EventBus, (bus) =>
    Effect.all(
      { stream: bus.streamInfo(eventsStream), consumer: bus.consumerState(eventsStream, durableName) },
      { concurrency: "unbounded" }
    )
  ).pipe(
    Effect.provide(events),
    Effect.timeoutFail({ duration: busTimeout, onTimeout: () => `no answer within ${busTimeout}` }),
    Effect.catchAll((error) => Effect.succeed({ unavailable: error instanceof Error ? error.message : String(error) }))
  )

export const gather = (target: StatusTarget): Effect.Effect<StatusReport, unknown, KubeApi | BotStore> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const store = yield* BotStore
    const [bots, schedules, pods, cronJobs, leader, position] = yield* Effect.all(
      [
        Stream.runCollect(store.bots.listEnabled),
        Stream.runCollect(store.schedules.listEnabled),
        api.list("Pod", target.namespace, { labelSelector: `${Label.managedBy}=${ManagedBy.botController}` }),
        api.list("CronJob", target.namespace, { labelSelector: `${Label.managedBy}=${ManagedBy.scheduleController}` }),
        lease(target),
        target.events === undefined ? Effect.succeed(undefined) : ingest(target.events)
      ],
      { concurrency: "unbounded" }
    )
    return report({
      now: yield* Clock.currentTimeMillis,
      namespace: target.namespace,
      bots: Chunk.toReadonlyArray(bots),
      schedules: Chunk.toReadonlyArray(schedules),
      pods: pods.items,
      cronJobs: cronJobs.items,
      lease: leader,
      ...(position === undefined ? {} : { ingest: position })
    })
  })

/** A string a label selector can carry as a value. */
const labelValue = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)$/

export const gatherBot = (target: StatusTarget, id: string): Effect.Effect<BotStory, unknown, KubeApi | BotStore> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const store = yield* BotStore
    const document = yield* store.bots.get(id).pipe(
      Effect.map(Option.match({ onNone: () => undefined, onSome: Either.right })),
      Effect.catchTag("DocumentDecodeError", (error) => Effect.succeed(Either.left(error)))
    )
    const pods = labelValue.test(id)
      ? (yield* api.list("Pod", target.namespace, {
          labelSelector: `${Label.managedBy}=${ManagedBy.botController},${Label.botId}=${id}`
        })).items
      : []
    const story = botStory({ id, document, pods })
    const pod = story.status.pod
    const lastLogLine =
      pod === undefined
        ? undefined
        : yield* api
            .podLogs(target.namespace, pod.name, { container: ContainerName.bot, tailLines: 1, limitBytes: 4096 })
            .pipe(
              Effect.map((text) => text.trimEnd().split("\n").at(-1)),
              Effect.orElseSucceed(() => undefined)
            )
    return lastLogLine === undefined || lastLogLine === "" ? story : { ...story, lastLogLine }
  })
