/** The Bot Controller against the fake cluster: the0's controller cases and our rails. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { Annotation, Label, ManagedBy } from "../../../src/domain/Labels.ts"
import { MemoryBotStore } from "../../../src/layers/memory/MemoryBotStore.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot, captureLogs, ns, podNames, pods, putBot, settings, settle, world } from "./ControllerEnv.ts"

const started = (s = settings) =>
  Effect.gen(function* () {
    const controller = yield* Controller.make(botPods, s)
    yield* controller.run
    yield* settle
    return controller
  })

const metric = (name: string) =>
  Effect.flatMap(Metrics, (m) => Effect.promise(() => m.registry.getSingleMetricAsString(name)))

describe("Bot Controller", () => {
  it.scoped(
    "started on a full store, it creates every Pod from the resync's list, reading no document one by one",
    () =>
      Effect.gen(function* () {
        const ids = Array.from({ length: 40 }, (_, i) => `full${i}`)
        for (const id of ids) yield* putBot(bot(id))
        const store = yield* BotStore
        const reads: Array<string> = []
        const counted = {
          ...store,
          bots: {
            ...store.bots,
            get: (id: string) =>
              Effect.andThen(
                Effect.sync(() => reads.push(id)),
                store.bots.get(id)
              )
          }
        }
        const first = yield* started().pipe(Effect.provideService(BotStore, counted))
        expect(yield* podNames).toEqual(ids.map((id) => `bot-${id}`).sort())
        expect(reads).toEqual([])
        expect(first.state().holding).toEqual([])
        // a controller started beside every Pod already made builds every object to compare, and keeps none of them
        const second = yield* started().pipe(Effect.provideService(BotStore, counted))
        yield* second.resync
        expect(second.state().holding).toEqual([])
        expect(reads).toEqual([])
      }).pipe(Effect.provide(world()))
  )

  it.scoped("a new enabled bot gets its Pod as soon as it is notified, with the0's name and labels", () =>
    Effect.gen(function* () {
      const controller = yield* started()
      yield* putBot(bot("b1"))
      yield* controller.notify("b1")
      yield* settle
      const [pod] = yield* pods
      expect(pod?.metadata.name).toBe("bot-b1")
      expect(pod?.metadata.labels?.[Label.botId]).toBe("b1")
      expect(pod?.metadata.labels?.[Label.managedBy]).toBe(ManagedBy.botController)
      expect(pod?.metadata.annotations?.[Annotation.configHash]).toMatch(/^[0-9a-f]{16}$/)
      expect(pod?.status?.phase).toBe("Running")
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a notification carrying the document ingest wrote is reconciled from it, without reading the store", () =>
    Effect.gen(function* () {
      const controller = yield* started()
      const control = yield* MemoryBotStore
      yield* putBot(bot("h1", { risk: 2 }))
      yield* control.setDown(true)
      yield* controller.notify("h1", { document: bot("h1", { risk: 2 }), version: 7 })
      yield* settle
      const [pod] = yield* pods
      const expected = botPods.build(settings.manifest, bot("h1", { risk: 2 }))
      expect(pod?.metadata.annotations?.[Annotation.configHash]).toBe(
        expected._tag === "Right" ? expected.right.metadata.annotations?.[Annotation.configHash] : "no build"
      )
    }).pipe(Effect.provide(world()))
  )

  it.scoped(
    "a handed-over document older than one already handed over is not used; a deleted one removes the Pod",
    () =>
      Effect.gen(function* () {
        const controller = yield* started()
        const control = yield* MemoryBotStore
        yield* control.setDown(true)
        const hashOf = (risk: number) => {
          const built = botPods.build(settings.manifest, bot("h2", { risk }))
          return built._tag === "Right" ? built.right.metadata.annotations?.[Annotation.configHash] : "no build"
        }
        yield* controller.notify("h2", { document: bot("h2", { risk: 2 }), version: 9 })
        yield* controller.notify("h2", { document: bot("h2", { risk: 1 }), version: 8 })
        yield* settle
        expect((yield* pods).map((p) => p.metadata.annotations?.[Annotation.configHash])).toEqual([hashOf(2)])
        yield* controller.notify("h2", { document: null, version: 10 })
        yield* settle
        expect(yield* podNames).toEqual([])
      }).pipe(Effect.provide(world()))
  )

  it.scoped("a handed-over document that does not decode is reported and changes nothing", () =>
    Effect.gen(function* () {
      const controller = yield* started()
      yield* controller.notify("h3", { document: { ...bot("h3") }, version: 1 })
      yield* settle
      expect(yield* podNames).toEqual(["bot-h3"])
      yield* controller.notify("h3", { document: { ...bot("h3"), custom: { version: 3 } }, version: 2 })
      yield* settle
      expect(yield* podNames).toEqual(["bot-h3"])
      expect(yield* metric("the0_skipped_documents_total")).toContain('reason="undecodable"')
    }).pipe(Effect.provide(world()))
  )

  it.scoped("the periodic resync creates missing Pods and deletes orphans; a healthy matching Pod is left alone", () =>
    Effect.gen(function* () {
      yield* putBot(bot("keep"))
      yield* putBot(bot("new"))
      const first = yield* started()
      expect(yield* podNames).toEqual(["bot-keep", "bot-new"])
      const store = yield* BotStore
      yield* store.bots.remove("new")
      const cluster = yield* MemoryCluster
      yield* cluster.resetCallCounts
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* podNames).toEqual(["bot-keep"])
      const calls = yield* cluster.callCounts
      expect(calls.create + calls.update).toBe(0)
      expect(calls.delete).toBe(1)
      expect(first.state().firstResyncDone).toBe(true)
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a second resync with no change makes no API calls at all", () =>
    Effect.gen(function* () {
      for (const id of ["a", "b", "c"]) yield* putBot(bot(id))
      yield* started()
      const cluster = yield* MemoryCluster
      yield* cluster.resetCallCounts
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* cluster.callCounts).toEqual({
        get: 0,
        list: 0,
        create: 0,
        update: 0,
        patchStatus: 0,
        delete: 0,
        watch: 0,
        podLogs: 0,
        createEvent: 0,
        patchEventSeries: 0
      })
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a config change recreates the Pod with the new fingerprint as soon as the old one is gone", () =>
    Effect.gen(function* () {
      yield* putBot(bot("c1", { risk: 1 }))
      const controller = yield* started()
      const before = (yield* pods)[0]
      yield* putBot(bot("c1", { risk: 2 }))
      yield* controller.notify("c1")
      yield* settle
      const after = (yield* pods)[0]
      expect(after?.metadata.uid).not.toBe(before?.metadata.uid)
      expect(after?.metadata.annotations?.[Annotation.configHash]).not.toBe(
        before?.metadata.annotations?.[Annotation.configHash]
      )
      expect(after?.spec.containers[0]?.env?.find((e) => e.name === "BOT_CONFIG")?.value).toContain('"risk":2')
    }).pipe(Effect.provide(world()))
  )

  it.scoped("config.enabled false deletes the Pod; deleting the document deletes it too", () =>
    Effect.gen(function* () {
      yield* putBot(bot("d1"))
      yield* putBot(bot("d2"))
      const controller = yield* started()
      yield* putBot(bot("d1", { enabled: false }))
      yield* controller.notify("d1")
      yield* (yield* BotStore).bots.remove("d2")
      yield* controller.notify("d2")
      yield* settle
      expect(yield* podNames).toEqual([])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a Pod that fails is replaced by a fresh one", () =>
    Effect.gen(function* () {
      yield* putBot(bot("f1"))
      yield* started()
      const kubelet = yield* SimulatedKubelet
      const before = (yield* pods)[0]
      yield* kubelet.failPod(ns, "bot-f1", "Evicted")
      yield* settle
      const after = (yield* pods)[0]
      expect(after?.metadata.uid).not.toBe(before?.metadata.uid)
      expect(after?.status?.phase).toBe("Running")
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a store that cannot be read deletes nothing, and the controller catches up when it is back", () =>
    Effect.gen(function* () {
      yield* putBot(bot("s1"))
      const controller = yield* started()
      const control = yield* MemoryBotStore
      yield* control.setDown(true)
      yield* controller.notify("s1")
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* podNames).toEqual(["bot-s1"])
      yield* putBot(bot("s2")).pipe(Effect.either)
      yield* control.setDown(false)
      yield* putBot(bot("s2"))
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* podNames).toEqual(["bot-s1", "bot-s2"])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("emptying the store behind the controller's back (20 bots) deletes nothing and raises the refusal", () =>
    Effect.gen(function* () {
      for (let i = 0; i < 20; i++) yield* putBot(bot(`m${i}`))
      const controller = yield* started()
      expect((yield* pods).length).toBe(20)
      yield* (yield* MemoryBotStore).clear("bots")
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect((yield* pods).length).toBe(20)
      expect(controller.state().massDeleteBlocked).toBe(true)
      expect(yield* metric("the0_mass_delete_refusals_total")).toContain(
        'the0_mass_delete_refusals_total{controller="bot"} 1'
      )
    }).pipe(Effect.provide(world()))
  )

  it.scoped("with the override a mass deletion proceeds", () =>
    Effect.gen(function* () {
      for (let i = 0; i < 12; i++) yield* putBot(bot(`o${i}`))
      yield* started({ ...settings, allowMassDelete: true })
      yield* (yield* MemoryBotStore).clear("bots")
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* pods).toEqual([])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("an undecodable document is skipped and reported; its Pod is kept and the others proceed", () =>
    Effect.gen(function* () {
      yield* putBot(bot("u1"))
      const controller = yield* started()
      const control = yield* MemoryBotStore
      yield* (yield* BotStore).bots.remove("u1")
      yield* control.insertRaw("bots", { ...bot("u1"), custom: { version: 3 } })
      yield* putBot(bot("u2"))
      yield* TestClock.adjust("30 seconds")
      yield* settle
      yield* controller.notify("u1")
      yield* settle
      expect(yield* podNames).toEqual(["bot-u1", "bot-u2"])
      expect(yield* metric("the0_skipped_documents_total")).toContain('reason="undecodable"')
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a document no valid Pod can be built from is reported, never crashes, and blocks no one", () =>
    Effect.gen(function* () {
      yield* putBot({ ...bot("bad"), custom: { ...bot("bad").custom, filePath: "x; rm -rf /" } })
      yield* putBot(bot("good"))
      const controller = yield* started()
      expect(yield* podNames).toEqual(["bot-good"])
      expect(controller.state().invalid).toEqual(["bad"])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("objects without our labels are never touched", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.create("Pod", ns, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "bot-foreign", labels: { [Label.botId]: "foreign" } },
        spec: { containers: [{ name: "x", image: "x" }] }
      })
      yield* started()
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* podNames).toEqual(["bot-foreign"])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a pass before the watch reports our deletion does not delete again, nor create", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      yield* putBot(bot("x1", { risk: 1 }))
      const controller = yield* started()
      const cluster = yield* MemoryCluster
      yield* cluster.resetCallCounts
      yield* cluster.silenceWatches
      yield* putBot(bot("x1", { risk: 2 }))
      yield* controller.notify("x1")
      yield* settle
      yield* controller.notify("x1")
      yield* settle
      const calls = yield* cluster.callCounts
      expect([calls.delete, calls.create]).toEqual([1, 0])
      expect(yield* metric("the0_objects_deleted_total")).toContain(
        'the0_objects_deleted_total{kind="Pod",reason="changed"} 1'
      )
      expect(lines.filter((l) => l.startsWith("deleted"))).toEqual(["deleted Pod bot-x1 (changed)"])
    }).pipe(Effect.provide(Layer.merge(world({ autoRun: true, autoTerminate: false }), captureLogs(lines))))
  })

  it.scoped("a Pod already gone when we delete it is neither counted nor logged as deleted, and no error", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      yield* putBot(bot("g1"))
      const controller = yield* started()
      const cluster = yield* MemoryCluster
      yield* cluster.silenceWatches
      yield* cluster.direct.delete("Pod", ns, "bot-g1", { gracePeriodSeconds: 0 })
      yield* (yield* BotStore).bots.remove("g1")
      yield* controller.notify("g1")
      yield* settle
      expect((yield* cluster.callCounts).delete).toBe(1)
      expect(yield* metric("the0_objects_deleted_total")).not.toContain('reason="orphan"')
      expect(yield* metric("the0_reconcile_total")).not.toContain('outcome="error"')
      expect(lines.filter((l) => l.startsWith("deleted"))).toEqual([])
    }).pipe(Effect.provide(Layer.merge(world(), captureLogs(lines))))
  })

  it.scoped("a Pod deleted behind our back is built again from the stored document: the cache keeps no object", () =>
    Effect.gen(function* () {
      yield* putBot(bot("z1", { risk: 3 }))
      yield* started()
      const control = yield* MemoryBotStore
      yield* control.setDown(true)
      yield* (yield* MemoryCluster).direct.delete("Pod", ns, "bot-z1", { gracePeriodSeconds: 0 })
      yield* settle
      expect(yield* podNames).toEqual([])
      yield* control.setDown(false)
      yield* TestClock.adjust("1 minute")
      yield* settle
      const built = botPods.build(settings.manifest, bot("z1", { risk: 3 }))
      expect((yield* pods).map((p) => p.metadata.annotations?.[Annotation.configHash])).toEqual([
        built._tag === "Right" ? built.right.metadata.annotations?.[Annotation.configHash] : "no build"
      ])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a failing create is retried with backoff until it succeeds", () =>
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster
      yield* cluster.failNext({ verb: "create", kind: "Pod", times: 2, code: 500 })
      yield* putBot(bot("r1"))
      const controller = yield* started()
      yield* controller.notify("r1")
      yield* settle
      expect(yield* podNames).toEqual([])
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* podNames).toEqual(["bot-r1"])
    }).pipe(Effect.provide(world()))
  )
})

describe("Bot Controller roll-out", () => {
  it.scoped(
    "after an image change at most rollLimit Pods are replaced at once (terminating ones included), and all end up on the new image",
    () =>
      Effect.gen(function* () {
        for (let i = 0; i < 6; i++) yield* putBot(bot(`t${i}`))
        const kubelet = yield* SimulatedKubelet
        const runPending = Effect.gen(function* () {
          for (const p of yield* pods) if (p.status?.phase === "Pending") yield* kubelet.runPod(ns, p.metadata.name)
          yield* settle
        })
        const first = yield* Effect.scoped(
          Effect.gen(function* () {
            yield* started()
            yield* runPending
            return yield* pods
          })
        )
        expect(first.length).toBe(6)
        const next = { ...settings, rollLimit: 2, manifest: { ...settings.manifest, runtimeImage: "runtime:v2" } }
        yield* started(next)
        const image = (p: { spec: { containers: ReadonlyArray<{ image: string }> } }) => p.spec.containers[0]?.image
        let maxInFlight = 0
        /** Bots whose old Pod is deleted (terminating or gone) and whose new one does not run yet. */
        const measure = Effect.map(pods, (now) => {
          const settled = now.filter(
            (p) =>
              p.metadata.deletionTimestamp === undefined &&
              (image(p) === "runtime:test" || p.status?.phase === "Running")
          )
          maxInFlight = Math.max(maxInFlight, 6 - settled.length)
        })
        for (let round = 0; round < 6; round++) {
          yield* measure
          // the old Pods' grace period (60 s) ends and their replacements are created
          yield* TestClock.adjust("60 seconds")
          yield* settle
          yield* measure
          yield* runPending
        }
        const final = yield* pods
        expect(final.length).toBe(6)
        expect(final.every((p) => image(p) === "runtime:v2" && p.status?.phase === "Running")).toBe(true)
        expect(maxInFlight).toBe(2)
      }).pipe(Effect.provide(world({ autoRun: false, autoTerminate: false })))
  )
})

