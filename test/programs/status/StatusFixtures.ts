/** Pods, CronJobs, Leases and documents as the status modules read them, built small for the pure tests. */
import { Either } from "effect"
import type { Bot } from "../../../src/domain/Bot.ts"
import { DocumentDecodeError } from "../../../src/domain/DocumentDecodeError.ts"
import type { ContainerStatus, CronJob, Lease, Pod, PodStatus } from "../../../src/domain/Kube.ts"
import { Annotation, Label } from "../../../src/domain/Labels.ts"
import { documentHash } from "../../../src/programs/controller/OwnedKinds.ts"

export const now = Date.parse("2026-03-01T10:00:00Z")

export const doc = (id: string, config: Record<string, unknown> = { symbol: "BTC/USD" }): Bot => ({
  id,
  config,
  custom: {
    version: "1.0.0",
    filePath: `user-1/${id}/v1.0.0.zip`,
    config: { name: `bot-${id}`, runtime: "python3.11", type: "realtime", entrypoints: { bot: "main.py" } }
  }
})

export const undecodable = (id: string): Either.Either<never, DocumentDecodeError> =>
  Either.left(
    new DocumentDecodeError({ source: "bot_runner.bots", documentId: id, field: "config", detail: "Expected object" })
  )

export const container = (
  name: string,
  state: NonNullable<ContainerStatus["state"]>,
  restartCount = 0,
  extra: object = {}
): ContainerStatus => ({ name, ready: state?.running !== undefined, restartCount, state, ...extra })

export const running: PodStatus = { phase: "Running", containerStatuses: [container("bot", { running: {} })] }

/** Bot `id`'s Pod, made by this controller for `document` (by default `doc(id)`); `document: null` for the0's. */
export const pod = (
  id: string,
  options: {
    readonly status?: PodStatus
    readonly name?: string
    readonly created?: string
    readonly deleting?: boolean
    readonly document?: Bot | null
    readonly node?: string
  } = {}
): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: options.name ?? `bot-${id}`,
    namespace: "the0",
    labels: { [Label.botId]: id },
    ...(options.document === null
      ? {}
      : { annotations: { [Annotation.documentHash]: documentHash(options.document ?? doc(id)) } }),
    creationTimestamp: options.created ?? "2026-03-01T09:00:00Z",
    ...(options.deleting === true ? { deletionTimestamp: "2026-03-01T10:00:30Z" } : {})
  },
  spec: {
    containers: [{ name: "bot", image: "runtime" }],
    ...(options.node === undefined ? {} : { nodeName: options.node })
  },
  ...(options.status === undefined ? {} : { status: options.status })
})

export const cronJob = (id: string, spec: Partial<CronJob["spec"]> = {}, status: CronJob["status"] = {}): CronJob => ({
  apiVersion: "batch/v1",
  kind: "CronJob",
  metadata: { name: `schedule-${id}`, namespace: "the0", labels: { [Label.scheduleId]: id } },
  spec: { schedule: "0 9 * * *", jobTemplate: { spec: { template: { spec: { containers: [] } } } }, ...spec },
  status
})

export const lease = (spec: Lease["spec"]): Lease => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name: "the0-runtime-leader", namespace: "the0" },
  spec
})
