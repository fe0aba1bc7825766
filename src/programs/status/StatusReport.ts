/**
 * What `the0-runtime status` reports (docs/operations.md, "`the0-runtime status`"), as a pure function of what it
 * read: the enabled documents, the controllers' Pods and CronJobs and the leader-election Lease. Which bots run,
 * which start, which fail and why (the Pod's phase, its containers' waiting and terminated reasons, restarts),
 * each schedule's last and next run, the leader, event ingest's position in the NATS stream, and the roll-out the
 * Pods show.
 */
import { Either, Option } from "effect"
import type { Bot, BotSchedule } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { ContainerStatus, CronJob, Lease, Pod } from "../../domain/Kube.ts"
import { Annotation, Label } from "../../domain/Labels.ts"
import type { ConsumerState, StreamInfo } from "../../services/EventBus.ts"
import { documentHash } from "../controller/OwnedKinds.ts"
import { madeByThe0 } from "../controller/Plan.ts"
import { nextExecutionTime } from "../manifests/Cron.ts"

export interface StatusInput {
  /** Epoch millis of the reading. */
  readonly now: number
  readonly namespace: string
  readonly bots: ReadonlyArray<Either.Either<Bot, DocumentDecodeError>>
  readonly schedules: ReadonlyArray<Either.Either<BotSchedule, DocumentDecodeError>>
  /** The bot controller's Pods. */
  readonly pods: ReadonlyArray<Pod>
  /** The schedule controller's CronJobs. */
  readonly cronJobs: ReadonlyArray<CronJob>
  readonly lease: Lease | undefined
  /** Ingest's durable consumer and its stream, or why they could not be read; absent when NATS was not given. */
  readonly ingest?:
    | { readonly stream: Option.Option<StreamInfo>; readonly consumer: Option.Option<ConsumerState> }
    | { readonly unavailable: string }
}

export interface ContainerView {
  readonly name: string
  readonly init: boolean
  readonly state: "running" | "waiting" | "terminated" | "unknown"
  readonly reason?: string
  readonly message?: string
  readonly exitCode?: number
  readonly ready: boolean
  readonly restarts: number
  /** How the container ended last time, when it has restarted. */
  readonly lastTermination?: { readonly reason?: string; readonly exitCode?: number; readonly finishedAt?: string }
}

export interface PodView {
  readonly name: string
  readonly phase?: string
  readonly reason?: string
  readonly message?: string
  readonly node?: string
  readonly createdAt?: string
  readonly terminating: boolean
  readonly containers: ReadonlyArray<ContainerView>
  /** The Pod was made by the0's own controller and is replaced by this one, a few at a time. */
  readonly madeByThe0: boolean
}

/**
 * - running: the Pod is Running and every container runs;
 * - starting: scheduled and on its way (Pending, containers being created or initialised);
 * - failing: it will not run as it is (see `podProblems`);
 * - no-pod: an enabled document without a Pod;
 * - terminating: only a Pod being deleted;
 * - invalid: the document does not decode, so the controller skips it;
 * - orphaned: a Pod whose bot has no enabled document (the controller deletes it).
 */
export type BotState = "running" | "starting" | "failing" | "no-pod" | "terminating" | "invalid" | "orphaned"

export interface BotStatus {
  readonly id: string
  readonly state: BotState
  readonly reasons: ReadonlyArray<string>
  readonly restarts: number
  /** The Pod that counts: one not being deleted, the newest. */
  readonly pod?: PodView
  /** Every Pod of the bot (more than one during a replacement). */
  readonly pods: number
  /** The Pod runs an older version of the document: the controller replaces it. */
  readonly outdated: boolean
}

/**
 * - scheduled: the CronJob exists and its last run, if any, succeeded or still runs;
 * - failing: the last run did not succeed;
 * - suspended: the CronJob is suspended;
 * - no-cronjob: an enabled document without a CronJob;
 * - invalid: the document does not decode;
 * - orphaned: a CronJob whose schedule has no enabled document.
 */