describe("Bot Controller mass-delete guard", () => {
  /** `total` bots with Pods; `removed` documents disappear behind the controller's back; one resync. */
  const orphaned = (total: number, removed: number) =>
    Effect.gen(function* () {
      for (let i = 0; i < total; i++) yield* putBot(bot(`g${i}`))
      const controller = yield* started()
      expect((yield* pods).length).toBe(total)
      const store = yield* BotStore
      for (let i = 0; i < removed; i++) yield* store.bots.remove(`g${i}`)
      yield* TestClock.adjust("30 seconds")
      yield* settle
      return { controller, left: (yield* pods).length, refusals: yield* metric("the0_mass_delete_refusals_total") }
    })

  // max(10, floor(50 %)): 15 of 31 (floor, not round), 10 of 12 (the floor of 10 above 50 %)
  for (const [total, limit] of [
    [31, 15],
    [12, 10]
  ] as const) {
    it.scoped(`${limit} orphans of ${total} managed Pods are deleted`, () =>
      Effect.gen(function* () {
        const { controller, left, refusals } = yield* orphaned(total, limit)
        expect(left).toBe(total - limit)
        expect(controller.state().massDeleteBlocked).toBe(false)
        expect(refusals).not.toContain('controller="bot"')
      }).pipe(Effect.provide(world()))
    )

    it.scoped(`${limit + 1} orphans of ${total} managed Pods are refused, every Pod kept`, () =>
      Effect.gen(function* () {
        const { controller, left, refusals } = yield* orphaned(total, limit + 1)
        expect(left).toBe(total)
        expect(controller.state().massDeleteBlocked).toBe(true)
        expect(refusals).toContain('the0_mass_delete_refusals_total{controller="bot"} 1')
      }).pipe(Effect.provide(world()))
    )
  }
})

