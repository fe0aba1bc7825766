/**
 * A simulated kubelet for the fake cluster: binds Pods to a node, moves them through their phases with a podIP
 * and container statuses, crashes containers according to restartPolicy, and finishes terminations. Tests
 * drive it step by step; `autoRun` makes it run every new Pod by itself, as a real node would.
 */
import { Clock, Context, Effect, Layer, Stream } from "effect"
import type { ContainerStatus, Pod, PodStatus } from "../../domain/Kube.ts"
import type { KubeApiError } from "../../services/KubeApi.ts"
import { MemoryCluster } from "./MemoryKubeApi.ts"

export const nodeName = "sim-node"

export interface SimulatedKubeletService {
  /** Binds the Pod and runs it: phase Running, a podIP, every container started and ready. */
  readonly runPod: (namespace: string, name: string) => Effect.Effect<Pod, KubeApiError>
  /** A container exits with `exitCode`: restarted (Always, or OnFailure with a non-zero code) or left terminated. */
  readonly exitContainer: (
    namespace: string,
    name: string,
    container: string,
    exitCode: number
  ) => Effect.Effect<Pod, KubeApiError>
  /** Every container exits with `exitCode` (a Job's Pod finishing): Succeeded on 0, Failed otherwise, unless restartPolicy restarts it. */
  readonly completePod: (namespace: string, name: string, exitCode: number) => Effect.Effect<Pod, KubeApiError>
  /** The whole Pod fails (eviction, node loss): phase Failed with a reason. */
  readonly failPod: (namespace: string, name: string, reason: string) => Effect.Effect<Pod, KubeApiError>
  /** Removes a terminating Pod now, as the kubelet does once its containers have stopped. */
  readonly finishTermination: (namespace: string, name: string) => Effect.Effect<void, KubeApiError>
}

export class SimulatedKubelet extends Context.Tag("the0/SimulatedKubelet")<
  SimulatedKubelet,
  SimulatedKubeletService
>() {}

export interface KubeletOptions {
  /** Run every Pod as soon as it is created. */
  readonly autoRun?: boolean
  /** Remove terminating Pods at once, as if their containers stopped immediately. */
  readonly autoTerminate?: boolean
  readonly namespace?: string
}

const running = (name: string, at: string, restartCount = 0): ContainerStatus => ({
  name,
  ready: true,
  started: true,
  restartCount,
  state: { running: { startedAt: at } }
})

