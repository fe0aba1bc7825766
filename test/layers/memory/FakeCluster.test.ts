/** Behaviour of the fake cluster beyond the shared contract: time, faults, simulators. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Either, Fiber, Layer, Stream, TestClock } from "effect"
import type { Job, Pod } from "../../../src/domain/Kube.ts"
import * as MemoryJobController from "../../../src/layers/memory/MemoryJobController.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryKubelet from "../../../src/layers/memory/MemoryKubelet.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const ns = "the0"

const pod = (name: string, extra: Partial<Pod["spec"]> = {}, labels: Record<string, string> = {}): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels },
  spec: { containers: [{ name: "bot", image: "runtime:latest" }], ...extra }
})

const job = (name: string, backoffLimit: number, ttl?: number): Job => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name },
  spec: {
    backoffLimit,
    ...(ttl === undefined ? {} : { ttlSecondsAfterFinished: ttl }),
    template: {
      metadata: { labels: { app: "q" } },
      spec: { restartPolicy: "Never", containers: [{ name: "bot", image: "x" }] }
    }
  }
})

const base = MemoryKubelet.layer().pipe(Layer.provideMerge(MemoryKubeApi.layer({ bookmarkIntervalMillis: 1000 })))

/** Lets forked fibers (watch consumers, simulators) catch up without moving the clock. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("fake cluster", () => {
  it.scoped("a bound Pod stays Terminating for its grace period on the Effect clock", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const kubelet = yield* SimulatedKubelet
      yield* api.create("Pod", ns, pod("p1", { terminationGracePeriodSeconds: 60 }))
      yield* kubelet.runPod(ns, "p1")
      yield* api.delete("Pod", ns, "p1")
      const terminating = yield* api.get("Pod", ns, "p1")
      expect(terminating.metadata.deletionTimestamp).toBeDefined()
      expect(terminating.metadata.deletionGracePeriodSeconds).toBe(60)
      yield* TestClock.adjust("59 seconds")
      expect((yield* api.get("Pod", ns, "p1")).metadata.name).toBe("p1")
      yield* TestClock.adjust("1 second")
      expect(Either.isLeft(yield* Effect.either(api.get("Pod", ns, "p1")))).toBe(true)
    }).pipe(Effect.provide(base))
  )

  it.live(
    "a graceful deletion made from a finalizer does not hold the fake cluster's teardown for the grace period",
    () =>
      Effect.gen(function* () {
        const started = Date.now()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const api = Context.get(yield* Layer.build(MemoryKubeApi.layer()), KubeApi)
            yield* api.create("Pod", ns, pod("p1", { nodeName: "node-1", terminationGracePeriodSeconds: 3 }))
            yield* Effect.addFinalizer(() => Effect.orDie(api.delete("Pod", ns, "p1")))
          })
        )
        expect(Date.now() - started).toBeLessThan(1000)
      })
  )

  it.scoped("an explicit grace period wins; the kubelet can finish a termination early", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const kubelet = yield* SimulatedKubelet
      yield* api.create("Pod", ns, pod("p2"))
      yield* kubelet.runPod(ns, "p2")
      yield* api.delete("Pod", ns, "p2", { gracePeriodSeconds: 5 })
      expect((yield* api.get("Pod", ns, "p2")).metadata.deletionGracePeriodSeconds).toBe(5)
      yield* kubelet.finishTermination(ns, "p2")
      expect(Either.isLeft(yield* Effect.either(api.get("Pod", ns, "p2")))).toBe(true)
    }).pipe(Effect.provide(base))
  )

  it.scoped("after compaction a watch from an old resourceVersion is Gone (410); from the current one it works", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const control = yield* MemoryCluster
      const first = yield* api.create("Pod", ns, pod("old"))
      yield* api.create("Pod", ns, pod("newer"))
      yield* control.compact
      const gone = yield* Effect.either(
        Stream.runCollect(api.watch("Pod", ns, { resourceVersion: first.metadata.resourceVersion ?? "" }))
      )
      expect(Either.isLeft(gone) && gone.left._tag).toBe("KubeGone")
      expect(Either.isLeft(gone) && gone.left.code).toBe(410)
      const list = yield* api.list("Pod", ns)
      const fiber = yield* api
        .watch("Pod", ns, { resourceVersion: list.resourceVersion })
        .pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* settle
      yield* api.create("Pod", ns, pod("latest"))
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(events.map((e) => ("object" in e ? e.object.metadata.name : e.type))).toEqual(["latest"])
    }).pipe(Effect.provide(base))
  )

  it.scoped("a relabel out of a selector is DELETED for that watch, and back in is ADDED", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const created = yield* api.create("Pod", ns, pod("rl", {}, { team: "a" }))
      const fiber = yield* api
        .watch("Pod", ns, { resourceVersion: created.metadata.resourceVersion ?? "", labelSelector: "team=a" })
        .pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* settle
      const moved = yield* api.update("Pod", ns, {
        ...created,
        metadata: { ...created.metadata, labels: { team: "b" } }
      })
      yield* api.update("Pod", ns, { ...moved, metadata: { ...moved.metadata, labels: { team: "a" } } })
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(events.map((e) => e.type)).toEqual(["DELETED", "ADDED"])
    }).pipe(Effect.provide(base))
  )

  it.scoped("bookmarks carry the latest resourceVersion on the clock", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const list = yield* api.list("Pod", ns)
      const fiber = yield* api
        .watch("Pod", ns, { resourceVersion: list.resourceVersion, allowBookmarks: true })
        .pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* settle
      yield* TestClock.adjust("1 second")
      const [event] = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(event?.type).toBe("BOOKMARK")
    }).pipe(Effect.provide(base))
  )

  it.scoped("injected faults fail the next N calls of a verb with the given status, then clear", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const control = yield* MemoryCluster
      yield* control.failNext({ verb: "create", kind: "Pod", times: 2, code: 503 })
      const a = yield* Effect.either(api.create("Pod", ns, pod("f1")))
      const b = yield* Effect.either(api.create("Pod", ns, pod("f1")))
      expect(Either.isLeft(a) && a.left._tag === "KubeError" && a.left.code).toBe(503)
      expect(Either.isLeft(b) && b.left.reason).toBe("ServiceUnavailable")
      expect((yield* api.create("Pod", ns, pod("f1"))).metadata.name).toBe("f1")
      expect((yield* control.callCounts).create).toBe(3)
    }).pipe(Effect.provide(base))
  )

  it.scoped("a dropped watch fails with a transport error; a silenced watch stays open and gets nothing", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const control = yield* MemoryCluster
      const list = yield* api.list("Pod", ns)
      const dropped = yield* api
        .watch("Pod", ns, { resourceVersion: list.resourceVersion })
        .pipe(Stream.runCollect, Effect.either, Effect.fork)
      yield* settle
      expect(yield* control.openWatches).toBe(1)
      yield* control.dropWatches("error")
      const result = yield* Fiber.join(dropped)
      expect(Either.isLeft(result) && result.left._tag === "KubeError" && result.left.code).toBe(0)
      const silent = yield* api
        .watch("Pod", ns, { resourceVersion: list.resourceVersion })
        .pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* settle
      yield* control.silenceWatches
      yield* api.create("Pod", ns, pod("unseen"))
      yield* settle
      expect(silent.unsafePoll()).toBeNull()
      expect(yield* control.openWatches).toBe(1)
      yield* Fiber.interrupt(silent)
    }).pipe(Effect.provide(base))
  )

  it.scoped("the kubelet restarts a crashed container under restartPolicy Always and fails the Pod under Never", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const kubelet = yield* SimulatedKubelet
      yield* api.create("Pod", ns, pod("always"))
      const running = yield* kubelet.runPod(ns, "always")
      expect(running.status?.phase).toBe("Running")
      expect(running.status?.podIP).toMatch(/^10\.244\./)
      const crashed = yield* kubelet.exitContainer(ns, "always", "bot", 1)
      expect(crashed.status?.phase).toBe("Running")
      expect(crashed.status?.containerStatuses?.[0]?.restartCount).toBe(1)
      yield* api.create("Pod", ns, pod("never", { restartPolicy: "Never" }))
      const failed = yield* kubelet.exitContainer(ns, "never", "bot", 2)
      expect(failed.status?.phase).toBe("Failed")
      expect(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(2)
      yield* api.create("Pod", ns, pod("done", { restartPolicy: "Never" }))
      expect((yield* kubelet.completePod(ns, "done", 0)).status?.phase).toBe("Succeeded")
    }).pipe(Effect.provide(base))
  )

  it.scoped("autoRun runs new Pods and autoTerminate finishes terminations at once", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* settle
      yield* api.create("Pod", ns, pod("auto"))
      yield* settle
      expect((yield* api.get("Pod", ns, "auto")).status?.phase).toBe("Running")
      yield* api.delete("Pod", ns, "auto")
      yield* settle
      expect(Either.isLeft(yield* Effect.either(api.get("Pod", ns, "auto")))).toBe(true)
    }).pipe(
      Effect.provide(
        MemoryKubelet.layer({ autoRun: true, autoTerminate: true }).pipe(Layer.provideMerge(MemoryKubeApi.layer()))
      )
    )
  )

  describe("Job controller", () => {
    const withJobs = Layer.mergeAll(MemoryKubelet.layer(), MemoryJobController.layer(ns)).pipe(
      Layer.provideMerge(MemoryKubeApi.layer())
    )
    const podsOf = (name: string) =>
      Effect.flatMap(KubeApi, (api) => api.list("Pod", ns, { labelSelector: `job-name=${name}` })).pipe(
        Effect.map((l) => l.items)
      )

    it.scoped("a Job gets an owned Pod; its success completes the Job, which is deleted after its TTL", () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const kubelet = yield* SimulatedKubelet
        yield* settle
        yield* api.create("Job", ns, job("q1", 0, 300))
        yield* settle
        const [p] = yield* podsOf("q1")
        expect(p?.metadata.labels?.app).toBe("q")
        expect(p?.metadata.ownerReferences?.[0]?.kind).toBe("Job")
        yield* kubelet.completePod(ns, p?.metadata.name ?? "", 0)
        yield* settle
        const done = yield* api.get("Job", ns, "q1")
        expect(done.status?.succeeded).toBe(1)
        expect(done.status?.conditions?.[0]?.type).toBe("Complete")
        yield* TestClock.adjust("300 seconds")
        yield* settle
        expect(Either.isLeft(yield* Effect.either(api.get("Job", ns, "q1")))).toBe(true)
        expect(yield* podsOf("q1")).toEqual([])
      }).pipe(Effect.provide(withJobs))
    )

    it.scoped("a failed Pod is retried up to backoffLimit, then the Job fails", () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const kubelet = yield* SimulatedKubelet
        yield* settle
        yield* api.create("Job", ns, job("q2", 1))
        yield* settle
        const [first] = yield* podsOf("q2")
        yield* kubelet.completePod(ns, first?.metadata.name ?? "", 1)
        yield* settle
        const pods = yield* podsOf("q2")
        expect(pods.length).toBe(2)
        const second = pods.find((x) => x.metadata.name !== first?.metadata.name)
        yield* kubelet.completePod(ns, second?.metadata.name ?? "", 1)
        yield* settle
        const failed = yield* api.get("Job", ns, "q2")
        expect(failed.status?.failed).toBe(2)
        expect(failed.status?.conditions?.[0]).toMatchObject({ type: "Failed", reason: "BackoffLimitExceeded" })
      }).pipe(Effect.provide(withJobs))
    )

    it.scoped(
      "deleting a Job with Background propagation removes its Pods; the API default for Jobs orphans them",
      () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          yield* settle
          yield* api.create("Job", ns, job("bg", 0))
          yield* api.create("Job", ns, job("orphan", 0))
          yield* settle
          yield* api.delete("Job", ns, "bg", { propagationPolicy: "Background" })
          yield* api.delete("Job", ns, "orphan")
          yield* settle
          expect(yield* podsOf("bg")).toEqual([])
          const [left] = yield* podsOf("orphan")
          expect(left?.metadata.ownerReferences).toEqual([])
        }).pipe(Effect.provide(withJobs))
    )
  })
})