export type ScheduleState = "scheduled" | "failing" | "suspended" | "no-cronjob" | "invalid" | "orphaned"

export interface ScheduleStatus {
  readonly id: string
  readonly state: ScheduleState
  readonly reasons: ReadonlyArray<string>
  readonly cronJob?: string
  readonly schedule?: string
  readonly timeZone?: string
  readonly lastRun?: string
  readonly lastSuccess?: string
  readonly nextRun?: string
  readonly active: number
}

export interface LeaderStatus {
  readonly lease: string
  readonly holder?: string
  readonly renewTime?: string
  readonly leaseDurationSeconds?: number
  readonly transitions?: number
  /** A holder renewed the Lease within its duration. */
  readonly held: boolean
}

/**
 * - not-configured: no NATS URL was given;
 * - unavailable: NATS could not be asked (`reason`);
 * - no-stream: the stream the0's API publishes into does not exist;
 * - no-consumer: no replica has consumed it yet;
 * - reading: the consumer's position, `behind` the events of the stream not acked yet.
 */
export type IngestStatus =
  | { readonly state: "not-configured" | "no-stream" | "no-consumer" }
  | { readonly state: "unavailable"; readonly reason: string }
  | {
      readonly state: "reading"
      readonly lastSequence: number
      readonly ackFloor: number
      /** Events published and not yet applied (acked). */
      readonly behind: number
      /** Of those, events not delivered to any replica yet. */
      readonly undelivered: number
    }

export interface StatusReport {
  readonly at: string
  readonly namespace: string
  /** Absent: no Lease, no replica has ever led. */
  readonly leader?: LeaderStatus
  readonly ingest: IngestStatus
  readonly bots: {
    readonly desired: number
    readonly counts: Readonly<Record<BotState, number>>
    readonly items: ReadonlyArray<BotStatus>
  }
  readonly schedules: {
    readonly desired: number
    readonly counts: Readonly<Record<ScheduleState, number>>
    readonly items: ReadonlyArray<ScheduleStatus>
  }
  readonly rollout: {
    /** Bots whose Pod runs an older document. */
    readonly outdated: ReadonlyArray<string>
    /** Bots whose Pod was made by the0's controller. */
    readonly awaitingMigration: ReadonlyArray<string>
    readonly terminatingPods: number
  }
}

/** Container waiting reasons of a container on its way; any other waiting reason is a failure. */
const startingReasons: ReadonlySet<string> = new Set(["ContainerCreating", "PodInitializing"])

/** Fields the API server returns that the domain types leave out. */
type ServerContainerStatus = ContainerStatus & {
  readonly lastState?: { readonly terminated?: { exitCode?: number; reason?: string; finishedAt?: string } }
  readonly state?: ContainerStatus["state"] & { readonly terminated?: { readonly message?: string } }
}
type ServerCondition = { readonly type: string; readonly status: string; readonly reason?: string; message?: string }

const containerView = (status: ServerContainerStatus, init: boolean): ContainerView => {
  const state = status.state
  const last = status.lastState?.terminated
  const base = {
    name: status.name,
    init,
    ready: status.ready,
    restarts: status.restartCount,
    ...(last === undefined
      ? {}
      : {
          lastTermination: {
            ...(last.reason === undefined ? {} : { reason: last.reason }),
            ...(last.exitCode === undefined ? {} : { exitCode: last.exitCode }),
            ...(last.finishedAt === undefined ? {} : { finishedAt: last.finishedAt })
          }
        })
  }
  if (state?.waiting !== undefined)
    return {
      ...base,
      state: "waiting",
      ...(state.waiting.reason === undefined ? {} : { reason: state.waiting.reason }),
      ...(state.waiting.message === undefined ? {} : { message: state.waiting.message })
    }
  if (state?.terminated !== undefined)
    return {
      ...base,
      state: "terminated",
      exitCode: state.terminated.exitCode,
      ...(state.terminated.reason === undefined ? {} : { reason: state.terminated.reason }),
      ...(state.terminated.message === undefined ? {} : { message: state.terminated.message })
    }
  return { ...base, state: state?.running !== undefined ? "running" : "unknown" }
}

