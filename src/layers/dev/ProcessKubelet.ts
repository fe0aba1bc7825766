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
 * Closing the layer stops every Pod the same way, so no process outlives it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, type WriteStream } from "node:fs"
import { mkdir, rm } from "node:fs/promises"
import { request } from "node:http"
import { createServer, Socket } from "node:net"
import * as path from "node:path"
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Fiber,
  FiberMap,
  Layer,
  Option,
  Ref,
  Schedule,
  type Scope,
  Stream
} from "effect"
import type { Container, ContainerStatus, EnvVar, Pod, PodStatus } from "../../domain/Kube.ts"
import { devHostPortAnnotation } from "../../domain/Labels.ts"
import type { KubeApiService } from "../../services/KubeApi.ts"
import { MemoryCluster } from "../memory/MemoryKubeApi.ts"

export const nodeName = "dev-node"
export const podIP = "127.0.0.1"

export interface ProcessKubeletOptions {
  readonly namespace: string
  /** Each Pod gets `<podsDir>/<pod name>-<uid>/<volume>/` and `.../logs/<container>.log`. */
  readonly podsDir: string
  /** What the image's runtime binary stands for here, e.g. `node bin/the0-runtime`. */
  readonly runtime: { readonly file: string; readonly args: ReadonlyArray<string> }
  /** The binary's path in the image (`/app/runtime`). */
  readonly imageBinary?: string
  /** Variables every container gets (this machine's node configuration: object store directory, wrappers...). */
  readonly env?: Readonly<Record<string, string>>
  /** Host variables passed through (a container's env is otherwise only its spec's). */
  readonly inheritEnv?: ReadonlyArray<string>
  /** First restart delay, doubled up to `maxBackoff` (Kubernetes: 10 s up to 5 min). */
  readonly initialBackoff?: Duration.DurationInput
  readonly maxBackoff?: Duration.DurationInput
  /** How often startup probes and port checks run. */
  readonly probeInterval?: Duration.DurationInput
}

/** In-container paths the runtime reads from these variables when set (the0 hard-codes them). */
const pathVariables: ReadonlyArray<readonly [string, string]> = [
  ["/query", "THE0_QUERY_DIR"],
  ["/var/the0/done", "THE0_DONE_FILE"],
  ["/tmp", "TMPDIR"]
]

/** Container ports whose mapped host port a bot reads from a variable: the SDK's query server port. */
const portVariables: Readonly<Record<number, string>> = { 9476: "THE0_QUERY_PORT" }

const defaultInherit = ["PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "SHELL", "TZ", "PYTHONPATH"]

type Kind = "init" | "sidecar" | "main"

interface ContainerRun {
  readonly name: string
  readonly kind: Kind
  restartCount: number
  started: boolean
  ready: boolean
  state: NonNullable<ContainerStatus["state"]>
}

interface PodRun {
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

const isMissing = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ENOENT"

/** A port on 127.0.0.1 that nothing listens on right now. */
const freePort: Effect.Effect<number, Error> = Effect.async<number, Error>((resume) => {
  const server = createServer()
  server.once("error", (error) => resume(Effect.fail(error)))
  server.listen(0, podIP, () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(port > 0 ? Effect.succeed(port) : Effect.fail(new Error("no free port"))))
  })
})

/** True when `GET http://127.0.0.1:<port><path>` answers 2xx or 3xx within a second. */
const httpProbe = (port: number, probePath: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const req = request({ host: podIP, port, path: probePath, method: "GET", timeout: 1000 }, (res) => {
      res.resume()
      resume(Effect.succeed((res.statusCode ?? 500) < 400))
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", () => resume(Effect.succeed(false)))
    req.end()
    return Effect.sync(() => req.destroy())
  })

/** True when something accepts TCP connections on 127.0.0.1:<port>. */
const tcpProbe = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = new Socket()
    socket.setTimeout(1000)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("timeout", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
    socket.connect(port, podIP)
    return Effect.sync(() => socket.destroy())
  })

const signalGroup = (child: ChildProcess, signal: NodeJS.Signals): void => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    try {
      child.kill(signal)
    } catch {
      // already gone
    }
  }
}

