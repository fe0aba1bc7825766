/**
 * A Pod and its containers as `the0-runtime status` shows them (docs/operations.md, "`the0-runtime status`"): phase,
 * node, each container's state with its reason, restarts and how it ended last time.
 */
import type { ContainerStatus, Pod } from "../../domain/Kube.ts"
import { madeByThe0 } from "../controller/Plan.ts"

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

/** Fields the API server returns that the domain types leave out. */
type ServerContainerStatus = ContainerStatus & {
  readonly lastState?: { readonly terminated?: { exitCode?: number; reason?: string; finishedAt?: string } }
  readonly state?: ContainerStatus["state"] & { readonly terminated?: { readonly message?: string } }
}

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

export const podView = (pod: Pod): PodView => {
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

/** `name: reason (exit n): message`, the state's name standing in for a missing reason. */
export const describeContainer = (c: ContainerView): string =>
  [
    `${c.name}: ${c.reason ?? c.state}`,
    ...(c.exitCode === undefined ? [] : [` (exit ${c.exitCode})`]),
    ...(c.message === undefined ? [] : [`: ${c.message}`])
  ].join("")

export const restartsOf = (view: PodView): number => view.containers.reduce((n, c) => n + c.restarts, 0)
