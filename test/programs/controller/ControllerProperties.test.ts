/**
 * Property tests over random histories (DESIGN §6): bot changes, Pod crashes, API faults, dropped watches,
 * store outages and controller restarts, on the fake cluster. Invariants: at most one Pod per bot at any
 * time; no healthy Pod deleted while the store cannot be read; convergence to exactly the desired set once
 * the faults stop; and a pass with nothing changed makes no API writes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, TestClock } from "effect"
import * as fc from "fast-check"
import { Annotation, Label } from "../../../src/domain/Labels.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import * as Manager from "../../../src/programs/controller/Manager.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { bot, ns, settings, settle, world } from "./ControllerEnv.ts"

const ids = ["a", "b", "c", "d"] as const

type Step =
  | { readonly _tag: "put"; readonly id: string; readonly risk: number; readonly enabled: boolean }
  | { readonly _tag: "remove"; readonly id: string }
  | { readonly _tag: "crash"; readonly id: string }
  | { readonly _tag: "fault"; readonly verb: "create" | "delete" | "list" | "watch"; readonly times: number }
  | { readonly _tag: "dropWatches" }
  /** Toggles a store outage. */
  | { readonly _tag: "outage" }
  | { readonly _tag: "restart" }
  | { readonly _tag: "tick"; readonly seconds: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("put" as const),
      id: fc.constantFrom(...ids),
      risk: fc.integer({ min: 0, max: 2 }),
      enabled: fc.boolean()
    })
  },
  fc.record({ _tag: fc.constant("remove" as const), id: fc.constantFrom(...ids) }),
  fc.record({ _tag: fc.constant("crash" as const), id: fc.constantFrom(...ids) }),
  fc.record({
    _tag: fc.constant("fault" as const),
    verb: fc.constantFrom("create" as const, "delete" as const, "list" as const, "watch" as const),
    times: fc.integer({ min: 1, max: 3 })
  }),
  fc.constant({ _tag: "dropWatches" as const }),
  { weight: 2, arbitrary: fc.constant({ _tag: "outage" as const }) },
  fc.constant({ _tag: "restart" as const }),
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("tick" as const), seconds: fc.constantFrom(1, 5, 30) }) }
)

/** Terminating Pods go at once, or after their grace period (60 s) on the test clock, as a real kubelet's. */
const env = (graceful: boolean) =>
  Layer.merge(world({ autoRun: true, autoTerminate: !graceful }), MemoryEventBus.layerWithControl)

/** What is in the cluster, read past the fault injector. */
const pods = Effect.flatMap(MemoryCluster, (cluster) => cluster.direct.list("Pod", ns)).pipe(Effect.map((l) => l.items))