export const make = (options: ProcessKubeletOptions): Effect.Effect<void, never, MemoryCluster | Scope.Scope> =>
  Effect.gen(function* () {
    const cluster = yield* MemoryCluster
    const api: KubeApiService = cluster.direct
    const namespace = options.namespace
    const imageBinary = options.imageBinary ?? "/app/runtime"
    const initialBackoff = Duration.decode(options.initialBackoff ?? "1 second")
    const maxBackoff = Duration.decode(options.maxBackoff ?? "30 seconds")
    const probeInterval = Duration.decode(options.probeInterval ?? "200 millis")
    const runs = new Map<string, PodRun>()
    const fibers = yield* FiberMap.make<string>()
    const iso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

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
    const publish = (run: PodRun) =>
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
        return api.patchStatus("Pod", namespace, run.name, status)
      }).pipe(Effect.ignore)

    /** The env of one container: the node's, the spec's (resolved, paths rewritten), the mapped ports. */
    const resolveEnv = (run: PodRun, container: Container, rewrite: (value: string) => string) =>
      Effect.gen(function* () {
        const env: Record<string, string> = {}
        for (const name of options.inheritEnv ?? defaultInherit) {
          const value = process.env[name]
          if (value !== undefined) env[name] = value
        }
        Object.assign(env, options.env ?? {})
        for (const [inside, variable] of pathVariables) {
          const outside = rewrite(inside)
          if (outside !== inside) env[variable] = outside
        }
        for (const port of container.ports ?? []) {
          const variable = portVariables[port.containerPort]
          const host = run.ports.get(port.containerPort)
          if (variable !== undefined && host !== undefined) env[variable] = String(host)
        }
        for (const variable of container.env ?? []) {
          const value = yield* envValue(run, variable)
          if (value !== undefined) env[variable.name] = rewrite(value)
        }
        return env
      })

    const envValue = (run: PodRun, variable: EnvVar) =>
      Effect.gen(function* () {
        if (variable.value !== undefined) return variable.value
        const secretRef = variable.valueFrom?.secretKeyRef
        if (secretRef !== undefined) {
          const secret = yield* api
            .get("Secret", namespace, secretRef.name)
            .pipe(Effect.catchAll(() => Effect.succeed(undefined)))
          const encoded = secret?.data?.[secretRef.key]
          if (encoded !== undefined) return Buffer.from(encoded, "base64").toString("utf8")
          if (secretRef.optional === true) return undefined
          return yield* Effect.fail(
            `secret ${JSON.stringify(secretRef.name)} ${secret === undefined ? "not found" : `has no key ${JSON.stringify(secretRef.key)}`}`
          )
        }
        const field = variable.valueFrom?.fieldRef?.fieldPath
        if (field === "metadata.name") return run.name
        if (field === "metadata.namespace") return namespace
        if (field === "status.podIP" || field === "status.hostIP") return podIP
        if (field === "spec.nodeName") return nodeName
        return ""
      })

    /** Rewrites in-container paths (the container's mounts, the image binary) to this machine's. */
    const rewriter = (run: PodRun, container: Container) => {
      const mounts = [...(container.volumeMounts ?? [])]
        .map((m) => [m.mountPath.replace(/\/+$/, ""), path.join(run.dir, m.name)] as const)
        .sort((a, b) => b[0].length - a[0].length)
      return (value: string): string => {
        for (const [inside, outside] of mounts) {
          if (value === inside) return outside
          if (value.startsWith(`${inside}/`)) return outside + value.slice(inside.length)
        }
        return value
      }
    }

    const commandOf = (run: PodRun, container: Container, rewrite: (value: string) => string) => {
      const argv = [...(container.command ?? []), ...(container.args ?? [])].map((arg) => {
        const port = /^\d+$/.test(arg) ? run.ports.get(Number(arg)) : undefined
        return port !== undefined ? String(port) : rewrite(arg)
      })
      const [first = "", ...rest] = argv
      return first === imageBinary
        ? { file: options.runtime.file, args: [...options.runtime.args, ...rest] }
        : { file: first, args: rest }
    }

    /** Starts the process (its own process group); it is killed when the scope closes, if still running. */
    const spawnContainer = (
      run: PodRun,
      container: Container,
      env: Record<string, string>,
      rewrite: (value: string) => string,
      log: WriteStream,
      collectLogs: boolean
    ) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const { file, args } = commandOf(run, container, rewrite)
          const cwd = container.workingDir === undefined ? run.dir : rewrite(container.workingDir)
          const child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
          const exited = new Promise<{ code: number; reason: string }>((resolve) => {
            child.once("error", (error) => {
              log.write(`kubelet: cannot start ${file}: ${error.message}\n`)
              resolve({ code: 128, reason: "StartError" })
            })
            child.once("close", (code, signal) =>
              resolve({ code: code ?? (signal === null ? 1 : 128 + 9), reason: code === 0 ? "Completed" : "Error" })
            )
          })
          const forward = (chunk: Buffer) => {
            log.write(chunk)
            if (collectLogs) Effect.runSync(cluster.appendLog(namespace, run.name, container.name, chunk.toString()))
          }
          child.stdout?.on("data", forward)
          child.stderr?.on("data", forward)
          return { child, exited }
        }),
        ({ child }) =>
          Effect.sync(() => {
            signalGroup(child, "SIGKILL")
          })
      )

    /** SIGTERM to the group, up to the grace deadline, then SIGKILL; resolves when it has exited. */
    const stopProcess = (run: PodRun, child: ChildProcess, exited: Promise<{ code: number; reason: string }>) =>
      Effect.gen(function* () {
        signalGroup(child, "SIGTERM")
        const deadline = yield* Ref.get(run.graceDeadline)
        const now = yield* Clock.currentTimeMillis
        const wait = Math.max(deadline - now, 2000)
        const done = yield* Effect.promise(() => exited).pipe(Effect.timeout(Duration.millis(wait)), Effect.option)
        if (Option.isSome(done)) return done.value
        signalGroup(child, "SIGKILL")
        return yield* Effect.promise(() => exited)
      })

    /** Runs one container until it ends for good or the Pod stops it, restarting it per policy. */
    const runContainer = (run: PodRun, container: Container, kind: Kind, stop: Deferred.Deferred<void>) =>
      Effect.gen(function* () {
        const state = run.containers.get(container.name)
        if (state === undefined) return 0
        const rewrite = rewriter(run, container)
        const policy = kind === "sidecar" ? "Always" : kind === "init" ? "OnFailure" : yield* podPolicy(run)
        const logFile = path.join(run.dir, "logs", `${container.name}.log`)
        const log = yield* Effect.acquireRelease(
          Effect.sync(() => createWriteStream(logFile, { flags: "a" })),
          (stream) => Effect.async<void>((resume) => void stream.end(() => resume(Effect.void)))
        )
        const collectLogs = policy !== "Always"
        let backoff = initialBackoff
        let lastCode = 0
        while (!(yield* Deferred.isDone(stop))) {
          const env = yield* Effect.either(resolveEnv(run, container, rewrite))
          if (env._tag === "Left") {
            state.state = { waiting: { reason: "CreateContainerConfigError", message: env.left } }
            yield* publish(run)
            yield* Deferred.await(stop).pipe(Effect.timeout("1 second"), Effect.ignore)
            continue
          }
          const startedAt = yield* Clock.currentTimeMillis
          const outcome = yield* Effect.scoped(
            Effect.gen(function* () {
              const { child, exited } = yield* spawnContainer(run, container, env.right, rewrite, log, collectLogs)
              state.state = { running: { startedAt: new Date(startedAt).toISOString() } }
              state.started = kind !== "sidecar" || container.startupProbe === undefined
              state.ready = state.started && (container.ports ?? []).length === 0
              yield* publish(run)
              const probing = yield* Effect.forkScoped(probe(run, container, kind, state, child))
              const ended = Effect.map(
                Effect.promise(() => exited),
                (result) => ({ ...result, stopped: false })
              )
              const stopped = Effect.andThen(Deferred.await(stop), () =>
                Effect.map(stopProcess(run, child, exited), (result) => ({ ...result, stopped: true }))
              )
              const result = yield* Effect.raceFirst(ended, stopped)
              yield* Fiber.interrupt(probing)
              return result
            })
          )
          lastCode = outcome.code
          state.ready = false
          state.state = {
            terminated: {
              exitCode: outcome.code,
              reason: outcome.reason,
              finishedAt: yield* iso
            }
          }
          yield* publish(run)
          if (outcome.stopped) break
          const restart = policy === "Always" || (policy === "OnFailure" && outcome.code !== 0)
          if (!restart) break
          const ranFor = (yield* Clock.currentTimeMillis) - startedAt
          if (ranFor > 60_000) backoff = initialBackoff
          state.restartCount++
          state.state = {
            waiting: {
              reason: "CrashLoopBackOff",
              message: `back-off ${Duration.format(backoff)} restarting failed container=${container.name} pod=${run.name}`
            }
          }
          yield* publish(run)
          yield* Deferred.await(stop).pipe(Effect.timeout(backoff), Effect.ignore)
          backoff = Duration.min(Duration.times(backoff, 2), maxBackoff)
        }
        return lastCode
      }).pipe(Effect.scoped)

    const podPolicy = (run: PodRun) =>
      Effect.map(
        api.get("Pod", namespace, run.name).pipe(Effect.option),
        (pod) => Option.getOrUndefined(pod)?.spec.restartPolicy ?? "Always"
      )

    /** Startup probe of a sidecar (its failure kills the container), readiness of a container with ports. */
    const probe = (run: PodRun, container: Container, kind: Kind, state: ContainerRun, child: ChildProcess) =>
      Effect.gen(function* () {
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
          yield* publish(run)
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
        yield* publish(run)
      })

    const allSidecarsStarted = (run: PodRun): boolean =>
      [...run.containers.values()].filter((c) => c.kind === "sidecar").every((c) => c.started)

    const runPod = (pod: Pod) =>
      Effect.gen(function* () {
        const run = runs.get(pod.metadata.name)
        if (run === undefined) return
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
        yield* publish(run)

        const inits = pod.spec.initContainers ?? []
        const sidecars = inits.filter((c) => c.restartPolicy === "Always")
        const sidecarFibers: Array<Fiber.RuntimeFiber<number>> = []
        for (const container of inits) {
          if (container.restartPolicy === "Always") {
            sidecarFibers.push(yield* Effect.fork(runContainer(run, container, "sidecar", run.stopSidecars)))
          } else {
            const code = yield* runContainer(run, container, "init", run.stopMain)
            if (code !== 0 || (yield* Deferred.isDone(run.stopMain))) {
              run.phase = code !== 0 ? "Failed" : run.phase
              yield* Deferred.succeed(run.stopSidecars, undefined)
              yield* Fiber.joinAll(sidecarFibers)
              yield* publish(run)
              return
            }
          }
        }
        if (sidecars.length === 0 || sidecars.every((c) => c.startupProbe === undefined))
          yield* Deferred.succeed(run.sidecarsReady, undefined)
        yield* Effect.raceFirst(Deferred.await(run.sidecarsReady), Deferred.await(run.stopMain))
        if (!(yield* Deferred.isDone(run.stopMain))) {
          run.phase = "Running"
          const codes = yield* Effect.forEach(pod.spec.containers, (c) => runContainer(run, c, "main", run.stopMain), {
            concurrency: "unbounded"
          })
          if (!run.terminating) run.phase = codes.every((code) => code === 0) ? "Succeeded" : "Failed"
        }
        yield* Deferred.succeed(run.stopSidecars, undefined)
        yield* Fiber.joinAll(sidecarFibers)
        yield* publish(run)
      })

    /** Stops the Pod's containers gracefully: main containers first, then the sidecars. */
    const stopPod = (run: PodRun, graceSeconds: number) =>
      Effect.gen(function* () {
        if (run.terminating) return
        run.terminating = true
        yield* Ref.set(run.graceDeadline, (yield* Clock.currentTimeMillis) + graceSeconds * 1000)
        yield* Deferred.succeed(run.stopMain, undefined)
      })

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
        const run: PodRun = {
          name,
          uid,
          dir: path.join(options.podsDir, `${name}-${uid.slice(-12)}`),
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
        runs.set(name, run)
        yield* FiberMap.run(
          fibers,
          uid,
          runPod(pod).pipe(
            Effect.catchAllCause((cause) => Effect.logWarning(`dev kubelet: Pod ${name} failed to run`, cause))
          )
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

    yield* Effect.promise(() => rm(options.podsDir, { recursive: true, force: true }))
    yield* Effect.promise(() => mkdir(options.podsDir, { recursive: true }))

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
export const layer = (options: ProcessKubeletOptions): Layer.Layer<never, never, MemoryCluster> =>
  Layer.scopedDiscard(make(options))
