/**
 * Property tests over random histories: bot changes, Pod crashes, API faults, dropped watches,
 * store outages, controller restarts, runtime image changes (a restart with new settings) and bulk deletions
 * behind the store's back, on the fake cluster, with more bots than the mass-delete floor. Invariants: at most
 * one Pod per bot at any time; no healthy Pod deleted while the store cannot be read; a template roll takes
 * at most `rollLimit` bots down at a time; no Pod of a bot gone from the store deleted while the mass-delete
 * guard refuses; convergence to exactly the desired set, every Pod on the current image, once the faults stop;
 * a pass with nothing changed makes no API writes; and a bulk deletion is refused exactly when it is more than
 * max(10, 50 %) of the managed bots, its Pods going when it is not (or when the operator allows it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, TestClock } from "effect"
import * as fc from "fast-check"
import { Annotation, Label } from "../../../src/domain/Labels.ts"
import { massDeleteThreshold } from "../../../src/domain/MassDelete.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import type { ControllerSettings } from "../../../src/programs/controller/ControllerSettings.ts"
import * as Manager from "../../../src/programs/controller/Manager.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { settings as baseSettings, bot, ns, settle, world } from "./ControllerEnv.ts"

/** More bots than twice the mass-delete floor (10), so both sides of the threshold can be reached. */
const ids = Array.from({ length: 24 }, (_, i) => `b${String(i).padStart(2, "0")}`)
const images = ["runtime:test", "runtime:v2", "runtime:v3"] as const
const rollLimit = 3
const settingsFor = (image: string, allowMassDelete = false): ControllerSettings => ({
  ...baseSettings,
  rollLimit,
  allowMassDelete,
  manifest: { ...baseSettings.manifest, runtimeImage: image }
})

type Step =
  | { readonly _tag: "put"; readonly id: string; readonly risk: number; readonly enabled: boolean }
  | { readonly _tag: "remove"; readonly id: string }
  | { readonly _tag: "crash"; readonly id: string }
  | { readonly _tag: "fault"; readonly verb: "create" | "delete" | "list" | "watch"; readonly times: number }
  | { readonly _tag: "dropWatches" }
  /** Toggles a store outage. */
  | { readonly _tag: "outage" }
  | { readonly _tag: "restart" }
  /** A template-only change: the manager restarts with another runtime image. */
  | { readonly _tag: "image"; readonly image: string }
  /** Many bots deleted or disabled at once behind the controller's back (no notification), from `offset` on. */
  | { readonly _tag: "bulk"; readonly op: "remove" | "disable"; readonly count: number; readonly offset: number }
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
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("image" as const), image: fc.constantFrom(...images) }) },
  fc.record({
    _tag: fc.constant("bulk" as const),
    op: fc.constantFrom("remove" as const, "disable" as const),
    count: fc.integer({ min: 5, max: 20 }),
    offset: fc.integer({ min: 0, max: ids.length - 1 })
  }),
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

/** Bot id → uid of its Running Pod that is not terminating. */
const healthyByBot = Effect.map(pods, (items) => {
  const healthy = new Map<string, string>()
  for (const p of items)
    if (p.status?.phase === "Running" && p.metadata.deletionTimestamp === undefined)
      healthy.set(p.metadata.labels?.[Label.botId] ?? "", p.metadata.uid ?? "")
  return healthy
})

/** The ids with an enabled document, read past the outage switch. */
const enabledIds = Effect.flatMap(MemoryBotStore.MemoryBotStore, (control) => control.rawDocuments("bots")).pipe(
  Effect.map(
    (docs) =>
      new Set(
        docs
          .filter((d) => (d.config as { enabled?: unknown } | undefined)?.enabled !== false)
          .map((d) => String(d.id ?? d._id))
      )
  )
)

/** The deletion the final phase makes once everything has converged: `delta` around the threshold. */
interface Bulk {
  readonly op: "remove" | "disable"
  readonly delta: number
  readonly offset: number
}

