/**
 * What `dev` lets a developer do with bots, as the platform API would: add one from a bundle and a config, list
 * them with their state, change a config, enable, disable, delete, read the logs. Every change is recorded in the
 * registry and published on the bus as the API's NATS event, so the controller's production path (event ingest →
 * BotStore → reconcile → Pod or CronJob) does the rest. The state shown comes from the cluster (Pods, Jobs); a bot
 * whose Pod or CronJob the controller cannot build from its document, or whose Pod has a container that cannot be
 * started, is `failed` with the reason (README.md, "Dev mode").
 */
import { randomBytes } from "node:crypto"
import { Data, Effect, Either } from "effect"
import type { CustomBotVersion, JsonObject } from "../../domain/Bot.ts"
import { cronExpression } from "../../domain/Bot.ts"
import { encodeBotEvent, Subject } from "../../domain/BotEvent.ts"
import { Bucket, logPrefix } from "../../domain/Buckets.ts"
import type { Pod } from "../../domain/Kube.ts"
import { Label, ManagedBy } from "../../domain/Labels.ts"
import { botQueryPort } from "../../domain/Query.ts"
import { EventBus } from "../../services/EventBus.ts"
import { KubeApi } from "../../services/KubeApi.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import { botPods, scheduleCronJobs } from "../controller/OwnedKinds.ts"
import { idProblem } from "../manifests/BotSpec.ts"
import { kubernetesSchedule, nextExecutionTime } from "../manifests/Cron.ts"
import type { ManifestSettings } from "../manifests/ManifestSettings.ts"
import { labelValue } from "../manifests/PodParts.ts"
import { type BundleError, readManifest } from "./Bundle.ts"
import { mappedHostPort } from "./HostPorts.ts"
import type { BotRecord, Registry, RegistryError } from "./Registry.ts"

/**
 * A request the admin API refuses: 400 (bad input), 403 (not the owner), 404 (unknown bot), 413 (body too large),
 * 500, with a message naming the problem.
 */
export class AdminError extends Data.TaggedError("AdminError")<{
  readonly status: 400 | 403 | 404 | 413 | 500
  readonly message: string
}> {}

export interface AddRequest {
  readonly bundle: Uint8Array
  /** Where the bundle came from, for messages. */
  readonly label: string
  readonly config: JsonObject
  /** A fixed id (the demo bots); otherwise one is made from the name. */
  readonly id?: string
}

export interface LastRun {
  readonly pod: string
  readonly state: "running" | "succeeded" | "failed" | "pending"
  readonly startedAt?: string
  readonly finishedAt?: string
  readonly exitCode?: number
}

export interface BotView {
  readonly id: string
  readonly name: string
  readonly kind: "realtime" | "scheduled"
  readonly enabled: boolean
  /** running, starting, restarting, failed, exited, stopping, stopped (disabled), pending, scheduled. */
  readonly state: string
  /** Why it is `failed`. */
  readonly reason?: string
  readonly restarts: number
  readonly hasQuery: boolean
  readonly pod?: string
  readonly queryAddress?: string
  readonly schedule?: string
  readonly nextRun?: string
  readonly lastRun?: LastRun
  readonly config: JsonObject
  readonly addedAt: string
}

export interface AdminContext {
  readonly registry: Registry
  readonly namespace: string
  /** The controller's manifest settings: a bot whose objects cannot be built with them is shown failed. */
  readonly manifest: ManifestSettings
}

const notFound = (id: string) =>
  new AdminError({ status: 404, message: `unknown bot id ${JSON.stringify(id)} (see \`the0-runtime dev list\`)` })

const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40) || "bot"

/** Publishes the API's event for a record (created/updated) or its deletion. */
const publish = (record: BotRecord, kind: "created" | "updated" | "deleted") =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const subject =
      record.kind === "realtime"
        ? { created: Subject.botCreated, updated: Subject.botUpdated, deleted: Subject.botDeleted }[kind]
        : { created: Subject.scheduleCreated, updated: Subject.scheduleUpdated, deleted: Subject.scheduleDeleted }[kind]
    const event =
      kind === "deleted" ? { id: record.id } : { id: record.id, config: record.config, custom: record.custom }
    yield* bus.publish(subject, encodeBotEvent(event))
  }).pipe(
    Effect.mapError((error) => new AdminError({ status: 500, message: `cannot publish the event: ${error.message}` }))
  )