const podView = (pod: Pod): PodView => {
  const status = pod.status
  return {
    name: pod.metadata.name,
    ...(status?.phase === undefined ? {} : { phase: status.phase }),
    ...(status?.reason === undefined ? {} : { reason: status.reason }),
    ...(status?.message === undefined ? {} : { message: status.message }),
    ...(pod.spec.nodeName === undefined ? {} : { node: pod.spec.nodeName }),
    ...(pod.metadata.creationTimestamp === undefined ? {} : { createdAt: pod.metadata.creationTimestamp }),
    terminating: pod.metadata.deletionTimestamp !== undefined,
    containers: [
      ...(status?.initContainerStatuses ?? []).map((c) => containerView(c, true)),
      ...(status?.containerStatuses ?? []).map((c) => containerView(c, false))
    ],
    madeByThe0: madeByThe0(pod)
  }
}

const describeContainer = (c: ContainerView): string =>
  [
    `${c.name}: ${c.reason ?? c.state}`,
    ...(c.exitCode === undefined ? [] : [` (exit ${c.exitCode})`]),
    ...(c.message === undefined ? [] : [`: ${c.message}`])
  ].join("")

/**
 * Why a Pod will not run as it is: a terminal phase (the controller recreates it), the scheduler's refusal, a
 * container waiting for any reason but being created or initialised (CrashLoopBackOff, ImagePullBackOff,
 * CreateContainerConfigError…), an init container that exited non-zero, or a main container that has exited.
 */
const podProblems = (pod: Pod): ReadonlyArray<string> => {
  const view = podView(pod)
  const problems: Array<string> = []
  if (view.phase === "Failed" || view.phase === "Succeeded")
    problems.push(`Pod ${view.phase}${view.reason === undefined ? "" : `: ${view.reason}`}`)
  for (const condition of (pod.status?.conditions ?? []) as ReadonlyArray<ServerCondition>)
    if (condition.type === "PodScheduled" && condition.status === "False")
      problems.push(
        `not scheduled: ${condition.reason ?? "Unschedulable"}${condition.message === undefined ? "" : `: ${condition.message}`}`
      )
  for (const c of view.containers) {
    const failed =
      (c.state === "waiting" && !startingReasons.has(c.reason ?? "")) ||
      (c.state === "terminated" && (!c.init || c.exitCode !== 0))
    if (failed) problems.push(describeContainer(c))
  }
  return problems
}

const restartsOf = (view: PodView) => view.containers.reduce((n, c) => n + c.restarts, 0)

const podState = (pod: Pod): { readonly state: BotState; readonly reasons: ReadonlyArray<string> } => {
  if (pod.metadata.deletionTimestamp !== undefined) return { state: "terminating", reasons: ["Pod being deleted"] }
  const problems = podProblems(pod)
  if (problems.length > 0) return { state: "failing", reasons: problems }
  const main = (pod.status?.containerStatuses ?? []).filter((c) => c.state?.running !== undefined)
  const running =
    pod.status?.phase === "Running" && main.length > 0 && main.length === (pod.status?.containerStatuses ?? []).length
  if (running) return { state: "running", reasons: [] }
  const waiting = podView(pod)
    .containers.filter((c) => c.state === "waiting" && c.reason !== undefined)
    .map(describeContainer)
  return { state: "starting", reasons: [`Pod ${pod.status?.phase ?? "Pending"}`, ...waiting] }
}

/** The Pod that speaks for a bot: one not being deleted before one that is, the newest first. */
const current = (pods: ReadonlyArray<Pod>): Pod | undefined =>
  [...pods].sort(
    (a, b) =>
      Number(a.metadata.deletionTimestamp !== undefined) - Number(b.metadata.deletionTimestamp !== undefined) ||
      (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? "")
  )[0]

