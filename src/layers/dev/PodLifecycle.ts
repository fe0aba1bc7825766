/**
 * The life of one Pod on the dev node: its directories and host ports bound, init containers in order, native
 * sidecars (init containers with `restartPolicy: Always`) started first and startup-probed before the main
 * containers, each container restarted per the Pod's restartPolicy with a backoff, readiness from the container's
 * ports, the Pod's phase from how its main containers ended, and a graceful stop (main containers first, then the
 * sidecars). Every change is written to the Pod's status.
 */

import type { ChildProcess } from "node:child_process"
import { createWriteStream } from "node:fs"
import { mkdir, rm } from "node:fs/promises"
import * as path from "node:path"
import { Clock, Deferred, Duration, Effect, Fiber, Option, Ref, Schedule } from "effect"
import type { Container, Pod } from "../../domain/Kube.ts"
import { devHostPortAnnotation } from "../../domain/Labels.ts"
import { signalGroup, spawnContainer, stopProcess } from "./ContainerProcess.ts"
import { type KubeletNode, nodeName } from "./KubeletNode.ts"
import { httpProbe, tcpProbe } from "./LoopbackPorts.ts"
import { commandOf, resolveEnv, rewriter } from "./PodEnvironment.ts"
import { allSidecarsStarted, type ContainerRun, iso, type Kind, type PodRun, publish } from "./PodRun.ts"

const podPolicy = (node: KubeletNode, run: PodRun) =>
  Effect.map(
    node.api.get("Pod", node.namespace, run.name).pipe(Effect.option),
    (pod) => Option.getOrUndefined(pod)?.spec.restartPolicy ?? "Always"
  )

/** Startup probe of a sidecar (its failure kills the container), readiness of a container with ports. */
const probe = (
  node: KubeletNode,
  run: PodRun,
  container: Container,
  kind: Kind,
  state: ContainerRun,
  child: ChildProcess | undefined
) =>
  Effect.gen(function* () {
    const probeInterval = node.probeInterval
    const startup = container.startupProbe?.httpGet
    if (kind === "sidecar" && startup !== undefined && !state.started) {
      const port = run.ports.get(Number(startup.port)) ?? Number(startup.port)
      const period = (container.startupProbe?.periodSeconds ?? 10) * 1000
      const attempts = Math.ceil(
        ((container.startupProbe?.failureThreshold ?? 3) * period) / Duration.toMillis(probeInterval)
      )
      const ok = yield* httpProbe(port, startup.path).pipe(
        Effect.repeat({ schedule: Schedule.spaced(probeInterval), until: (up) => up, times: attempts })
      )
      if (!ok) {
        signalGroup(child, "SIGKILL")
        return
      }
      state.started = true
      state.ready = true
      yield* publish(node, run)
      if (kind === "sidecar")
        yield* Deferred.succeed(run.sidecarsReady, undefined).pipe(Effect.when(() => allSidecarsStarted(run)))
      return
    }
    const ports = (container.ports ?? []).map((p) => run.ports.get(p.containerPort) ?? p.containerPort)
    if (ports.length === 0) return
    yield* Effect.forEach(ports, (port) =>
      tcpProbe(port).pipe(Effect.repeat({ schedule: Schedule.spaced(probeInterval), until: (up) => up }))
    )
    state.ready = true
    yield* publish(node, run)
  })

/** Runs one container until it ends for good or the Pod stops it, restarting it per policy; its last exit code. */
const runContainer = (
  node: KubeletNode,
  run: PodRun,
  container: Container,
  kind: Kind,
  stop: Deferred.Deferred<void>
): Effect.Effect<number> =>
  Effect.gen(function* () {
    const state = run.containers.get(container.name)
    if (state === undefined) return 0
    const rewrite = rewriter(run, container)
    const policy = kind === "sidecar" ? "Always" : kind === "init" ? "OnFailure" : yield* podPolicy(node, run)
    const logFile = path.join(run.dir, "logs", `${container.name}.log`)
    const log = yield* Effect.acquireRelease(
      Effect.sync(() => createWriteStream(logFile, { flags: "a" })),
      (stream) => Effect.async<void>((resume) => void stream.end(() => resume(Effect.void)))
    )
    const collectLogs = policy !== "Always"
    const onOutput = (chunk: Buffer) => {
      if (collectLogs)
        Effect.runSync(node.cluster.appendLog(node.namespace, run.name, container.name, chunk.toString()))
    }
    let backoff = node.initialBackoff
    let lastCode = 0
    while (!(yield* Deferred.isDone(stop))) {
      const env = yield* Effect.either(resolveEnv(node, run, container, rewrite))
      if (env._tag === "Left") {
        state.state = { waiting: { reason: "CreateContainerConfigError", message: env.left.message } }
        yield* publish(node, run)
        yield* Deferred.await(stop).pipe(Effect.timeout("1 second"), Effect.ignore)
        continue
      }
      const startedAt = yield* Clock.currentTimeMillis
      const outcome = yield* Effect.scoped(
        Effect.gen(function* () {
          const running = yield* spawnContainer(
            () => commandOf(node, run, container, rewrite),
            env.right,
            log,
            onOutput,
            node.processes
          )
          state.state = { running: { startedAt: new Date(startedAt).toISOString() } }
          state.started = kind !== "sidecar" || container.startupProbe === undefined
          state.ready = state.started && (container.ports ?? []).length === 0
          yield* publish(node, run)
          const probing = yield* Effect.forkScoped(probe(node, run, container, kind, state, running.child))
          const ended = Effect.map(
            Effect.promise(() => running.exited),
            (result) => ({ ...result, stopped: false })
          )
          const stopped = Effect.andThen(Deferred.await(stop), () =>
            Effect.map(stopProcess(run.graceDeadline, running), (result) => ({ ...result, stopped: true }))
          )
          const result = yield* Effect.raceFirst(ended, stopped)
          yield* Fiber.interrupt(probing)
          return result
        })
      )
      lastCode = outcome.code
      state.ready = false
      // a process that could not be started waits, with the reason, until it is tried again (RunContainerError)
      state.state =
        outcome.message === undefined
          ? { terminated: { exitCode: outcome.code, reason: outcome.reason, finishedAt: yield* iso } }
          : { waiting: { reason: "RunContainerError", message: outcome.message } }
      yield* publish(node, run)
      if (outcome.stopped) break
      const restart = policy === "Always" || (policy === "OnFailure" && outcome.code !== 0)
      if (!restart) break
      const ranFor = (yield* Clock.currentTimeMillis) - startedAt
      if (ranFor > 60_000) backoff = node.initialBackoff
      state.restartCount++
      if (outcome.message === undefined) {
        state.state = {
          waiting: {
            reason: "CrashLoopBackOff",
            message: `back-off ${Duration.format(backoff)} restarting failed container=${container.name} pod=${run.name}`
          }
        }
        yield* publish(node, run)
      }
      yield* Deferred.await(stop).pipe(Effect.timeout(backoff), Effect.ignore)
      backoff = Duration.min(Duration.times(backoff, 2), node.maxBackoff)
    }
    return lastCode
  }).pipe(Effect.scoped)