const fromRegistry = (error: RegistryError) => new AdminError({ status: 500, message: error.message })
const fromBundle = (error: BundleError) => new AdminError({ status: 400, message: error.message })

/** Checks a config against the bot's kind: a scheduled bot needs a valid `schedule`. */
const checkConfig = (kind: "realtime" | "scheduled", config: JsonObject, label: string) => {
  if (kind !== "scheduled") return Effect.void
  const cron = cronExpression({ config })
  if (cron === undefined)
    return Effect.fail(
      new AdminError({
        status: 400,
        message: `${label} is a scheduled bot: its config needs a "schedule" (a cron expression, e.g. "*/5 * * * *")`
      })
    )
  const checked = kubernetesSchedule(cron)
  return checked._tag === "Left"
    ? Effect.fail(
        new AdminError({ status: 400, message: `config.schedule ${JSON.stringify(cron)}: ${checked.left.message}` })
      )
    : Effect.void
}

export const add = (ctx: AdminContext, request: AddRequest) =>
  Effect.gen(function* () {
    const manifest = yield* Effect.mapError(readManifest(request.bundle, request.label), fromBundle)
    yield* checkConfig(manifest.type, request.config, `${manifest.name} (${request.label})`)
    const id = request.id ?? `${slug(manifest.name)}-${randomBytes(3).toString("hex")}`
    const problem = idProblem(id)
    if (problem !== undefined)
      return yield* new AdminError({ status: 400, message: `bot id ${JSON.stringify(id)}: ${problem}` })
    const existing = yield* ctx.registry.get(id)
    if (existing !== undefined)
      return yield* new AdminError({ status: 400, message: `a bot with id ${JSON.stringify(id)} already exists` })
    const store = yield* ObjectStore
    const filePath = `dev/${slug(manifest.name)}/${manifest.version.replace(/[^A-Za-z0-9._-]/g, "_")}/${id}.zip`
    yield* Effect.mapError(
      Effect.zipRight(store.ensureBucket(Bucket.code), store.put(Bucket.code, filePath, request.bundle)),
      (error) => new AdminError({ status: 500, message: `cannot store the bundle: ${error.message}` })
    )
    const custom: CustomBotVersion = {
      version: manifest.version,
      filePath,
      createdAt: new Date().toISOString(),
      config: manifest.config
    }
    const record: BotRecord = {
      id,
      kind: manifest.type,
      config: request.config,
      custom,
      addedAt: new Date().toISOString()
    }
    // a bot that cannot be recorded or announced leaves neither its bundle nor its record behind
    yield* Effect.zipRight(Effect.mapError(ctx.registry.put(record), fromRegistry), publish(record, "created")).pipe(
      Effect.onError(() =>
        Effect.zipRight(Effect.ignore(ctx.registry.remove(id)), Effect.ignore(store.remove(Bucket.code, filePath)))
      )
    )
    return record
  })

const requireRecord = (ctx: AdminContext, id: string) =>
  Effect.flatMap(ctx.registry.get(id), (record) =>
    record === undefined ? Effect.fail(notFound(id)) : Effect.succeed(record)
  )

/** Replaces the user config (keeping `enabled` unless the new config says otherwise). */
export const setConfig = (ctx: AdminContext, id: string, config: JsonObject) =>
  Effect.gen(function* () {
    const record = yield* requireRecord(ctx, id)
    const enabled = record.config.enabled
    const next: BotRecord = {
      ...record,
      config: enabled === false && !Object.hasOwn(config, "enabled") ? { ...config, enabled } : config
    }
    yield* checkConfig(record.kind, next.config, id)
    yield* Effect.mapError(ctx.registry.put(next), fromRegistry)
    yield* publish(next, "updated")
    return next
  })

export const setEnabled = (ctx: AdminContext, id: string, enabled: boolean) =>
  Effect.gen(function* () {
    const record = yield* requireRecord(ctx, id)
    const { enabled: _previous, ...rest } = record.config
    const next: BotRecord = { ...record, config: enabled ? rest : { ...rest, enabled: false } }
    yield* Effect.mapError(ctx.registry.put(next), fromRegistry)
    yield* publish(next, "updated")
    return next
  })