const byLabel = <O extends Pod | CronJob>(objects: ReadonlyArray<O>, label: string) => {
  const map = new Map<string, Array<O>>()
  for (const o of objects) {
    const id = o.metadata.labels?.[label]
    if (id !== undefined) map.set(id, [...(map.get(id) ?? []), o])
  }
  return map
}

const zeroCounts = <S extends string>(states: ReadonlyArray<S>): Record<S, number> =>
  Object.fromEntries(states.map((s) => [s, 0])) as Record<S, number>

const count = <S extends string>(states: ReadonlyArray<S>, items: ReadonlyArray<{ readonly state: S }>) => {
  const counts = zeroCounts(states)
  for (const item of items) counts[item.state]++
  return counts
}

const botStates: ReadonlyArray<BotState> = [
  "running",
  "starting",
  "failing",
  "no-pod",
  "terminating",
  "invalid",
  "orphaned"
]
const scheduleStates: ReadonlyArray<ScheduleState> = [
  "scheduled",
  "failing",
  "suspended",
  "no-cronjob",
  "invalid",
  "orphaned"
]

const botStatus = (id: string, document: Bot | undefined, pods: ReadonlyArray<Pod>): BotStatus => {
  const pod = current(pods)
  const view = pod === undefined ? undefined : podView(pod)
  const base = {
    id,
    restarts: view === undefined ? 0 : restartsOf(view),
    pods: pods.length,
    ...(view === undefined ? {} : { pod: view }),
    outdated:
      document !== undefined &&
      pod !== undefined &&
      !view?.madeByThe0 &&
      pod.metadata.annotations?.[Annotation.documentHash] !== documentHash(document)
  }
  if (document === undefined)
    return { ...base, state: "orphaned", reasons: ["no enabled document: the controller deletes its Pod"] }
  if (pod === undefined) return { ...base, state: "no-pod", reasons: ["no Pod"] }
  return { ...base, ...podState(pod) }
}

const lastRunFailed = (cronJob: CronJob) => {
  const status = cronJob.status
  if (status?.lastScheduleTime === undefined || (status.active?.length ?? 0) > 0) return false
  return (
    status.lastSuccessfulTime === undefined ||
    Date.parse(status.lastSuccessfulTime) < Date.parse(status.lastScheduleTime)
  )
}

const nextRun = (cronJob: CronJob, now: number): Either.Either<string, string> => {
  const { schedule, timeZone } = cronJob.spec
  return nextExecutionTime(timeZone === undefined ? schedule : `CRON_TZ=${timeZone} ${schedule}`, new Date(now)).pipe(
    Either.map((seconds) => new Date(seconds * 1000).toISOString()),
    Either.mapLeft((error) => error.message)
  )
}

const scheduleStatus = (id: string, known: boolean, cronJobs: ReadonlyArray<CronJob>, now: number): ScheduleStatus => {
  const cronJob = cronJobs[0]
  if (cronJob === undefined) return { id, state: "no-cronjob", reasons: ["no CronJob"], active: 0 }
  const status = cronJob.status
  const next = cronJob.spec.suspend === true ? undefined : nextRun(cronJob, now)
  const base = {
    id,
    cronJob: cronJob.metadata.name,
    schedule: cronJob.spec.schedule,
    ...(cronJob.spec.timeZone === undefined ? {} : { timeZone: cronJob.spec.timeZone }),
    ...(status?.lastScheduleTime === undefined ? {} : { lastRun: status.lastScheduleTime }),
    ...(status?.lastSuccessfulTime === undefined ? {} : { lastSuccess: status.lastSuccessfulTime }),
    ...(next !== undefined && Either.isRight(next) ? { nextRun: next.right } : {}),
    active: status?.active?.length ?? 0
  }
  const unparsable = next !== undefined && Either.isLeft(next) ? [`next run unknown: ${next.left}`] : []
  if (!known) return { ...base, state: "orphaned", reasons: ["no enabled document: the controller deletes it"] }
  if (cronJob.spec.suspend === true) return { ...base, state: "suspended", reasons: ["CronJob suspended"] }
  if (lastRunFailed(cronJob))
    return {
      ...base,
      state: "failing",
      reasons: [`last run ${status?.lastScheduleTime} did not succeed`, ...unparsable]
    }
  return { ...base, state: "scheduled", reasons: unparsable }
}