const terminated = (name: string, exitCode: number, at: string, restartCount: number): ContainerStatus => ({
  name,
  ready: false,
  started: false,
  restartCount,
  state: { terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error", finishedAt: at } }
})

export const make = (options: KubeletOptions = {}) =>
  Effect.gen(function* () {
    const cluster = yield* MemoryCluster
    const api = cluster.direct
    let nextIp = 1
    const iso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

    const bind = (namespace: string, name: string) =>
      Effect.gen(function* () {
        const pod = yield* api.get("Pod", namespace, name)
        if (pod.spec.nodeName !== undefined) return pod
        return yield* api
          .update("Pod", namespace, { ...pod, spec: { ...pod.spec, nodeName } })
          .pipe(Effect.catchTag("KubeInvalid", () => api.get("Pod", namespace, name)))
      })

    const setStatus = (namespace: string, name: string, status: PodStatus) =>
      api.patchStatus("Pod", namespace, name, status)

    const runPod = (namespace: string, name: string) =>
      Effect.gen(function* () {
        const pod = yield* bind(namespace, name)
        const at = yield* iso
        const ip = pod.status?.podIP ?? `10.244.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 1}`
        return yield* setStatus(namespace, name, {
          phase: "Running",
          podIP: ip,
          hostIP: "10.0.0.1",
          startTime: pod.status?.startTime ?? at,
          conditions: [{ type: "Ready", status: "True" }],
          initContainerStatuses: (pod.spec.initContainers ?? []).map((c) => running(c.name, at)),
          containerStatuses: pod.spec.containers.map((c) => running(c.name, at))
        })
      })

    const statusOf = (pod: Pod, container: string): ContainerStatus | undefined =>
      [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find(
        (s) => s.name === container
      )

    const exit = (pod: Pod, containers: ReadonlyArray<string>, exitCode: number, at: string) => {
      const policy = pod.spec.restartPolicy ?? "Always"
      const restarts = policy === "Always" || (policy === "OnFailure" && exitCode !== 0)
      const replace = (list: ReadonlyArray<ContainerStatus> | undefined) =>
        (list ?? []).map((s) =>
          containers.includes(s.name)
            ? restarts
              ? running(s.name, at, s.restartCount + 1)
              : terminated(s.name, exitCode, at, s.restartCount)
            : s
        )
      const containerStatuses = replace(pod.status?.containerStatuses)
      const allDone = containerStatuses.every((s) => s.state?.terminated !== undefined)
      const failed = containerStatuses.some((s) => (s.state?.terminated?.exitCode ?? 0) !== 0)
      const phase = restarts || !allDone ? (pod.status?.phase ?? "Running") : failed ? "Failed" : "Succeeded"
      return setStatus(pod.metadata.namespace ?? "", pod.metadata.name, {
        phase,
        containerStatuses,
        ...(pod.status?.initContainerStatuses === undefined
          ? {}
          : { initContainerStatuses: replace(pod.status.initContainerStatuses) }),
        conditions: [{ type: "Ready", status: phase === "Running" && restarts ? "True" : "False" }]
      })
    }

    const service: SimulatedKubeletService = {
      runPod,
      exitContainer: (namespace, name, container, exitCode) =>
        Effect.gen(function* () {
          const pod = yield* api.get("Pod", namespace, name)
          if (statusOf(pod, container) === undefined) yield* runPod(namespace, name)
          return yield* exit(yield* api.get("Pod", namespace, name), [container], exitCode, yield* iso)
        }),
      completePod: (namespace, name, exitCode) =>
        Effect.gen(function* () {
          const pod = yield* api.get("Pod", namespace, name)
          if (pod.status?.phase !== "Running") yield* runPod(namespace, name)
          const current = yield* api.get("Pod", namespace, name)
          return yield* exit(
            current,
            current.spec.containers.map((c) => c.name),
            exitCode,
            yield* iso
          )
        }),
      failPod: (namespace, name, reason) =>
        Effect.gen(function* () {
          yield* bind(namespace, name)
          return yield* setStatus(namespace, name, { phase: "Failed", reason, message: `simulated: ${reason}` })
        }),
      finishTermination: (namespace, name) =>
        Effect.gen(function* () {
          const pod = yield* api.get("Pod", namespace, name)
          if (pod.metadata.deletionTimestamp !== undefined)
            yield* api.delete("Pod", namespace, name, { gracePeriodSeconds: 0 })
        })
    }

    const namespace = options.namespace ?? "the0"
    if (options.autoRun === true || options.autoTerminate === true)
      yield* api.watch("Pod", namespace, { resourceVersion: "0" }).pipe(
        Stream.runForEach((event) => {
          if (event.type === "BOOKMARK" || event.type === "DELETED") return Effect.void
          const pod = event.object
          const name = pod.metadata.name
          if (pod.metadata.deletionTimestamp !== undefined)
            return options.autoTerminate === true
              ? Effect.ignore(service.finishTermination(namespace, name))
              : Effect.void
          if (options.autoRun === true && event.type === "ADDED" && pod.status?.phase === "Pending")
            return Effect.ignore(runPod(namespace, name))
          return Effect.void
        }),
        Effect.forkScoped
      )
    return service
  })

export const layer = (options: KubeletOptions = {}): Layer.Layer<SimulatedKubelet, never, MemoryCluster> =>
  Layer.scoped(SimulatedKubelet, make(options))