const history = (steps: ReadonlyArray<Step>, graceful: boolean, finalBulk: Bulk) =>
  Effect.gen(function* () {
    const store = yield* BotStore
    const storeControl = yield* MemoryBotStore.MemoryBotStore
    const cluster = yield* MemoryCluster
    const kubelet = yield* SimulatedKubelet
    let settings = settingsFor(images[0])
    let scope = yield* Scope.make()
    let manager = yield* Manager.make(settings).pipe(Scope.extend(scope))
    let down = false
    let healthyAtOutage: ReadonlyArray<string> = []
    const crashedDuringOutage = new Set<string>()
    /** Healthy Pods when the running manager started, and the bots changed since (their Pods may go for that). */
    let healthyAtStart = new Map<string, string>()
    const touched = new Set<string>()
    /** Pods of bots without an enabled document at the last check, while the guard refused, and Pods crashed since. */
    let guarded: ReadonlyArray<readonly [string, string]> = []
    const crashed = new Set<string>()
    const start = Effect.gen(function* () {
      scope = yield* Scope.make()
      manager = yield* Manager.make(settings).pipe(Scope.extend(scope))
      healthyAtStart = yield* healthyByBot
      touched.clear()
      guarded = []
    })
    const bulk = (op: "remove" | "disable", chosen: ReadonlyArray<string>) =>
      Effect.forEach(chosen, (id) =>
        op === "remove"
          ? Effect.ignore(store.bots.remove(id))
          : Effect.ignore(
              Effect.flatMap(store.bots.get(id), (found) =>
                found._tag === "None"
                  ? Effect.void
                  : store.bots.upsert(id, {
                      config: { ...found.value.config, enabled: false },
                      custom: found.value.custom ?? {}
                    })
              )
            )
      )
    yield* settle

    for (const s of steps) {
      switch (s._tag) {
        case "put": {
          touched.add(s.id)
          const doc = bot(s.id, { risk: s.risk, ...(s.enabled ? {} : { enabled: false }) })
          const written = yield* Effect.either(
            store.bots.upsert(s.id, { config: doc.config ?? {}, custom: doc.custom ?? {} })
          )
          if (written._tag === "Right") yield* manager.bots.notify(s.id)
          break
        }
        case "remove":
          touched.add(s.id)
          if ((yield* Effect.either(store.bots.remove(s.id)))._tag === "Right") yield* manager.bots.notify(s.id)
          break
        case "crash": {
          touched.add(s.id)
          const pod = (yield* pods).find(
            (p) => p.metadata.labels?.[Label.botId] === s.id && p.metadata.deletionTimestamp === undefined
          )
          if (pod !== undefined) {
            crashedDuringOutage.add(pod.metadata.uid ?? "")
            crashed.add(pod.metadata.uid ?? "")
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
          yield* start
          break
        case "image":
          yield* Scope.close(scope, Exit.void)
          settings = settingsFor(s.image)
          yield* start
          break
        case "bulk": {
          const chosen = Array.from({ length: s.count }, (_, i) => ids[(s.offset + i) % ids.length] ?? "")
          for (const id of chosen) touched.add(id)
          yield* bulk(s.op, chosen)
          break
        }
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
      const healthy = yield* healthyByBot
      const enabled = yield* enabledIds
      // a bot healthy when this manager started, and unchanged since, is without a Pod only while it rolls
      const down_ = [...healthyAtStart.keys()].filter((id) => !touched.has(id) && enabled.has(id) && !healthy.has(id))
      expect(down_.length, `bots down for a template roll: ${down_.join(" ")}`).toBeLessThanOrEqual(rollLimit)
      // while the guard refuses, no Pod of a bot gone from the store is deleted
      const live = (yield* pods).filter((p) => p.metadata.deletionTimestamp === undefined)
      const liveUids = new Set(live.map((p) => p.metadata.uid ?? ""))
      if (manager.bots.state().massDeleteBlocked) {
        const lost = guarded.filter(([id, uid]) => !enabled.has(id) && !liveUids.has(uid) && !crashed.has(uid))
        expect(lost, "Pods deleted while the mass-delete guard refused").toEqual([])
        guarded = live
          .map((p) => [p.metadata.labels?.[Label.botId] ?? "", p.metadata.uid ?? ""] as const)
          .filter(([id]) => !enabled.has(id))
      } else guarded = []
    }

    yield* storeControl.setDown(false)
    yield* cluster.clearFaults
    const desired = new Map<string, string>()
    const converged = Effect.gen(function* () {
      desired.clear()
      for (const id of ids) {
        const found = yield* store.bots.get(id)
        if (found._tag === "Some" && found.value.config?.enabled !== false) {
          const built = botPods.build(settings.manifest, found.value)
          if (built._tag === "Right") desired.set(id, built.right.metadata.annotations?.[Annotation.configHash] ?? "")
        }
      }
      const running = yield* pods
      return (
        running.length === desired.size &&
        running.every(
          (p) =>
            p.status?.phase === "Running" &&
            // a Pod still terminating (an earlier roll deleted it) is not converged, whatever its hash
            p.metadata.deletionTimestamp === undefined &&
            p.metadata.annotations?.[Annotation.configHash] === desired.get(p.metadata.labels?.[Label.botId] ?? "")
        )
      )
    })
    // 24 bots rolled `rollLimit` at a time, each old Pod taking its grace period: give it time, stop when done
    // a bulk deletion the guard refuses stays refused: the operator's override lets it through, then is taken back
    let overridden = false
    for (let i = 0; i < 60 && !(i >= 1 && (yield* converged)); i++) {
      if (manager.bots.state().massDeleteBlocked && !overridden) {
        overridden = true
        yield* Scope.close(scope, Exit.void)
        settings = settingsFor(settings.manifest.runtimeImage, true)
        yield* start
      }
      yield* TestClock.adjust("30 seconds")
      yield* settle
    }
    if (overridden) {
      yield* Scope.close(scope, Exit.void)
      settings = settingsFor(settings.manifest.runtimeImage)
      yield* start
      yield* settle
    }
    yield* converged
    const running = yield* pods
    expect(running.map((p) => p.metadata.labels?.[Label.botId]).sort()).toEqual([...desired.keys()].sort())
    for (const p of running) {
      expect(p.metadata.annotations?.[Annotation.configHash]).toBe(desired.get(p.metadata.labels?.[Label.botId] ?? ""))
      expect(p.status?.phase).toBe("Running")
      for (const c of p.spec?.containers ?? [])
        expect(c.image, "every Pod on the current image").toBe(settings.manifest.runtimeImage)
    }
    yield* cluster.resetCallCounts
    yield* manager.bots.resync
    for (const id of ids) yield* manager.bots.reconcile(id)
    yield* settle
    const calls = yield* cluster.callCounts
    expect(calls.create + calls.update + calls.delete + calls.patchStatus).toBe(0)

    // a bulk deletion behind the controller's back, just around the threshold: refused above it, done within it
    const managed = [...desired.keys()]
    if (managed.length > 0) {
      const threshold = massDeleteThreshold(managed.length)
      const count = Math.min(managed.length, Math.max(1, threshold + finalBulk.delta))
      const chosen = Array.from({ length: count }, (_, i) => managed[(finalBulk.offset + i) % managed.length] ?? "")
      const before = yield* healthyByBot
      yield* bulk(finalBulk.op, chosen)
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("30 seconds")
        yield* settle
      }
      const after = yield* healthyByBot
      const left = (yield* pods).map((p) => p.metadata.labels?.[Label.botId] ?? "")
      const kept = managed.filter((id) => !chosen.includes(id))
      for (const id of kept) expect(after.get(id), `bot ${id} untouched`).toBe(before.get(id))
      if (count > threshold) {
        expect(manager.bots.state().massDeleteBlocked, `${count} of ${managed.length} refused`).toBe(true)
        for (const id of chosen) expect(after.get(id), `bot ${id} kept while refused`).toBe(before.get(id))
        // the operator's override lets them go
        yield* Scope.close(scope, Exit.void)
        settings = settingsFor(settings.manifest.runtimeImage, true)
        yield* start
        for (let i = 0; i < 3; i++) {
          yield* TestClock.adjust("30 seconds")
          yield* settle
        }
        expect(manager.bots.state().massDeleteBlocked).toBe(false)
        expect((yield* pods).map((p) => p.metadata.labels?.[Label.botId] ?? "").sort()).toEqual([...kept].sort())
      } else {
        expect(manager.bots.state().massDeleteBlocked, `${count} of ${managed.length} allowed`).toBe(false)
        expect(left.sort(), `${count} of ${managed.length} deleted`).toEqual([...kept].sort())
      }
    }
    yield* Scope.close(scope, Exit.void)
  }).pipe(Effect.scoped, Effect.provide(env(graceful)))

describe("controller properties", () => {
  it.effect.prop(
    "random histories, with immediate or graceful termination, converge, never double a Pod, never delete on a failed read, roll at the limit's pace, and keep the mass-delete guard",
    [
      fc.array(step, { minLength: 1, maxLength: 4 }),
      fc.array(step, { maxLength: 25 }),
      fc.boolean(),
      fc.record({
        op: fc.constantFrom("remove" as const, "disable" as const),
        delta: fc.integer({ min: -2, max: 2 }),
        offset: fc.integer({ min: 0, max: ids.length - 1 })
      })
    ],
    ([setup, steps, graceful, finalBulk]) =>
      history(
        [
          // every bot has a Pod to begin with, so bulk deletions reach both sides of the threshold
          ...ids.map((id): Step => ({ _tag: "put", id, risk: 0, enabled: true })),
          ...setup.map((s): Step => (s._tag === "put" ? s : { _tag: "put", id: ids[0] ?? "", risk: 0, enabled: true })),
          { _tag: "tick", seconds: 1 },
          ...steps
        ],
        graceful,
        finalBulk
      ),
    {
      fastCheck: { numRuns: 12 },
      timeout: 180_000
    }
  )
})
