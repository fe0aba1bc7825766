/**
 * The process kubelet's record of one Pod it runs: its directory, its host ports, the state of each container, the
 * signals that stop it, and its phase; created when the Pod is admitted, and written to the Pod's status.
 */
import * as path from "node:path"
import { Clock, Deferred, Effect, Ref } from "effect"
import type { ContainerStatus, Pod, PodStatus } from "../../domain/Kube.ts"
import { type KubeletNode, podIP } from "./KubeletNode.ts"
import { freePort } from "./LoopbackPorts.ts"

export type Kind = "init" | "sidecar" | "main"

export interface ContainerRun {
  readonly name: string
  readonly kind: Kind
  restartCount: number
  started: boolean
  ready: boolean
  state: NonNullable<ContainerStatus["state"]>
}

export interface PodRun {
  readonly name: string
  readonly uid: string
  readonly dir: string
  /** containerPort → host port. */
  readonly ports: ReadonlyMap<number, number>
  readonly containers: Map<string, ContainerRun>
  readonly stopMain: Deferred.Deferred<void>
  readonly stopSidecars: Deferred.Deferred<void>
  readonly graceDeadline: Ref.Ref<number>
  readonly sidecarsReady: Deferred.Deferred<void>
  phase: "Pending" | "Running" | "Succeeded" | "Failed"
  startTime: string
  terminating: boolean
}

export const iso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** A new run of `pod` (Pending, every container waiting), each declared or probed container port given a host port. */
export const createPodRun = (node: KubeletNode, pod: Pod): Effect.Effect<PodRun> =>
  Effect.gen(function* () {
    const name = pod.metadata.name
    const uid = pod.metadata.uid ?? "0"
    const declared = new Set<number>()
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      for (const p of c.ports ?? []) declared.add(p.containerPort)
      for (const probeSpec of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
        const port = Number(probeSpec?.httpGet?.port)
        if (Number.isInteger(port) && port > 0) declared.add(port)
      }
    }
    const ports = new Map<number, number>()
    for (const port of declared) ports.set(port, yield* freePort.pipe(Effect.orDie))
    const containers = new Map<string, ContainerRun>()
    for (const c of pod.spec.initContainers ?? [])
      containers.set(c.name, {
        name: c.name,
        kind: c.restartPolicy === "Always" ? "sidecar" : "init",
        restartCount: 0,
        started: false,
        ready: false,
        state: { waiting: { reason: "PodInitializing" } }
      })
    for (const c of pod.spec.containers)
      containers.set(c.name, {
        name: c.name,
        kind: "main",
        restartCount: 0,
        started: false,
        ready: false,
        state: { waiting: { reason: "PodInitializing" } }
      })
    return {
      name,
      uid,
      dir: path.join(node.options.podsDir, `${name}-${uid.slice(-12)}`),
      ports,
      containers,
      stopMain: yield* Deferred.make<void>(),
      stopSidecars: yield* Deferred.make<void>(),
      graceDeadline: yield* Ref.make(0),
      sidecarsReady: yield* Deferred.make<void>(),
      phase: "Pending",
      startTime: yield* iso,
      terminating: false
    }
  })

const statusOf = (run: PodRun, kind: "init" | "main"): Array<ContainerStatus> =>
  [...run.containers.values()]
    .filter((c) => (kind === "main" ? c.kind === "main" : c.kind !== "main"))
    .map((c) => ({
      name: c.name,
      ready: c.ready,
      started: c.started,
      restartCount: c.restartCount,
      state: c.state
    }))

/** Writes the Pod's status as the run sees it now; a Pod already gone is ignored. */
export const publish = (node: KubeletNode, run: PodRun): Effect.Effect<void> =>
  Effect.suspend(() => {
    const main = statusOf(run, "main")
    const ready = run.phase === "Running" && main.length > 0 && main.every((c) => c.ready)
    const status: PodStatus = {
      phase: run.phase,
      podIP,
      hostIP: podIP,
      startTime: run.startTime,
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      initContainerStatuses: statusOf(run, "init"),
      containerStatuses: main
    }
    return node.api.patchStatus("Pod", node.namespace, run.name, status)
  }).pipe(Effect.ignore)

export const allSidecarsStarted = (run: PodRun): boolean =>
  [...run.containers.values()].filter((c) => c.kind === "sidecar").every((c) => c.started)
