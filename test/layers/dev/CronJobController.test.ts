/** The dev CronJob controller on the fake cluster, driven by TestClock: schedules, Forbid, history limits. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, TestClock } from "effect"
import type { CronJob } from "../../../src/domain/Kube.ts"
import * as CronJobController from "../../../src/layers/dev/CronJobController.ts"
import * as MemoryJobController from "../../../src/layers/memory/MemoryJobController.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryKubelet from "../../../src/layers/memory/MemoryKubelet.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const ns = "the0"

const cronJob = (name: string, schedule: string, extra: Partial<CronJob["spec"]> = {}): CronJob => ({
  apiVersion: "batch/v1",
  kind: "CronJob",
  metadata: { name, labels: { app: name } },
  spec: {
    schedule,
    concurrencyPolicy: "Forbid",
    successfulJobsHistoryLimit: 2,
    failedJobsHistoryLimit: 1,
    ...extra,
    jobTemplate: {
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { app: name } },
          spec: { restartPolicy: "Never", containers: [{ name: "bot", image: "x" }] }
        }
      }
    }
  }
})

const cluster = Layer.mergeAll(CronJobController.layer(ns), MemoryJobController.layer(ns), MemoryKubelet.layer()).pipe(
  Layer.provideMerge(MemoryKubeApi.layer())
)

const settle = Effect.repeatN(Effect.yieldNow(), 100)

const jobNames = Effect.flatMap(KubeApi, (api) =>
  Effect.map(api.list("Job", ns), (list) => list.items.map((j) => j.metadata.name))
)

describe("dev CronJob controller", () => {
  it("parses 5-field expressions and Kubernetes descriptors, and names what it refuses", () => {
    expect(Either.isRight(CronJobController.parseSchedule("*/5 * * * *", undefined))).toBe(true)
    expect(Either.isRight(CronJobController.parseSchedule("@hourly", undefined))).toBe(true)
    const refusal = (schedule: string) =>
      Either.mapLeft(CronJobController.parseSchedule(schedule, undefined), (error) => [error._tag, error.message])
    expect(refusal("@every 1h")).toEqual(Either.left(["InvalidSchedule", 'unrecognized descriptor "@every 1h"']))
    expect(refusal("0 0 9 * * *")).toEqual(Either.left(["InvalidSchedule", "expected 5 fields, found 6"]))
  })

  it.scoped("a Job at each matching minute, owned by the CronJob and named by the scheduled minute", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* TestClock.setTime(Date.UTC(2026, 0, 1, 10, 0, 30))
      yield* api.create("CronJob", ns, cronJob("every-minute", "* * * * *", { concurrencyPolicy: "Allow" }))
      yield* settle
      expect(yield* jobNames).toEqual([])
      yield* TestClock.adjust("30 seconds")
      yield* settle
      const minute = Date.UTC(2026, 0, 1, 10, 1, 0) / 60_000
      expect(yield* jobNames).toEqual([`every-minute-${minute}`])
      const job = yield* api.get("Job", ns, `every-minute-${minute}`)
      expect(job.metadata.ownerReferences?.[0]).toMatchObject({ kind: "CronJob", name: "every-minute" })
      expect((yield* api.get("CronJob", ns, "every-minute")).status?.lastScheduleTime).toBe("2026-01-01T10:01:00.000Z")
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(yield* jobNames).toHaveLength(2)
    }).pipe(Effect.provide(cluster))
  )

  it.scoped("Forbid skips a run while the previous Job is active; history limits delete old Jobs", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const kubelet = yield* SimulatedKubelet
      yield* TestClock.setTime(Date.UTC(2026, 0, 1, 10, 0, 0))
      yield* api.create("CronJob", ns, cronJob("report", "* * * * *"))
      yield* settle
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(yield* jobNames).toHaveLength(1)
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(yield* jobNames).toHaveLength(1)
      for (let run = 0; run < 4; run++) {
        const pods = (yield* api.list("Pod", ns)).items.filter((p) => p.status?.phase === "Pending")
        for (const pod of pods) yield* kubelet.completePod(ns, pod.metadata.name, 0)
        yield* settle
        yield* TestClock.adjust("1 minute")
        yield* settle
      }
      const jobs = (yield* api.list("Job", ns)).items
      const done = jobs.filter((j) => j.status?.conditions?.some((c) => c.type === "Complete"))
      expect(done).toHaveLength(2)
      expect((yield* api.get("CronJob", ns, "report")).status?.lastSuccessfulTime).toBeDefined()
    }).pipe(Effect.provide(cluster))
  )

  it.scoped("deleting the CronJob stops its runs", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* TestClock.setTime(Date.UTC(2026, 0, 1, 10, 0, 30))
      yield* api.create("CronJob", ns, cronJob("gone", "@hourly"))
      yield* settle
      yield* api.delete("CronJob", ns, "gone")
      yield* settle
      yield* TestClock.adjust("2 hours")
      yield* settle
      expect(yield* jobNames).toEqual([])
    }).pipe(Effect.provide(cluster))
  )
})
