/**
 * A faithful in-memory Kubernetes API for one cluster: resourceVersions, 404/409/410/422 as the API server
 * answers them, graceful Pod deletion on the Effect Clock, owner-reference propagation, selective watches. What
 * clients call goes through the fault injector (MemoryKubeFaults) and is counted (MemoryKubeCalls); simulators use
 * the same API unguarded. Simulated kubelet and controllers live in MemoryKubelet.
 */
import { Clock, Context, Effect, FiberSet, Layer } from "effect"
import {
  isOwnedBy,
  type Kind,
  type KindMap,
  type KubeEvent,
  type KubeObject,
  type ObjectMeta,
  type Pod,
  type PropagationPolicy
} from "../../domain/Kube.ts"
import { validateObject } from "../../domain/KubeValidation.ts"
import * as LabelSelector from "../../domain/LabelSelector.ts"
import { type DeleteOptions, KubeApi, type KubeApiService, type RequestKind } from "../../services/KubeApi.ts"
import { defaultReason, statusError } from "../../services/KubeStatus.ts"
import { ClusterStore } from "./ClusterStore.ts"
import { EventStore } from "./EventStore.ts"
import { CallCounts, type Verb } from "./MemoryKubeCalls.ts"
import { type Fault, FaultInjector, guarded } from "./MemoryKubeFaults.ts"
import { mergePatch } from "./MergePatch.ts"
import { WatchHub } from "./WatchHub.ts"

/** Test-side handle on the fake cluster: faults, watch trouble, logs, and an unfaulted API for simulators. */
export interface MemoryClusterControl {
  readonly failNext: (fault: Fault) => Effect.Effect<void>
  /** Forgets every pending fault and the latency. */
  readonly clearFaults: Effect.Effect<void>
  readonly setLatency: (millis: number) => Effect.Effect<void>
  /** Ends every open watch, with a transport error (`error`) or as a clean end of stream (`end`). */
  readonly dropWatches: (mode?: "error" | "end") => Effect.Effect<void>
  /** Open watches stop receiving events but stay open, the failure the JS client is known for. */
  readonly silenceWatches: Effect.Effect<void>
  /** Forgets the change history: watches from older resourceVersions get 410 Gone. */
  readonly compact: Effect.Effect<void>
  readonly appendLog: (namespace: string, pod: string, container: string, text: string) => Effect.Effect<void>
  /** The same API without faults or latency, for simulators and assertions. */
  readonly direct: KubeApiService
  /** Calls made through the faultable API, by verb. */
  readonly callCounts: Effect.Effect<Readonly<Record<Verb, number>>>
  readonly resetCallCounts: Effect.Effect<void>
  readonly openWatches: Effect.Effect<number>
  /** The Events written (events.k8s.io/v1), in a namespace, oldest first. */
  readonly events: (namespace: string) => Effect.Effect<ReadonlyArray<KubeEvent>>
}

export class MemoryCluster extends Context.Tag("the0/MemoryCluster")<MemoryCluster, MemoryClusterControl>() {}

export interface MemoryClusterOptions {
  /** Changes kept for watches to resume from (older resourceVersions get 410). */
  readonly historyLimit?: number
  /** How often a watch that asked for bookmarks gets one. */
  readonly bookmarkIntervalMillis?: number
}

const iso = (millis: number): string => new Date(millis).toISOString()

const randomSuffix = (): string => Math.random().toString(36).slice(2, 7).padEnd(5, "x")

const defaultPropagation = (kind: Kind): PropagationPolicy => (kind === "Job" ? "Orphan" : "Background")

