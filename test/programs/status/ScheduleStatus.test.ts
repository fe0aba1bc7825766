/** The schedules section: last and next run, what makes a schedule failing, suspended, invalid or orphaned. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { scheduleStatus, schedulesSection } from "../../../src/programs/status/ScheduleStatus.ts"
import { cronJob, doc, now, undecodable } from "./StatusFixtures.ts"

describe("ScheduleStatus", () => {
  it("the next run is after now, in the CronJob's time zone", () => {
    expect(scheduleStatus("s", true, [cronJob("s")], now)).toEqual({
      id: "s",
      cronJob: "schedule-s",
      schedule: "0 9 * * *",
      nextRun: "2026-03-02T09:00:00.000Z",
      active: 0,
      state: "scheduled",
      reasons: []
    })
    expect(scheduleStatus("s", true, [cronJob("s", { timeZone: "Europe/Paris" })], now)).toMatchObject({
      timeZone: "Europe/Paris",
      nextRun: "2026-03-02T08:00:00.000Z"
    })
  })

  it("failing: the last run has no success at or after it and none is active", () => {
    const ran = (status: object) => scheduleStatus("s", true, [cronJob("s", {}, status)], now)
    const last = "2026-03-01T09:00:00Z"
    expect(ran({ lastScheduleTime: last })).toMatchObject({
      state: "failing",
      reasons: [`last run ${last} did not succeed`]
    })
    expect(ran({ lastScheduleTime: last, lastSuccessfulTime: "2026-02-28T09:00:30Z" }).state).toBe("failing")
    expect(ran({ lastScheduleTime: last, lastSuccessfulTime: last }).state).toBe("scheduled")
    expect(ran({ lastScheduleTime: last, active: [{ name: "j" }] })).toMatchObject({ state: "scheduled", active: 1 })
    expect(ran({}).state).toBe("scheduled")
  })

  it("an expression without a next run is said, beside the failure if any", () => {
    const bad = cronJob("s", { schedule: "61 * * * *" }, { lastScheduleTime: "2026-03-01T09:00:00Z" })
    const status = scheduleStatus("s", true, [bad], now)
    expect(status.nextRun).toBeUndefined()
    expect(status.reasons).toEqual([
      "last run 2026-03-01T09:00:00Z did not succeed",
      'next run unknown: Expected a value between 0 and 59: "61"'
    ])
  })

  it("suspended has no next run; a CronJob without a document is orphaned; no CronJob is no-cronjob", () => {
    expect(
      scheduleStatus("s", true, [cronJob("s", { suspend: true }, { lastScheduleTime: "2026-02-01T09:00:00Z" })], now)
    ).toEqual({
      id: "s",
      cronJob: "schedule-s",
      schedule: "0 9 * * *",
      lastRun: "2026-02-01T09:00:00Z",
      active: 0,
      state: "suspended",
      reasons: ["CronJob suspended"]
    })
    expect(scheduleStatus("s", false, [cronJob("s", { suspend: true })], now)).toMatchObject({
      state: "orphaned",
      reasons: ["no enabled document: the controller deletes it"]
    })
    expect(scheduleStatus("s", true, [], now)).toEqual({
      id: "s",
      state: "no-cronjob",
      reasons: ["no CronJob"],
      active: 0
    })
  })

  it("the section: a document that does not decode makes its schedule invalid, CronJob or not, unless one decodes", () => {
    const section = schedulesSection(
      [undecodable("bad"), undecodable("nocron"), Either.right(doc("ok")), undecodable("ok")],
      [cronJob("bad"), cronJob("ok"), cronJob("orphan")],
      now
    )
    expect(section.items.map((s) => [s.id, s.state])).toEqual([
      ["bad", "invalid"],
      ["nocron", "invalid"],
      ["ok", "scheduled"],
      ["orphan", "orphaned"]
    ])
    expect(section.items[0]).toMatchObject({ cronJob: "schedule-bad", reasons: [expect.stringContaining('"bad"')] })
    expect(section.desired).toBe(3)
    expect(section.counts).toEqual({ scheduled: 1, failing: 0, suspended: 0, "no-cronjob": 0, invalid: 2, orphaned: 1 })
  })
})