const podsPerBot = Effect.map(pods, (items) => {
  const counts = new Map<string, number>()
  for (const p of items) {
    const id = p.metadata.labels?.[Label.botId] ?? ""
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
})

const healthyUids = Effect.map(pods, (items) =>
  items
    .filter((p) => p.status?.phase === "Running" && p.metadata.deletionTimestamp === undefined)
    .map((p) => p.metadata.uid ?? "")
)

const history = (steps: ReadonlyArray<Step>, graceful: boolean) =>
  Effect.gen(function* () {
    const store = yield* BotStore
    const storeControl = yield* MemoryBotStore.MemoryBotStore
    const cluster = yield* MemoryCluster
    const kubelet = yield* SimulatedKubelet
    let scope = yield* Scope.make()
    let manager = yield* Manager.make(settings).pipe(Scope.extend(scope))
    let down = false
    let healthyAtOutage: ReadonlyArray<string> = []
    const crashedDuringOutage = new Set<string>()
    yield* settle

    for (const s of steps) {
      switch (s._tag) {
        case "put": {
          const doc = bot(s.id, { risk: s.risk, ...(s.enabled ? {} : { enabled: false }) })
          const written = yield* Effect.either(
            store.bots.upsert(s.id, { config: doc.config ?? {}, custom: doc.custom ?? {} })
          )
          if (written._tag === "Right") yield* manager.bots.notify(s.id)
          break
        }
        case "remove":
          if ((yield* Effect.either(store.bots.remove(s.id)))._tag === "Right") yield* manager.bots.notify(s.id)
          break
        case "crash": {
          const pod = (yield* pods).find(
            (p) => p.metadata.labels?.[Label.botId] === s.id && p.metadata.deletionTimestamp === undefined
          )
          if (pod !== undefined) {
            crashedDuringOutage.add(pod.metadata.uid ?? "")
            yield* Effect.ignore(kubelet.failPod(ns, pod.metadata.name, "Evicted"))
          }
          break
        }
        case "fault":
          yield* cluster.failNext({ verb: s.verb, times: s.times, code: 500 })
          break
        case "dropWatches":
          yield* cluster.dropWatches("error")
          break
        case "outage":
          down = !down
          if (down) {
            healthyAtOutage = yield* healthyUids
            crashedDuringOutage.clear()
          }
          yield* storeControl.setDown(down)
          break
        case "restart":
          yield* Scope.close(scope, Exit.void)
          scope = yield* Scope.make()
          manager = yield* Manager.make(settings).pipe(Scope.extend(scope))
          break
        case "tick":
          yield* TestClock.adjust(`${s.seconds} seconds`)
          break
      }
      yield* settle
      for (const [id, n] of yield* podsPerBot) expect(n, `Pods of bot ${id}`).toBeLessThanOrEqual(1)
      if (down) {
        const now = new Set(yield* healthyUids)
        const lost = healthyAtOutage.filter((uid) => !now.has(uid) && !crashedDuringOutage.has(uid))
        expect(lost, "healthy Pods deleted while the store could not be read").toEqual([])
      }
    }

    yield* storeControl.setDown(false)
    yield* cluster.clearFaults
    for (let i = 0; i < 12; i++) {
      yield* TestClock.adjust("30 seconds")
      yield* settle
    }
    const desired = new Map<string, string>()
    for (const id of ids) {
      const found = yield* store.bots.get(id)
      if (found._tag === "Some" && found.value.config?.enabled !== false) {
        const built = botPods.build(settings.manifest, found.value)
        if (built._tag === "Right") desired.set(id, built.right.metadata.annotations?.[Annotation.configHash] ?? "")
      }
    }
    const running = yield* pods
    expect(running.map((p) => p.metadata.labels?.[Label.botId]).sort()).toEqual([...desired.keys()].sort())
    for (const p of running) {
      expect(p.metadata.annotations?.[Annotation.configHash]).toBe(desired.get(p.metadata.labels?.[Label.botId] ?? ""))
      expect(p.status?.phase).toBe("Running")
    }
    yield* cluster.resetCallCounts
    yield* manager.bots.resync
    for (const id of ids) yield* manager.bots.reconcile(id)
    yield* settle
    const calls = yield* cluster.callCounts
    expect(calls.create + calls.update + calls.delete + calls.patchStatus).toBe(0)
    yield* Scope.close(scope, Exit.void)
  }).pipe(Effect.scoped, Effect.provide(env(graceful)))

describe("controller properties", () => {
  it.effect.prop(
    "random histories, with immediate or graceful termination, converge, never double a Pod, never delete on a failed read",
    [fc.array(step, { minLength: 1, maxLength: 4 }), fc.array(step, { maxLength: 25 }), fc.boolean()],
    ([setup, steps, graceful]) =>
      history(
        [
          ...setup.map((s): Step => (s._tag === "put" ? s : { _tag: "put", id: "a", risk: 0, enabled: true })),
          { _tag: "tick", seconds: 1 },
          ...steps
        ],
        graceful
      ),
    {
      fastCheck: { numRuns: 20 },
      timeout: 180_000
    }
  )
})