export const make = (options: MemoryClusterOptions = {}) =>
  Effect.gen(function* () {
    const store = new ClusterStore(options.historyLimit ?? 100_000)
    const eventStore = new EventStore()
    const fibers = yield* FiberSet.make()
    const hub = new WatchHub(store, options.bookmarkIntervalMillis ?? 10_000)
    const faults = new FaultInjector()
    const calls = new CallCounts()
    const logs = new Map<string, string>()
    const foregroundPending = new Set<string>()

    const fail = (kind: RequestKind, name: string | undefined, code: number, detail: string, reason?: string) =>
      statusError({ kind, name, code, reason: reason ?? defaultReason(code), detail })

    const dependentsOf = (uid: string): Array<{ kind: Kind; object: KubeObject }> =>
      (["Job", "Pod"] as const).flatMap((kind) =>
        store
          .all(kind)
          .filter((o) => isOwnedBy(o, uid))
          .map((object) => ({ kind, object }))
      )

    /** Removes foreground-deleted owners whose dependents are all gone, until no more can go. */
    const finishForeground = () => {
      let progress = true
      while (progress) {
        progress = false
        for (const key of [...foregroundPending]) {
          const [kind, namespace, name] = key.split("/") as [Kind, string, string]
          const owner = store.get(kind, namespace, name)
          if (owner === undefined) foregroundPending.delete(key)
          else if (owner.metadata.uid !== undefined && dependentsOf(owner.metadata.uid).length === 0) {
            foregroundPending.delete(key)
            store.remove(kind, namespace, name)
            progress = true
          }
        }
      }
    }

    const removeNow = (kind: Kind, namespace: string, name: string) => {
      store.remove(kind, namespace, name)
      if (foregroundPending.size > 0) finishForeground()
    }

    const now = Clock.currentTimeMillis

    /** Deletes one object with the given policy; the caller has checked it exists. */
    const deleteObject = (kind: Kind, object: KubeObject, options: DeleteOptions, at: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const namespace = object.metadata.namespace ?? ""
        const name = object.metadata.name
        const uid = object.metadata.uid ?? ""
        const policy = options.propagationPolicy ?? defaultPropagation(kind)
        const dependents = kind === "Pod" ? [] : dependentsOf(uid)
        if (kind === "Pod") return deletePod(object as Pod, options, at)
        if (policy === "Orphan") {
          for (const d of dependents) {
            const refs = (d.object.metadata.ownerReferences ?? []).filter((o) => o.uid !== uid)
            store.put(d.kind, namespace, {
              ...d.object,
              metadata: { ...d.object.metadata, ownerReferences: refs }
            } as KindMap[Kind])
          }
          removeNow(kind, namespace, name)
          return Effect.void
        }
        if (policy === "Foreground" && dependents.length > 0) {
          const finalizers = [...(object.metadata.finalizers ?? []), "foregroundDeletion"]
          const marked = {
            ...object,
            metadata: { ...object.metadata, deletionTimestamp: iso(at), deletionGracePeriodSeconds: 0, finalizers }
          }
          store.put(kind, namespace, marked as KindMap[typeof kind])
          foregroundPending.add(`${kind}/${namespace}/${name}`)
        } else removeNow(kind, namespace, name)
        return Effect.forEach(
          dependents,
          (d) =>
            deleteObject(
              d.kind,
              d.object,
              { propagationPolicy: policy === "Foreground" ? "Foreground" : "Background" },
              at
            ),
          { discard: true }
        )
      })

    const deletePod = (pod: Pod, options: DeleteOptions, at: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const namespace = pod.metadata.namespace ?? ""
        const name = pod.metadata.name
        const grace = options.gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30
        const terminal = pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed"
        if (pod.spec.nodeName === undefined || grace <= 0 || terminal) {
          removeNow("Pod", namespace, name)
          return Effect.void
        }
        if (pod.metadata.deletionTimestamp !== undefined) return Effect.void
        const stored = store.put("Pod", namespace, {
          ...pod,
          metadata: { ...pod.metadata, deletionTimestamp: iso(at + grace * 1000), deletionGracePeriodSeconds: grace }
        })
        const uid = stored.metadata.uid
        return FiberSet.run(
          fibers,
          Effect.sleep(`${grace} seconds`).pipe(
            Effect.andThen(() => {
              if (store.get("Pod", namespace, name)?.metadata.uid === uid) removeNow("Pod", namespace, name)
            }),
            Effect.interruptible
          )
        ).pipe(Effect.asVoid)
      })

    const parseSelector = (kind: Kind, selector: string | undefined) =>
      Effect.try({
        try: () => LabelSelector.parse(selector ?? ""),
        catch: (e) => fail(kind, undefined, 400, String(e))
      })

    const create = <K extends Kind>(kind: K, namespace: string, object: KindMap[K], dryRun: boolean) =>
      Effect.gen(function* () {
        const at = yield* now
        const generated = object.metadata.name === "" || object.metadata.name === undefined
        const name =
          generated && object.metadata.generateName !== undefined
            ? `${object.metadata.generateName}${randomSuffix()}`
            : object.metadata.name
        const candidate = { ...object, metadata: { ...object.metadata, name } } as KindMap[K]
        const violations = validateObject(candidate)
        if (violations.length > 0)
          return yield* Effect.fail(
            statusError({
              kind,
              name,
              code: 422,
              reason: "Invalid",
              detail: `${kind} ${JSON.stringify(name)} is invalid: ${violations.map((v) => `${v.field}: ${v.message}`).join(", ")}`,
              causes: violations
            })
          )
        if (store.get(kind, namespace, name) !== undefined)
          return yield* Effect.fail(
            fail(kind, name, 409, `${kind} ${JSON.stringify(name)} already exists`, "AlreadyExists")
          )
        const metadata: ObjectMeta = {
          ...candidate.metadata,
          name,
          namespace,
          uid: store.nextUid(),
          creationTimestamp: iso(at),
          generation: 1,
          managedFields: [{ manager: "the0-runtime", operation: "Update", time: iso(at) }]
        }
        const withDefaults =
          candidate.kind === "Pod"
            ? {
                ...candidate,
                metadata,
                spec: { restartPolicy: "Always", terminationGracePeriodSeconds: 30, ...candidate.spec },
                status: { phase: "Pending" }
              }
            : { ...candidate, metadata, ...("status" in candidate ? { status: {} } : {}) }
        if (dryRun) return withDefaults as KindMap[K]
        return store.put(kind, namespace, withDefaults as KindMap[K])
      })

    /** What a Pod update may not change: everything but container images, and the node binding once set. */
    const immutablePodSpec = (pod: Pod, bound: boolean): string =>
      JSON.stringify({
        ...pod.spec,
        nodeName: bound ? pod.spec.nodeName : undefined,
        containers: pod.spec.containers.map((c) => ({ ...c, image: "" }))
      })

    const update = <K extends Kind>(kind: K, namespace: string, object: KindMap[K], dryRun: boolean) =>
      Effect.gen(function* () {
        const name = object.metadata.name
        const current = store.get(kind, namespace, name)
        if (current === undefined)
          return yield* Effect.fail(fail(kind, name, 404, `${kind} ${JSON.stringify(name)} not found`))
        const rv = object.metadata.resourceVersion
        if (rv !== undefined && rv !== current.metadata.resourceVersion)
          return yield* Effect.fail(
            fail(
              kind,
              name,
              409,
              `the object has been modified; please apply your changes to the latest version and try again`
            )
          )
        const violations = validateObject(object)
        if (
          current.kind === "Pod" &&
          immutablePodSpec(current, current.spec.nodeName !== undefined) !==
            immutablePodSpec(object as Pod, current.spec.nodeName !== undefined)
        )
          violations.push({
            field: "spec",
            message: "Forbidden: pod updates may not change fields other than the container images"
          })
        if (violations.length > 0)
          return yield* Effect.fail(
            statusError({
              kind,
              name,
              code: 422,
              reason: "Invalid",
              detail: `${kind} ${JSON.stringify(name)} is invalid`,
              causes: violations
            })
          )
        const specChanged =
          JSON.stringify((object as { spec?: unknown }).spec) !== JSON.stringify((current as { spec?: unknown }).spec)
        const next = {
          ...object,
          metadata: {
            ...object.metadata,
            uid: current.metadata.uid,
            creationTimestamp: current.metadata.creationTimestamp,
            generation: (current.metadata.generation ?? 1) + (specChanged ? 1 : 0),
            ...(current.metadata.deletionTimestamp === undefined
              ? {}
              : { deletionTimestamp: current.metadata.deletionTimestamp })
          },
          ...("status" in current ? { status: current.status } : {})
        } as KindMap[K]
        return dryRun ? next : store.put(kind, namespace, next)
      })

    const direct: KubeApiService = {
      get: (kind, namespace, name) =>
        Effect.suspend(() => {
          const object = store.get(kind, namespace, name)
          return object === undefined
            ? Effect.fail(fail(kind, name, 404, `${kind} ${JSON.stringify(name)} not found`))
            : Effect.succeed(object)
        }),
      list: (kind, namespace, opts) =>
        Effect.map(parseSelector(kind, opts?.labelSelector), (selector) => ({
          items: store.list(kind, namespace).filter((o) => LabelSelector.matches(selector, o.metadata.labels)),
          resourceVersion: String(store.resourceVersion)
        })),
      create: (kind, namespace, object, opts) => create(kind, namespace, object, opts?.dryRun === true),
      update: (kind, namespace, object, opts) => update(kind, namespace, object, opts?.dryRun === true),
      patchStatus: (kind, namespace, name, status) =>
        Effect.suspend(() => {
          const current = store.get(kind, namespace, name)
          if (current === undefined)
            return Effect.fail(fail(kind, name, 404, `${kind} ${JSON.stringify(name)} not found`))
          const patched = { ...current, status: mergePatch((current as { status?: unknown }).status, status) }
          return Effect.succeed(store.put(kind, namespace, patched as KindMap[typeof kind]))
        }),
      delete: (kind, namespace, name, opts = {}) =>
        Effect.gen(function* () {
          const object = store.get(kind, namespace, name)
          if (object === undefined)
            return yield* Effect.fail(fail(kind, name, 404, `${kind} ${JSON.stringify(name)} not found`))
          const pre = opts.preconditions
          if (
            (pre?.uid !== undefined && pre.uid !== object.metadata.uid) ||
            (pre?.resourceVersion !== undefined && pre.resourceVersion !== object.metadata.resourceVersion)
          )
            return yield* Effect.fail(fail(kind, name, 409, "Precondition failed"))
          yield* deleteObject(kind, object, opts, yield* now)
        }),
      watch: (kind, namespace, opts) => hub.open(kind, namespace, opts, false),
      podLogs: (namespace, name, opts) =>
        Effect.suspend(() => {
          const pod = store.get("Pod", namespace, name)
          if (pod === undefined) return Effect.fail(fail("PodLog", name, 404, `pods ${JSON.stringify(name)} not found`))
          const names = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.name)
          const container =
            opts?.container ?? (pod.spec.containers.length === 1 ? pod.spec.containers[0]?.name : undefined)
          if (container === undefined || !names.includes(container))
            return Effect.fail(
              fail(
                "PodLog",
                name,
                400,
                `a container name must be specified for pod ${name}, choose one of: [${names.join(" ")}]`
              )
            )
          let text = logs.get(`${namespace}/${name}/${container}`) ?? ""
          if (opts?.tailLines !== undefined)
            text = text
              .split("\n")
              .slice(-(opts.tailLines + 1))
              .join("\n")
          if (opts?.limitBytes !== undefined) text = text.slice(0, opts.limitBytes)
          return Effect.succeed(text)
        }),
      createEvent: (namespace, event) =>
        Effect.flatMap(now, (at) => Effect.suspend(() => eventStore.create(namespace, event, at, store.nextUid()))),
      patchEventSeries: (namespace, name, series) =>
        Effect.flatMap(now, (at) => Effect.suspend(() => eventStore.patchSeries(namespace, name, series, at)))
    }

    const api = guarded(
      direct,
      (kind, namespace, opts) => hub.open(kind, namespace, opts, true),
      (verb, kind) =>
        Effect.zipRight(
          Effect.sync(() => calls.count(verb)),
          faults.before(verb, kind)
        )
    )

    const control: MemoryClusterControl = {
      failNext: (fault) => Effect.sync(() => faults.failNext(fault)),
      clearFaults: Effect.sync(() => faults.clear()),
      setLatency: (millis) => Effect.sync(() => faults.setLatency(millis)),
      dropWatches: (mode = "error") => Effect.sync(() => hub.drop(mode)),
      silenceWatches: Effect.sync(() => hub.silence()),
      compact: Effect.sync(() => store.compact()),
      appendLog: (namespace, pod, container, text) =>
        Effect.sync(() => {
          const key = `${namespace}/${pod}/${container}`
          logs.set(key, (logs.get(key) ?? "") + text)
        }),
      direct,
      callCounts: Effect.sync(() => calls.snapshot()),
      resetCallCounts: Effect.sync(() => calls.reset()),
      openWatches: Effect.sync(() => hub.openFaultable),
      events: (namespace) => Effect.sync(() => eventStore.list(namespace))
    }
    return { api, control }
  })

/** KubeApi and its MemoryCluster control, sharing one fake cluster. */
export const layer = (options: MemoryClusterOptions = {}): Layer.Layer<KubeApi | MemoryCluster> =>
  Layer.scopedContext(
    Effect.map(make(options), ({ api, control }) =>
      Context.make(KubeApi, api).pipe(Context.add(MemoryCluster, control))
    )
  )