export const remove = (ctx: AdminContext, id: string) =>
  Effect.gen(function* () {
    const record = yield* requireRecord(ctx, id)
    yield* Effect.mapError(ctx.registry.remove(id), fromRegistry)
    yield* publish(record, "deleted")
  })

/** Publishes every record again (after a restart of `dev`, whose store and bus are in memory). */
export const replay = (ctx: AdminContext) =>
  Effect.flatMap(ctx.registry.all, (records) =>
    Effect.forEach(records, (record) => publish(record, "created"), { discard: true })
  )

const mainStatuses = (pod: Pod) => pod.status?.containerStatuses ?? []

/** Why a container of the Pod cannot run (it cannot be started, or its env cannot be resolved), if one cannot. */
const containerFailure = (pod: Pod): string | undefined => {
  for (const status of [...(pod.status?.initContainerStatuses ?? []), ...mainStatuses(pod)]) {
    const waiting = status.state?.waiting
    if (waiting?.reason === "RunContainerError" || waiting?.reason === "CreateContainerConfigError")
      return `container ${status.name}: ${waiting.reason}: ${waiting.message ?? "no message"}`
  }
  return undefined
}

const podState = (pod: Pod): { readonly state: string; readonly reason?: string } => {
  if (pod.metadata.deletionTimestamp !== undefined) return { state: "stopping" }
  const failure = containerFailure(pod)
  if (failure !== undefined) return { state: "failed", reason: failure }
  const phase = pod.status?.phase ?? "Pending"
  if (phase === "Failed") {
    const ended = mainStatuses(pod).find((s) => (s.state?.terminated?.exitCode ?? 0) !== 0)
    return {
      state: "failed",
      reason:
        ended === undefined
          ? "the Pod failed"
          : `container ${ended.name} exited with code ${ended.state?.terminated?.exitCode}`
    }
  }
  if (phase === "Succeeded") return { state: "exited" }
  if (phase === "Pending") return { state: "starting" }
  const statuses = mainStatuses(pod)
  if (statuses.some((s) => s.state?.waiting?.reason === "CrashLoopBackOff")) return { state: "restarting" }
  return { state: statuses.length > 0 && statuses.every((s) => s.ready) ? "running" : "starting" }
}

/** Why the controller cannot build the bot's Pod or CronJob from its document, if it cannot (it only logs it). */
const buildFailure = (ctx: AdminContext, record: BotRecord): string | undefined => {
  const document = { id: record.id, config: record.config, custom: record.custom }
  const built =
    record.kind === "realtime"
      ? Either.map(botPods.build(ctx.manifest, document), () => undefined)
      : Either.map(scheduleCronJobs.build(ctx.manifest, document), () => undefined)
  return Either.isLeft(built)
    ? `the controller cannot build its ${record.kind === "realtime" ? "Pod" : "CronJob"}: ${built.left.field}: ${built.left.message}`
    : undefined
}

const lastRunOf = (pod: Pod): LastRun => {
  const status = mainStatuses(pod)[0]
  const terminated = status?.state?.terminated
  const phase = pod.status?.phase
  return {
    pod: pod.metadata.name,
    state:
      phase === "Succeeded" ? "succeeded" : phase === "Failed" ? "failed" : phase === "Running" ? "running" : "pending",
    ...(pod.status?.startTime === undefined ? {} : { startedAt: pod.status.startTime }),
    ...(terminated?.finishedAt === undefined ? {} : { finishedAt: terminated.finishedAt }),
    ...(terminated === undefined ? {} : { exitCode: terminated.exitCode })
  }
}

