/**
 * A kubelet for the fake cluster that really runs each Pod's containers as child processes on this machine, for
 * `the0-runtime dev`. Per Pod: a directory per volume (emptyDir), the container paths rewritten to those
 * directories, the env resolved (literal values, `secretKeyRef` from the cluster's Secrets, `fieldRef`), the image's
 * `/app/runtime` replaced by this repository's CLI, and each declared or probed container port mapped to a free
 * port on 127.0.0.1 (the Pod's IP), announced in the annotation `devHostPortAnnotation(port)` and handed to the
 * SDK through `THE0_QUERY_PORT`.
 *
 * Native sidecars (init containers with `restartPolicy: Always`) start first and must pass their startup probe
 * before the main containers start; containers restart per the Pod's restartPolicy with a backoff; a Pod whose
 * main containers have all ended is Succeeded or Failed. Deleting a Pod stops it gracefully (SIGTERM to each main
 * container's process group, the grace period, SIGKILL; then the sidecars), then removes it and its directory.
 * Closing the layer stops every Pod the same way, so no process outlives it; each container process also has a
 * lifeline (Lifeline.ts) that kills it when this process dies without closing the layer, and at start the
 * processes a previous run left are stopped (ProcessRecord.ts) before any Pod is run (docs/operations.md, "Dev mode
 * processes").
 *
 * This module watches the cluster's Pods and admits, terminates and forgets them; the parts live beside it:
 * `KubeletNode` (options, node identity), `PodRun` (the run record and status), `PodLifecycle` (running a Pod),
 * `ContainerProcess` (one process), `PodEnvironment` (env and path rewriting), `LoopbackPorts` (ports, probes),
 * `Lifeline` and `ProcessRecord` (nothing outlives the kubelet).
 */
import { mkdir, rm } from "node:fs/promises"
import * as path from "node:path"
import { Effect, Fiber, FiberMap, Layer, Option, type Scope, Stream } from "effect"
import type { Pod } from "../../domain/Kube.ts"
import { MemoryCluster } from "../memory/MemoryKubeApi.ts"
import { kubeletNode, type ProcessKubeletOptions } from "./KubeletNode.ts"
import { runPod, stopPod } from "./PodLifecycle.ts"
import { createPodRun, type PodRun } from "./PodRun.ts"
import * as ProcessRecord from "./ProcessRecord.ts"

export { nodeName, type ProcessKubeletOptions, podIP } from "./KubeletNode.ts"

const isMissing = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ENOENT"

/** Where a kubelet records its container processes. */
export const processRecordFile = (podsDir: string) => path.join(podsDir, "processes.json")

export const make = (
  options: ProcessKubeletOptions
): Effect.Effect<void, ProcessRecord.DataDirInUse, MemoryCluster | Scope.Scope> =>
  Effect.gen(function* () {
    const recordFile = processRecordFile(options.podsDir)
    yield* ProcessRecord.reapLeftovers(recordFile)
    yield* Effect.promise(() => rm(options.podsDir, { recursive: true, force: true }))
    yield* Effect.promise(() => mkdir(options.podsDir, { recursive: true }))
    const processes = yield* ProcessRecord.make(recordFile)
    const node = kubeletNode(options, yield* MemoryCluster, processes)
    const { api, namespace } = node
    const runs = new Map<string, PodRun>()
    const fibers = yield* FiberMap.make<string>()

    /** Starts a new Pod: its run record, ports and fiber. */
    const admit = (pod: Pod) =>
      Effect.gen(function* () {
        const name = pod.metadata.name
        const uid = pod.metadata.uid ?? "0"
        if (
          runs.get(name)?.uid === uid ||
          pod.spec.nodeName !== undefined ||
          pod.metadata.deletionTimestamp !== undefined
        )
          return
        const run = yield* createPodRun(node, pod)
        runs.set(name, run)
        yield* FiberMap.run(
          fibers,
          uid,
          Effect.suspend(() => {
            const current = runs.get(pod.metadata.name)
            return current === undefined ? Effect.void : runPod(node, current, pod)
          }).pipe(Effect.catchAllCause((cause) => Effect.logWarning(`dev kubelet: Pod ${name} failed to run`, cause)))
        )
      })

    /** A deleted Pod: stop it gracefully, then remove it and its directory. */
    const terminate = (pod: Pod) =>
      Effect.gen(function* () {
        const name = pod.metadata.name
        const run = runs.get(name)
        if (run === undefined || run.uid !== (pod.metadata.uid ?? "0") || run.terminating) return
        yield* stopPod(run, pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30)
        yield* Effect.forkScoped(
          Effect.gen(function* () {
            const fiber = yield* FiberMap.get(fibers, run.uid).pipe(Effect.option)
            if (Option.isSome(fiber)) yield* Fiber.await(fiber.value)
            yield* api
              .delete("Pod", namespace, name, { gracePeriodSeconds: 0, preconditions: { uid: run.uid } })
              .pipe(Effect.ignore)
            yield* forget(run)
          })
        )
      })

    const forget = (run: PodRun) =>
      Effect.gen(function* () {
        if (runs.get(run.name) === run) runs.delete(run.name)
        yield* Effect.promise(() =>
          rm(run.dir, { recursive: true, force: true }).catch((error: unknown) =>
            isMissing(error) ? undefined : Promise.reject(error)
          )
        ).pipe(Effect.ignore)
      })

    /** On shutdown every Pod is stopped as on deletion (final syncs run), then its directory removed. */
    yield* Effect.addFinalizer(() =>
      Effect.forEach(
        [...runs.values()],
        (run) =>
          Effect.gen(function* () {
            yield* stopPod(run, 30)
            const fiber = yield* FiberMap.get(fibers, run.uid).pipe(Effect.option)
            if (Option.isSome(fiber)) yield* Fiber.await(fiber.value)
            yield* forget(run)
          }),
        { concurrency: "unbounded", discard: true }
      )
    )

    yield* api.watch("Pod", namespace, { resourceVersion: "0" }).pipe(
      Stream.runForEach((event) => {
        if (event.type === "BOOKMARK") return Effect.void
        const pod = event.object
        if (event.type === "DELETED") {
          const run = runs.get(pod.metadata.name)
          if (run === undefined || run.uid !== pod.metadata.uid) return Effect.void
          return Effect.gen(function* () {
            yield* stopPod(run, 0)
            yield* Effect.forkScoped(
              Effect.gen(function* () {
                const fiber = yield* FiberMap.get(fibers, run.uid).pipe(Effect.option)
                if (Option.isSome(fiber)) yield* Fiber.await(fiber.value)
                yield* forget(run)
              })
            )
          })
        }
        if (pod.metadata.deletionTimestamp !== undefined) return terminate(pod)
        return admit(pod)
      }),
      Effect.forkScoped
    )
  })

/** The process kubelet on the fake cluster, for as long as the layer lives. */
export const layer = (options: ProcessKubeletOptions): Layer.Layer<never, ProcessRecord.DataDirInUse, MemoryCluster> =>
  Layer.scopedDiscard(make(options))