/**
 * Runs the Pod until its main containers have ended (Succeeded or Failed) or it is stopped: prepares its
 * directories, binds it to the node with its host ports announced, then init containers, sidecars, main containers.
 */
export const runPod = (node: KubeletNode, run: PodRun, pod: Pod): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { api, namespace } = node
    yield* Effect.promise(async () => {
      await rm(run.dir, { recursive: true, force: true })
      for (const volume of pod.spec.volumes ?? []) await mkdir(path.join(run.dir, volume.name), { recursive: true })
      await mkdir(path.join(run.dir, "logs"), { recursive: true })
    })
    const annotations: Record<string, string> = { ...pod.metadata.annotations }
    for (const [inside, outside] of run.ports) annotations[devHostPortAnnotation(inside)] = String(outside)
    const bound = yield* api
      .update("Pod", namespace, {
        ...pod,
        metadata: { ...pod.metadata, annotations },
        spec: { ...pod.spec, nodeName }
      })
      .pipe(Effect.option)
    if (Option.isNone(bound)) return
    yield* publish(node, run)

    const inits = pod.spec.initContainers ?? []
    const sidecars = inits.filter((c) => c.restartPolicy === "Always")
    const sidecarFibers: Array<Fiber.RuntimeFiber<number>> = []
    for (const container of inits) {
      if (container.restartPolicy === "Always") {
        sidecarFibers.push(yield* Effect.fork(runContainer(node, run, container, "sidecar", run.stopSidecars)))
      } else {
        const code = yield* runContainer(node, run, container, "init", run.stopMain)
        if (code !== 0 || (yield* Deferred.isDone(run.stopMain))) {
          run.phase = code !== 0 ? "Failed" : run.phase
          yield* Deferred.succeed(run.stopSidecars, undefined)
          yield* Fiber.joinAll(sidecarFibers)
          yield* publish(node, run)
          return
        }
      }
    }
    if (sidecars.length === 0 || sidecars.every((c) => c.startupProbe === undefined))
      yield* Deferred.succeed(run.sidecarsReady, undefined)
    yield* Effect.raceFirst(Deferred.await(run.sidecarsReady), Deferred.await(run.stopMain))
    if (!(yield* Deferred.isDone(run.stopMain))) {
      run.phase = "Running"
      const codes = yield* Effect.forEach(
        pod.spec.containers,
        (c) => runContainer(node, run, c, "main", run.stopMain),
        { concurrency: "unbounded" }
      )
      if (!run.terminating) {
        run.phase = codes.every((code) => code === 0) ? "Succeeded" : "Failed"
        // as the kubelet: sidecars stopped once the main containers have ended get the Pod's grace period (the
        // sync sidecar's final upload of a scheduled run happens then)
        const grace = (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000
        yield* Ref.set(run.graceDeadline, (yield* Clock.currentTimeMillis) + grace)
      }
    }
    yield* Deferred.succeed(run.stopSidecars, undefined)
    yield* Fiber.joinAll(sidecarFibers)
    yield* publish(node, run)
  })

/** Stops the Pod's containers gracefully: main containers first, then the sidecars. */
export const stopPod = (run: PodRun, graceSeconds: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (run.terminating) return
    run.terminating = true
    yield* Ref.set(run.graceDeadline, (yield* Clock.currentTimeMillis) + graceSeconds * 1000)
    yield* Deferred.succeed(run.stopMain, undefined)
  })
