/** The EventRecorder against the fake cluster: aggregation into a series, the per-object rate limit, the queue. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import type { ObjectReference } from "../../../src/domain/Kube.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as EventRecorder from "../../../src/programs/controller/EventRecorder.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { ns, settle } from "./ControllerEnv.ts"

const env = Layer.mergeAll(MemoryKubeApi.layer(), Metrics.layer)

const recorder = (tuning: Partial<EventRecorder.EventRecorderTuning> = {}) =>
  EventRecorder.make(
    { namespace: ns, controller: "bot", reportingInstance: "replica-1" },
    { ...EventRecorder.defaultTuning, ...tuning }
  )

const pod = (name: string, uid = `uid-${name}`): ObjectReference => ({
  apiVersion: "v1",
  kind: "Pod",
  name,
  namespace: ns,
  uid
})

const crashed = (regarding: ObjectReference, note = "The Pod ended (phase Failed)"): EventRecorder.EventInput => ({
  regarding,
  type: "Warning",
  reason: "TerminalPhase",
  action: "Delete",
  note
})

const events = Effect.flatMap(MemoryCluster, (c) => c.events(ns))

const outcomes = Effect.flatMap(Metrics, (m) =>
  Effect.promise(async () => {
    const metric = await m.kubeEvents.get()
    return Object.fromEntries(metric.values.map((v) => [String(v.labels.outcome), v.value]))
  })
)

describe("EventRecorder", () => {
  it.scoped("the same Event 20 times within the window is one Event whose series counts 20", () =>
    Effect.gen(function* () {
      const events$ = yield* recorder()
      for (let i = 0; i < 20; i++) {
        yield* events$.record(crashed(pod("bot-a")))
        yield* settle
        yield* TestClock.adjust("10 seconds")
      }
      yield* settle
      const written = yield* events
      expect(written).toHaveLength(1)
      expect(written[0]?.series?.count).toBe(20)
      expect(written[0]?.series?.lastObservedTime).toBe("1970-01-01T00:03:10.000000Z")
      expect(written[0]?.eventTime).toBe("1970-01-01T00:00:00.000000Z")
      expect(written[0]?.reportingController).toBe("the0.app/runtime")
      expect(written[0]?.reportingInstance).toBe("replica-1")
      expect(written[0]?.regarding).toEqual(pod("bot-a"))
      expect(yield* outcomes).toEqual({ created: 1, patched: 19 })
    }).pipe(Effect.provide(env))
  )

  it.scoped("repeats recorded before the writer runs are one create carrying the count", () =>
    Effect.gen(function* () {
      const events$ = yield* recorder()
      for (let i = 0; i < 5; i++) yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      const written = yield* events
      expect(written.map((e) => e.series?.count)).toEqual([5])
      expect(yield* outcomes).toEqual({ created: 1 })
    }).pipe(Effect.provide(env))
  )

  it.scoped("a repeat after the window, another note or another object is another Event", () =>
    Effect.gen(function* () {
      const events$ = yield* recorder()
      yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      yield* TestClock.adjust("6 minutes")
      yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      expect((yield* events).map((e) => e.series?.count ?? 1)).toEqual([2])
      yield* TestClock.adjust("6 minutes")
      yield* TestClock.adjust("1 second")
      yield* events$.record(crashed(pod("bot-a")))
      yield* events$.record(crashed(pod("bot-a"), "The Pod ended (phase Unknown)"))
      yield* events$.record(crashed(pod("bot-a", "uid-2")))
      yield* settle
      const written = yield* events
      expect(written).toHaveLength(4)
      expect(new Set(written.map((e) => e.metadata.name)).size).toBe(4)
      expect(written.map((e) => e.series?.count ?? 1)).toEqual([2, 1, 1, 1])
    }).pipe(Effect.provide(env))
  )

  it.scoped(
    "an object gets 25 Events at once, then one per 5 minutes; a Pod recreated under its name counts as one",
    () =>
      Effect.gen(function* () {
        const events$ = yield* recorder()
        for (let i = 0; i < 30; i++) {
          yield* events$.record(crashed(pod("bot-a", `uid-${i}`)))
          yield* settle
        }
        yield* events$.record(crashed(pod("bot-b")))
        yield* settle
        expect((yield* events).filter((e) => e.regarding.name === "bot-a")).toHaveLength(25)
        expect((yield* events).filter((e) => e.regarding.name === "bot-b")).toHaveLength(1)
        expect(yield* outcomes).toEqual({ created: 26, throttled: 5 })
        yield* TestClock.adjust("5 minutes")
        yield* events$.record(crashed(pod("bot-a", "uid-30")))
        yield* events$.record(crashed(pod("bot-a", "uid-31")))
        yield* settle
        expect((yield* events).filter((e) => e.regarding.name === "bot-a")).toHaveLength(26)
      }).pipe(Effect.provide(env))
  )

  it.scoped("a repeat the rate limit holds back is written by a later flush", () =>
    Effect.gen(function* () {
      const events$ = yield* recorder()
      for (let i = 0; i < 25; i++) {
        yield* events$.record(crashed(pod("bot-a"), `note ${i}`))
        yield* settle
      }
      yield* events$.record(crashed(pod("bot-a"), "note 0"))
      yield* settle
      const first = (yield* events).find((e) => e.note === "note 0")
      expect(first?.series).toBeUndefined()
      yield* TestClock.adjust("5 minutes")
      yield* settle
      expect((yield* events).find((e) => e.note === "note 0")?.series?.count).toBe(2)
    }).pipe(Effect.provide(env))
  )

  it.scoped("a failing Event API is counted, fails no caller, and the next occurrence is created afresh", () =>
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster
      const events$ = yield* recorder()
      yield* cluster.failNext({ verb: "createEvent", times: 1, code: 500 })
      yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      expect(yield* events).toEqual([])
      expect(yield* outcomes).toEqual({ error: 1 })
      yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      expect((yield* events).map((e) => e.series?.count ?? 1)).toEqual([1])
    }).pipe(Effect.provide(env))
  )

  it.scoped("a patch of an Event that expired starts a new one at the next repeat", () =>
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster
      const events$ = yield* recorder()
      yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      yield* cluster.failNext({ verb: "patchEventSeries", times: 1, code: 404 })
      yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      yield* events$.record(crashed(pod("bot-a")))
      yield* settle
      expect((yield* events).map((e) => e.series?.count ?? 1)).toEqual([1, 1])
    }).pipe(Effect.provide(env))
  )

  it.scoped("with the writer stuck, a full queue drops new Events and counts them; recording returns at once", () =>
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster
      const events$ = yield* recorder({ queueCapacity: 4, writeTimeout: "1 hour" })
      yield* cluster.setLatency(60_000)
      yield* events$.record(crashed(pod("bot-0")))
      yield* settle
      // one taken by the writer, four waiting, five dropped
      for (let i = 1; i < 10; i++) yield* events$.record(crashed(pod(`bot-${i}`)))
      expect((yield* outcomes).dropped).toBe(5)
      yield* TestClock.adjust("5 minutes")
      yield* settle
      expect(yield* events).toHaveLength(5)
    }).pipe(Effect.provide(env))
  )

  it.scoped("an object given by name is read once for its uid", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const lease = yield* api.create("Lease", ns, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: "the0-runtime-controller" },
        spec: {}
      })
      const events$ = yield* recorder()
      const regarding = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", name: "the0-runtime-controller" }
      yield* events$.record({ regarding, type: "Warning", reason: "MassDeletionRefused", action: "Delete", note: "a" })
      yield* events$.record({ regarding, type: "Warning", reason: "MassDeletionRefused", action: "Delete", note: "b" })
      yield* settle
      expect((yield* events).map((e) => e.regarding.uid)).toEqual([lease.metadata.uid, lease.metadata.uid])
      expect((yield* (yield* MemoryCluster).callCounts).get).toBe(1)
    }).pipe(Effect.provide(env))
  )

  it("Event names are the regarding name and a hex time, cut to a valid name", () => {
    expect(EventRecorder.eventName("bot-a", 255n)).toBe("bot-a.ff")
    const long = `${"a".repeat(234)}-${"b".repeat(30)}`
    const name = EventRecorder.eventName(long, 1n)
    expect(name.length).toBeLessThanOrEqual(253)
    expect(name).toMatch(/^a+\.1$/)
  })
})
