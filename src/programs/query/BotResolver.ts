/**
 * Which bot a query is for and how to reach it (docs/contracts.md, "The :9477 API", "Realtime queries"): the document by id from the
 * BotStore (realtime bots first, then schedules; no full scan), and, for a realtime bot, a Running bot Pod whose
 * query container is ready, from the bot controller's Pod cache (no API call).
 */
import { Data, Effect, Option } from "effect"
import { type Bot, type BotSchedule, isEnabled } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { Pod } from "../../domain/Kube.ts"
import { Label, ManagedBy } from "../../domain/Labels.ts"
import { botQueryPort } from "../../domain/Query.ts"
import type { BotStoreError, BotStoreService } from "../../services/BotStore.ts"
import type { Informer } from "../controller/Informer.ts"
import { ContainerName, labelValue, queryPortName } from "../manifests/PodParts.ts"

/** 404: no enabled bot or schedule with that id, or it has no query entrypoint; the message is the0's. */
export class BotNotFound extends Data.TaggedError("BotNotFound")<{ readonly message: string }> {}

/**
 * The store could not say whether the bot exists (the0 swallowed this and answered 404): 503 when the store is
 * unavailable, 500 when the document is there but does not decode.
 */
export class BotLookupFailed extends Data.TaggedError("BotLookupFailed")<{
  readonly status: 500 | 503
  readonly message: string
}> {}

export type QueryTarget =
  | { readonly mode: "realtime"; readonly doc: Bot }
  | { readonly mode: "scheduled"; readonly doc: BotSchedule }

const checkEntrypoints = (doc: Bot): Effect.Effect<void, BotNotFound> => {
  const entrypoints = doc.custom?.config?.entrypoints
  if (entrypoints === undefined)
    return Effect.fail(new BotNotFound({ message: `bot ${doc.id} does not have entrypoints configured` }))
  if (!Object.hasOwn(entrypoints, "query"))
    return Effect.fail(new BotNotFound({ message: `bot ${doc.id} does not have a query entrypoint` }))
  return Effect.void
}

type Lookup<A> = Effect.Effect<Option.Option<A>, BotStoreError | DocumentDecodeError>

/** The enabled document with this id; a failed read is kept apart from "absent". */
const enabled = <A extends Bot>(lookup: Lookup<A>) =>
  lookup.pipe(
    Effect.map((found) => Option.filter(found, isEnabled)),
    Effect.either
  )

/** Resolves a bot id to its document: realtime first, then schedules, with the0's 404 messages. */
export const resolve = (
  store: BotStoreService,
  botId: string
): Effect.Effect<QueryTarget, BotNotFound | BotLookupFailed> =>
  Effect.gen(function* () {
    const bot = yield* enabled(store.bots.get(botId))
    if (bot._tag === "Right" && Option.isSome(bot.right)) {
      yield* checkEntrypoints(bot.right.value)
      return { mode: "realtime", doc: bot.right.value } as const
    }
    const schedule = yield* enabled(store.schedules.get(botId))
    if (schedule._tag === "Right" && Option.isSome(schedule.right)) {
      yield* checkEntrypoints(schedule.right.value)
      return { mode: "scheduled", doc: schedule.right.value } as const
    }
    const failure = bot._tag === "Left" ? bot.left : schedule._tag === "Left" ? schedule.left : undefined
    if (failure !== undefined)
      return yield* new BotLookupFailed({
        status: failure._tag === "BotStoreError" ? 503 : 500,
        message: `cannot look up bot ${botId}: ${failure.message}`
      })
    return yield* new BotNotFound({ message: `bot not found: ${botId}` })
  })

export interface RealtimeEndpoint {
  readonly podName: string
  readonly ip: string
  readonly port: number
}

/**
 * The port on the Pod's IP where a container port is reached. On a cluster that is the port itself; `dev` runs
 * every Pod on one machine and maps each Pod's ports to ports of their own, so it gives its own.
 */
export type PortOf = (pod: Pod, containerPort: number) => number

export const declaredPort: PortOf = (_pod, containerPort) => containerPort

const queryPort = (pod: Pod): number => {
  const container = pod.spec.containers.find((c) => c.name === ContainerName.queryServer)
  const ports = container?.ports ?? []
  return (ports.find((p) => p.name === queryPortName) ?? ports[0])?.containerPort ?? botQueryPort
}

/**
 * Where a realtime bot answers queries: a bot-controller Pod of this bot (never a query-Job Pod) that is Running,
 * not terminating, has an IP, and whose query container is ready. `None` sends the query to an ephemeral Job.
 */
export const realtimeEndpoint = (
  pods: Informer<"Pod">,
  botId: string,
  portOf: PortOf = declaredPort
): Option.Option<RealtimeEndpoint> => {
  for (const pod of pods.byLabel(Label.botId, labelValue(botId))) {
    const labels = pod.metadata.labels ?? {}
    if (labels[Label.managedBy] !== ManagedBy.botController || labels[Label.query] !== undefined) continue
    if (pod.metadata.deletionTimestamp !== undefined) continue
    const ip = pod.status?.podIP
    if (pod.status?.phase !== "Running" || ip === undefined || ip === "") continue
    const ready = pod.status.containerStatuses?.find((s) => s.name === ContainerName.queryServer)?.ready === true
    if (!ready) continue
    return Option.some({ podName: pod.metadata.name, ip, port: portOf(pod, queryPort(pod)) })
  }
  return Option.none()
}