export const view = (ctx: AdminContext, record: BotRecord) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const enabled = record.config.enabled !== false
    const name = record.custom.config?.name ?? record.id
    const hasQuery = (record.custom.config?.entrypoints?.query ?? "") !== ""
    const base = {
      id: record.id,
      name,
      kind: record.kind,
      enabled,
      hasQuery,
      config: record.config,
      addedAt: record.addedAt
    }
    const unbuildable = enabled ? buildFailure(ctx, record) : undefined
    if (record.kind === "realtime") {
      const pods = yield* api
        .list("Pod", ctx.namespace, {
          labelSelector: `${Label.botId}=${labelValue(record.id)},${Label.managedBy}=${ManagedBy.botController}`
        })
        .pipe(
          Effect.map((list) => list.items),
          Effect.orElseSucceed((): ReadonlyArray<Pod> => [])
        )
      const pod = pods.find((p) => p.metadata.deletionTimestamp === undefined) ?? pods[0]
      const failed = unbuildable === undefined ? {} : { state: "failed", reason: unbuildable }
      if (pod === undefined)
        return { ...base, state: enabled ? "pending" : "stopped", restarts: 0, ...failed } satisfies BotView
      const port = mappedHostPort(pod, botQueryPort)
      return {
        ...base,
        ...(enabled || pod.metadata.deletionTimestamp !== undefined ? podState(pod) : { state: "stopped" }),
        ...failed,
        restarts: mainStatuses(pod).reduce((total, s) => total + s.restartCount, 0),
        pod: pod.metadata.name,
        ...(hasQuery && port !== undefined && pod.status?.podIP !== undefined
          ? { queryAddress: `${pod.status.podIP}:${port}` }
          : {})
      } satisfies BotView
    }
    const cron = cronExpression(record)
    const computed = cron === undefined ? undefined : nextExecutionTime(cron, new Date())
    const next = computed !== undefined && computed._tag === "Right" ? computed.right : undefined
    const pods = yield* api
      .list("Pod", ctx.namespace, { labelSelector: `${Label.scheduleId}=${labelValue(record.id)}` })
      .pipe(
        Effect.map((list) => list.items),
        Effect.orElseSucceed((): ReadonlyArray<Pod> => [])
      )
    const latest = [...pods].sort((a, b) =>
      (a.metadata.creationTimestamp ?? "") < (b.metadata.creationTimestamp ?? "") ? 1 : -1
    )[0]
    const running = pods.some((p) => p.status?.phase === "Running" || p.status?.phase === "Pending")
    const failure = unbuildable ?? (latest === undefined ? undefined : containerFailure(latest))
    return {
      ...base,
      state: !enabled ? "stopped" : failure !== undefined ? "failed" : running ? "running" : "scheduled",
      ...(enabled && failure !== undefined ? { reason: failure } : {}),
      restarts: 0,
      ...(cron === undefined ? {} : { schedule: cron }),
      ...(enabled && next !== undefined ? { nextRun: new Date(next * 1000).toISOString() } : {}),
      ...(latest === undefined ? {} : { lastRun: lastRunOf(latest) })
    } satisfies BotView
  })

export const list = (ctx: AdminContext) =>
  Effect.flatMap(ctx.registry.all, (records) => Effect.forEach(records, (record) => view(ctx, record)))

export const show = (ctx: AdminContext, id: string) =>
  Effect.flatMap(requireRecord(ctx, id), (record) => view(ctx, record))

export interface LogPage {
  /** Lines after `after` (or the last `tail`), NDJSON records as stored. */
  readonly lines: ReadonlyArray<string>
  /** How many lines the log has in all: pass it as `after` to get only newer ones. */
  readonly total: number
}

/** The bot's daily logs from the object store (what the sync uploaded), oldest first. */
export const logs = (ctx: AdminContext, id: string, options: { readonly tail?: number; readonly after?: number }) =>
  Effect.gen(function* () {
    yield* requireRecord(ctx, id)
    const store = yield* ObjectStore
    const exists = yield* store.bucketExists(Bucket.logs).pipe(Effect.orElseSucceed(() => false))
    if (!exists) return { lines: [], total: 0 } satisfies LogPage
    const infos = yield* store.list(Bucket.logs, logPrefix(id)).pipe(Effect.orElseSucceed(() => []))
    const all: Array<string> = []
    for (const info of infos) {
      if (info.key.slice(logPrefix(id).length).startsWith(".")) continue
      const body = yield* store.get(Bucket.logs, info.key).pipe(Effect.orElseSucceed(() => new Uint8Array()))
      for (const line of new TextDecoder().decode(body).split("\n")) if (line.trim() !== "") all.push(line)
    }
    const lines =
      options.after !== undefined
        ? all.slice(options.after)
        : all.slice(Math.max(0, all.length - (options.tail ?? 100)))
    return { lines, total: all.length } satisfies LogPage
  })