const leaderStatus = (lease: Lease, now: number): LeaderStatus => {
  const { holderIdentity, renewTime, leaseDurationSeconds, leaseTransitions } = lease.spec
  const renewed = renewTime === undefined ? Number.NaN : Date.parse(renewTime)
  return {
    lease: lease.metadata.name,
    ...(holderIdentity === undefined || holderIdentity === "" ? {} : { holder: holderIdentity }),
    ...(renewTime === undefined ? {} : { renewTime }),
    ...(leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds }),
    ...(leaseTransitions === undefined ? {} : { transitions: leaseTransitions }),
    held: holderIdentity !== undefined && holderIdentity !== "" && renewed + (leaseDurationSeconds ?? 0) * 1000 >= now
  }
}

/** Documents by id (the first of a duplicated id), and the ids of those that do not decode with why. */
const documents = <D extends Bot>(results: ReadonlyArray<Either.Either<D, DocumentDecodeError>>) => {
  const decoded = new Map<string, D>()
  const invalid = new Map<string, string>()
  for (const result of results)
    Either.match(result, {
      onLeft: (error) => invalid.set(error.documentId, error.message),
      onRight: (document) => {
        if (!decoded.has(document.id)) decoded.set(document.id, document)
      }
    })
  return { decoded, invalid }
}

const byId = <A extends { readonly id: string }>(items: ReadonlyArray<A>) =>
  [...items].sort((a, b) => a.id.localeCompare(b.id))

const ingestStatus = (ingest: StatusInput["ingest"]): IngestStatus => {
  if (ingest === undefined) return { state: "not-configured" }
  if ("unavailable" in ingest) return { state: "unavailable", reason: ingest.unavailable }
  if (Option.isNone(ingest.stream)) return { state: "no-stream" }
  if (Option.isNone(ingest.consumer)) return { state: "no-consumer" }
  const { lastSequence } = ingest.stream.value
  const { ackFloor, pending } = ingest.consumer.value
  return {
    state: "reading",
    lastSequence,
    ackFloor,
    behind: Math.max(0, lastSequence - ackFloor),
    undelivered: pending
  }
}