describe("Bot Controller with graceful termination", () => {
  it.scoped("no replacement is created while the old Pod terminates; it is created once the old one is gone", () =>
    Effect.gen(function* () {
      yield* putBot(bot("w1", { risk: 1 }))
      const controller = yield* started()
      const before = (yield* pods)[0]
      const cluster = yield* MemoryCluster
      yield* cluster.resetCallCounts
      yield* putBot(bot("w1", { risk: 2 }))
      yield* controller.notify("w1")
      yield* settle
      // the Pod's terminationGracePeriodSeconds is 60; every pass meanwhile (resyncs, watch events) waits
      for (let second = 0; second < 59; second++) {
        const now = yield* pods
        expect(now.map((p) => [p.metadata.uid, p.metadata.deletionTimestamp !== undefined])).toEqual([
          [before?.metadata.uid, true]
        ])
        yield* TestClock.adjust("1 second")
        yield* settle
        if (second % 10 === 0) yield* controller.reconcile("w1")
      }
      expect((yield* cluster.callCounts).create).toBe(0)
      expect(yield* metric("the0_reconcile_total")).not.toContain('outcome="error"')
      yield* TestClock.adjust("1 second")
      yield* settle
      const after = yield* pods
      expect(after.length).toBe(1)
      expect(after[0]?.metadata.uid).not.toBe(before?.metadata.uid)
      expect(after[0]?.metadata.deletionTimestamp).toBeUndefined()
      expect(after[0]?.status?.phase).toBe("Running")
      expect((yield* cluster.callCounts).create).toBe(1)
    }).pipe(Effect.provide(world({ autoRun: true, autoTerminate: false })))
  )
})
