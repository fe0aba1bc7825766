/** The Schedule Controller against the fake cluster: the0's schedule cases and our differences. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Annotation, Label, ManagedBy } from "../../../src/domain/Labels.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import { scheduleCronJobs } from "../../../src/programs/controller/OwnedKinds.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { cronJobs, ns, putSchedule, schedule, settings, settle, world } from "./ControllerEnv.ts"

const started = Effect.gen(function* () {
  const controller = yield* Controller.make(scheduleCronJobs, settings)
  yield* controller.run
  yield* settle
  return controller
})

describe("Schedule Controller", () => {
  it.scoped("creates schedule-<id> with the converted cron, Forbid and the0's history limits", () =>
    Effect.gen(function* () {
      yield* putSchedule(schedule("schedule-1", "0 0 9 * * *"))
      yield* started
      const [cronJob] = yield* cronJobs
      expect(cronJob?.metadata.name).toBe("schedule-schedule-1")
      expect(cronJob?.spec.schedule).toBe("0 9 * * *")
      expect(cronJob?.spec.concurrencyPolicy).toBe("Forbid")
      expect(cronJob?.spec.successfulJobsHistoryLimit).toBe(3)
      expect(cronJob?.spec.failedJobsHistoryLimit).toBe(1)
      expect(cronJob?.spec.jobTemplate.spec.backoffLimit).toBe(2)
      expect(cronJob?.metadata.labels?.[Label.scheduleId]).toBe("schedule-1")
      expect(cronJob?.metadata.labels?.[Label.managedBy]).toBe(ManagedBy.scheduleController)
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a changed schedule updates the CronJob in place (same uid, new schedule and hash)", () =>
    Effect.gen(function* () {
      yield* putSchedule(schedule("s2", "0 9 * * *"))
      const controller = yield* started
      const before = (yield* cronJobs)[0]
      yield* putSchedule(schedule("s2", "0 10 * * *"))
      yield* controller.notify("s2")
      yield* settle
      const after = (yield* cronJobs)[0]
      expect(after?.metadata.uid).toBe(before?.metadata.uid)
      expect(after?.spec.schedule).toBe("0 10 * * *")
      expect(after?.metadata.annotations?.[Annotation.scheduleHash]).not.toBe(
        before?.metadata.annotations?.[Annotation.scheduleHash]
      )
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a schedule without a cron expression, or with @every, creates nothing and blocks no one", () =>
    Effect.gen(function* () {
      yield* putSchedule(schedule("none", null))
      yield* putSchedule(schedule("every", "@every 1h"))
      yield* putSchedule(schedule("ok", "@hourly"))
      const controller = yield* started
      expect((yield* cronJobs).map((c) => c.metadata.name)).toEqual(["schedule-ok"])
      expect([...controller.state().invalid].sort()).toEqual(["every", "none"])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a deleted schedule's CronJob is deleted with Foreground propagation, taking its running Job along", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* putSchedule(schedule("s3"))
      const controller = yield* started
      const owner = (yield* cronJobs)[0]
      yield* api.create("Job", ns, {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: {
          name: "schedule-s3-123",
          ownerReferences: [
            {
              apiVersion: "batch/v1",
              kind: "CronJob",
              name: "schedule-s3",
              uid: owner?.metadata.uid ?? "",
              controller: true
            }
          ]
        },
        spec: {
          backoffLimit: 0,
          template: { spec: { restartPolicy: "Never", containers: [{ name: "bot", image: "x" }] } }
        }
      })
      yield* settle
      yield* (yield* BotStore).schedules.remove("s3")
      yield* controller.notify("s3")
      yield* settle
      expect(yield* cronJobs).toEqual([])
      expect((yield* api.list("Job", ns)).items).toEqual([])
      expect((yield* api.list("Pod", ns)).items).toEqual([])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("the periodic resync picks up a schedule written behind the controller's back", () =>
    Effect.gen(function* () {
      yield* started
      yield* putSchedule(schedule("late"))
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect((yield* cronJobs).map((c) => c.metadata.name)).toEqual(["schedule-late"])
    }).pipe(Effect.provide(world()))
  )
})