export const report = (input: StatusInput): StatusReport => {
  const bots = documents(input.bots)
  const podsOf = byLabel(input.pods, Label.botId)
  const botItems = byId([
    ...[...bots.decoded].map(([id, document]) => botStatus(id, document, podsOf.get(id) ?? [])),
    ...[...bots.invalid]
      .filter(([id]) => !bots.decoded.has(id))
      .map(([id, message]): BotStatus => {
        const pods = podsOf.get(id) ?? []
        const pod = current(pods)
        return {
          ...botStatus(id, undefined, pods),
          state: "invalid",
          reasons: [message],
          outdated: false,
          ...(pod === undefined ? {} : { pod: podView(pod) })
        }
      }),
    ...[...podsOf]
      .filter(([id]) => !bots.decoded.has(id) && !bots.invalid.has(id))
      .map(([id, pods]) => botStatus(id, undefined, pods))
  ])
  const schedules = documents(input.schedules)
  const cronJobsOf = byLabel(input.cronJobs, Label.scheduleId)
  const scheduleIds = new Set([...schedules.decoded.keys(), ...schedules.invalid.keys(), ...cronJobsOf.keys()])
  const scheduleItems = byId(
    [...scheduleIds].map((id): ScheduleStatus => {
      const status = scheduleStatus(
        id,
        schedules.decoded.has(id) || schedules.invalid.has(id),
        cronJobsOf.get(id) ?? [],
        input.now
      )
      const problem = schedules.decoded.has(id) ? undefined : schedules.invalid.get(id)
      return problem === undefined ? status : { ...status, state: "invalid", reasons: [problem] }
    })
  )
  return {
    at: new Date(input.now).toISOString(),
    namespace: input.namespace,
    ...(input.lease === undefined ? {} : { leader: leaderStatus(input.lease, input.now) }),
    ingest: ingestStatus(input.ingest),
    bots: {
      desired: bots.decoded.size + [...bots.invalid.keys()].filter((id) => !bots.decoded.has(id)).length,
      counts: count(botStates, botItems),
      items: botItems
    },
    schedules: {
      desired: schedules.decoded.size + [...schedules.invalid.keys()].filter((id) => !schedules.decoded.has(id)).length,
      counts: count(scheduleStates, scheduleItems),
      items: scheduleItems
    },
    rollout: {
      outdated: botItems.filter((b) => b.outdated).map((b) => b.id),
      awaitingMigration: botItems.filter((b) => b.pod?.madeByThe0 === true && !b.pod.terminating).map((b) => b.id),
      terminatingPods: input.pods.filter((p) => p.metadata.deletionTimestamp !== undefined).length
    }
  }
}

/** One bot's story: its document as stored, its status, every Pod it has, and the last line it logged. */
export interface BotStory {
  readonly id: string
  readonly document?: {
    readonly enabled: boolean
    readonly name?: string
    readonly version?: string
    readonly runtime?: string
    readonly type?: string
    readonly filePath?: string
  }
  /** Why the document cannot be read, when it cannot. */
  readonly documentProblem?: string
  readonly status: BotStatus
  readonly pods: ReadonlyArray<PodView>
  readonly lastLogLine?: string
}

export interface BotStoryInput {
  readonly id: string
  /** The document whatever its `enabled`; absent when there is none. */
  readonly document: Either.Either<Bot, DocumentDecodeError> | undefined
  readonly pods: ReadonlyArray<Pod>
  readonly lastLogLine?: string
}

export const botStory = (input: BotStoryInput): BotStory => {
  const document = input.document !== undefined && Either.isRight(input.document) ? input.document.right : undefined
  const enabled = document !== undefined && document.config?.enabled !== false
  const problem =
    input.document !== undefined && Either.isLeft(input.document) ? input.document.left.message : undefined
  const status: BotStatus =
    problem === undefined
      ? botStatus(input.id, enabled ? document : undefined, input.pods)
      : { ...botStatus(input.id, undefined, input.pods), state: "invalid", reasons: [problem], outdated: false }
  const custom = document?.custom
  const pods = [...input.pods]
    .sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""))
    .map(podView)
  return {
    id: input.id,
    ...(document === undefined
      ? {}
      : {
          document: {
            enabled,
            ...(custom?.config?.name === undefined ? {} : { name: custom.config.name }),
            ...(custom?.version === undefined ? {} : { version: custom.version }),
            ...(custom?.config?.runtime === undefined ? {} : { runtime: custom.config.runtime }),
            ...(custom?.config?.type === undefined ? {} : { type: custom.config.type }),
            ...(custom?.filePath === undefined ? {} : { filePath: custom.filePath })
          }
        }),
    ...(problem === undefined ? {} : { documentProblem: problem }),
    status:
      document === undefined && problem === undefined && input.pods.length === 0
        ? { ...status, reasons: ["no document and no Pod"] }
        : !enabled && document !== undefined
          ? { ...status, reasons: ["document disabled (config.enabled is false): no Pod should run"] }
          : status,
    pods,
    ...(input.lastLogLine === undefined ? {} : { lastLogLine: input.lastLogLine })
  }
}
