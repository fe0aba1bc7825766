/**
 * Taking over from the0's controller: its Pods and CronJobs carry our labels but no document hash. Pods are
 * replaced once each at the roll limit's pace, CronJobs updated in place at once; a gauge and the log show
 * progress.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, TestClock } from "effect"
import type { CronJob, Pod } from "../../../src/domain/Kube.ts"
import { Annotation, Label } from "../../../src/domain/Labels.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import { botPods, scheduleCronJobs } from "../../../src/programs/controller/OwnedKinds.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { bot, captureLogs, ns, putBot, putSchedule, schedule, settings, settle, world } from "./ControllerEnv.ts"

/** What the0's controller made: the same names and labels, its own fingerprint, no document hash. */
const asThe0Made = <O extends Pod | CronJob>(object: O, fingerprint: string): O => {
  const { [Annotation.documentHash]: _, ...annotations } = object.metadata.annotations ?? {}
  return {
    ...object,
    metadata: { ...object.metadata, annotations: { ...annotations, [fingerprint]: "5d41402abc4b2a76" } }
  }
}

const awaitingMigration = (controller: string) =>
  Effect.flatMap(Metrics, (m) => Effect.promise(async () => (await m.objectsAwaitingMigration.get()).values)).pipe(
    Effect.map((values) => values.find((v) => v.labels.controller === controller)?.value)
  )

const migratedPods = Effect.flatMap(Metrics, (m) => Effect.promise(() => m.objectsDeleted.get())).pipe(
  Effect.map((metric) =>
    metric.values
      .filter((v) => v.labels.kind === "Pod" && v.labels.reason === "migration")
      .reduce((sum, v) => sum + v.value, 0)
  )
)

/** Every API call through the controller's client takes 10 ms, as a real one takes time: workers interleave. */
const latencyMillis = 10
/** Moves the clock in small steps, past the API latency, letting every fiber run in between. */
const tick = Effect.repeatN(Effect.andThen(TestClock.adjust(`${latencyMillis / 2} millis`), settle), 10)

const ids = Array.from({ length: 30 }, (_, i) => `m${i}`)
const desiredHash = (id: string) =>
  Either.getOrThrow(botPods.build(settings.manifest, bot(id))).metadata.annotations?.[Annotation.configHash]

describe("migrating from the0's controller", () => {
  it.scoped(
    "30 Pods made by the0, rollLimit 10, graceful termination: at most 10 replaced at once, never two Pods of a bot, all end up ours",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function* () {
        const cluster = yield* MemoryCluster
        const kubelet = yield* SimulatedKubelet
        const pods = Effect.map(cluster.direct.list("Pod", ns), (l) => l.items)
        for (const id of ids) {
          yield* putBot(bot(id))
          const built = Either.getOrThrow(botPods.build(settings.manifest, bot(id)))
          yield* cluster.direct.create("Pod", ns, asThe0Made(built, Annotation.configHash))
          yield* kubelet.runPod(ns, `bot-${id}`)
        }
        yield* cluster.setLatency(latencyMillis)

        let maxInFlight = 0
        /** Bots still on the0's Pod; bots being replaced (the0's Pod deleted, ours not Running yet) counted too. */
        const observe = Effect.gen(function* () {
          const now = yield* pods
          let untouched = 0
          let inFlight = 0
          for (const id of ids) {
            const mine = now.filter((p) => p.metadata.labels?.[Label.botId] === id)
            expect(mine.length, `Pods of bot ${id}`).toBeLessThanOrEqual(1)
            const pod = mine[0]
            if (
              pod !== undefined &&
              pod.metadata.annotations?.[Annotation.documentHash] === undefined &&
              pod.metadata.deletionTimestamp === undefined
            )
              untouched++
            else if (
              pod === undefined ||
              pod.metadata.annotations?.[Annotation.configHash] !== desiredHash(id) ||
              pod.status?.phase !== "Running" ||
              pod.metadata.deletionTimestamp !== undefined
            )
              inFlight++
          }
          maxInFlight = Math.max(maxInFlight, inFlight)
          expect(yield* awaitingMigration("bot")).toBe(untouched)
          return untouched
        })

        const controller = yield* Controller.make(botPods, settings)
        yield* Effect.forkScoped(controller.run)
        yield* tick
        expect(lines).toContain("migrating 30 Pods made by the0, 10 at a time")
        expect(yield* observe).toBe(20)
        for (let round = 0; round < 8; round++) {
          // the deleted Pods' grace period (60 s) ends and their replacements are created; then they run
          yield* TestClock.adjust("60 seconds")
          yield* tick
          yield* observe
          for (const p of yield* pods) if (p.status?.phase === "Pending") yield* kubelet.runPod(ns, p.metadata.name)
          yield* tick
          yield* observe
        }

        const final = yield* pods
        expect(final.length).toBe(30)
        for (const p of final) {
          expect(p.metadata.annotations?.[Annotation.configHash]).toBe(
            desiredHash(p.metadata.labels?.[Label.botId] ?? "")
          )
          expect(p.metadata.deletionTimestamp).toBeUndefined()
          expect(p.status?.phase).toBe("Running")
        }
        expect(maxInFlight).toBe(10)
        expect(yield* awaitingMigration("bot")).toBe(0)
        expect(yield* migratedPods).toBe(30)
        expect(controller.state().rolling).toEqual([])
        const progress = lines.filter((l) => l.startsWith("migrating ")).map((l) => Number(l.split(" ")[1]))
        expect(progress[0]).toBe(30)
        expect(progress.every((n, i) => i === 0 || n <= (progress[i - 1] ?? 0))).toBe(true)
        expect(lines.filter((l) => l === "every Pod made by the0 has been migrated")).toHaveLength(1)
      }).pipe(Effect.provide(Layer.merge(world({ autoRun: false, autoTerminate: false }), captureLogs(lines))))
    }
  )

  it.scoped("CronJobs made by the0 are updated in place at the first pass, with no roll limit", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      const cluster = yield* MemoryCluster
      const uids = new Map<string, string | undefined>()
      for (const id of ["s1", "s2", "s3"]) {
        yield* putSchedule(schedule(id))
        const built = Either.getOrThrow(scheduleCronJobs.build(settings.manifest, schedule(id)))
        const made = yield* cluster.direct.create("CronJob", ns, asThe0Made(built, Annotation.scheduleHash))
        uids.set(made.metadata.name, made.metadata.uid)
      }
      yield* Controller.make(scheduleCronJobs, { ...settings, rollLimit: 1 }).pipe(Effect.tap((c) => c.run))
      yield* settle
      expect(lines).toContain("updating 3 CronJobs made by the0 in place")
      const cronJobs = (yield* cluster.direct.list("CronJob", ns)).items
      expect(cronJobs.map((c) => [c.metadata.name, c.metadata.uid])).toEqual([...uids.entries()])
      for (const c of cronJobs) expect(c.metadata.annotations?.[Annotation.documentHash]).toMatch(/^[0-9a-f]{16}$/)
      expect(yield* awaitingMigration("schedule")).toBe(0)
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(lines).toContain("every CronJob made by the0 has been migrated")
    }).pipe(Effect.provide(Layer.merge(world(), captureLogs(lines))))
  })
})
