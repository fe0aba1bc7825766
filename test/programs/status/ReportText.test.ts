/** The human screen of `status`: the summary, the tables of what needs a look, and what `--all` adds. */
import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import { renderReport } from "../../../src/programs/status/ReportText.ts"
import { renderJson } from "../../../src/programs/status/StatusJson.ts"
import { report } from "../../../src/programs/status/StatusReport.ts"
import { container, cronJob, doc, lease, now, pod, running } from "./StatusFixtures.ts"

const reading = report({
  now,
  namespace: "the0",
  bots: [Either.right(doc("ok")), Either.right(doc("crash")), Either.right(doc("old", { symbol: "ETH" }))],
  schedules: [Either.right(doc("daily")), Either.right(doc("missed"))],
  pods: [
    pod("ok", { status: running }),
    pod("old", { status: running }),
    pod("crash", {
      status: {
        phase: "Running",
        containerStatuses: [container("bot", { waiting: { reason: "CrashLoopBackOff", message: "back-off 5m0s" } }, 7)]
      }
    })
  ],
  cronJobs: [
    cronJob("daily", {}, { lastScheduleTime: "2026-03-01T09:00:00Z", lastSuccessfulTime: "2026-03-01T09:00:41Z" }),
    cronJob("missed", { timeZone: "Europe/Paris" }, { lastScheduleTime: "2026-02-28T08:00:00Z" })
  ],
  lease: lease({ holderIdentity: "replica-a", renewTime: "2026-03-01T09:59:57Z", leaseDurationSeconds: 15 }),
  ingest: {
    stream: Option.some({ name: "THE0_EVENTS", subjects: ["the0.bot.*"], lastSequence: 9, maxAgeMillis: 0 }),
    consumer: Option.some({ ackFloor: 3, pending: 2 })
  }
})

describe("ReportText", () => {
  it("the summary, then only the bots and schedules that need a look, and a line saying so", () => {
    expect(renderReport(reading, { all: false })).toBe(`Namespace  the0
Leader     replica-a (renewed 3s ago)
Ingest     6 events behind (2 not delivered yet; applied through 3 of 9)
Bots       3 desired, 2 running, 1 failing
Schedules  2 desired, 1 scheduled, 1 failing
Roll-out   1 Pods run an older document, 0 made by the0 await migration, 0 terminating

BOT    STATE    POD        PHASE    RESTARTS  REASON
crash  failing  bot-crash  Running  7         bot: CrashLoopBackOff: back-off 5m0s

SCHEDULE  STATE    CRON                    LAST RUN  LAST SUCCESS  NEXT RUN  ACTIVE  REASON
missed    failing  0 9 * * * Europe/Paris  26h ago   -             in 22h    0       last run 2026-02-28T08:00:00Z did not succeed

Bots running and schedules on time are left out; --all lists them, --bot ID tells one bot's story.
`)
  })

  it("--all lists every bot and schedule and drops the line", () => {
    const screen = renderReport(reading, { all: true })
    expect(screen).toContain(`BOT    STATE    POD        PHASE    RESTARTS  REASON
crash  failing  bot-crash  Running  7         bot: CrashLoopBackOff: back-off 5m0s
ok     running  bot-ok     Running  0
old    running  bot-old    Running  0
`)
    expect(
      screen
    ).toContain(`SCHEDULE  STATE      CRON                    LAST RUN  LAST SUCCESS  NEXT RUN  ACTIVE  REASON
daily     scheduled  0 9 * * *               60m ago   59m ago       in 23h    0
missed    failing    0 9 * * * Europe/Paris  26h ago   -             in 22h    0       last run 2026-02-28T08:00:00Z did not succeed
`)
    expect(screen).not.toContain("left out")
  })

  it("the leader, ingest and roll-out lines say what is missing; sections with nothing to show are left out", () => {
    const quiet = report({ now, namespace: "x", bots: [], schedules: [], pods: [], cronJobs: [], lease: undefined })
    expect(renderReport(quiet, { all: false })).toBe(`Namespace  x
Leader     none (no Lease: no replica has led yet)
Ingest     not shown (no --nats-url)
Bots       0 desired, 0 running, 0 failing
Schedules  0 desired, 0 scheduled, 0 failing
Roll-out   none

Bots running and schedules on time are left out; --all lists them, --bot ID tells one bot's story.
`)
    const quietInput = { now, namespace: "x", bots: [], schedules: [], pods: [], cronJobs: [] }
    const leader = (spec: Parameters<typeof lease>[0]) =>
      renderReport(report({ ...quietInput, lease: lease(spec) }), { all: true }).split("\n")[1]
    expect(leader({ holderIdentity: "" })).toBe("Leader     none (Lease the0-runtime-leader released)")
    expect(leader({ holderIdentity: "b", renewTime: "2026-03-01T09:00:00Z", leaseDurationSeconds: 15 })).toBe(
      "Leader     none: b held Lease the0-runtime-leader but has not renewed it (renewed 60m ago, duration 15s)"
    )
    expect(leader({ holderIdentity: "b" })).toBe(
      "Leader     none: b held Lease the0-runtime-leader but has not renewed it (renewed -, duration ?s)"
    )
    const ingest = (line: Parameters<typeof report>[0]["ingest"]) =>
      renderReport(report({ ...quietInput, lease: undefined, ...(line === undefined ? {} : { ingest: line }) }), {
        all: true
      }).split("\n")[2]
    expect(ingest({ unavailable: "refused" })).toBe("Ingest     NATS cannot say: refused")
    expect(ingest({ stream: Option.none(), consumer: Option.none() })).toBe(
      "Ingest     no THE0_EVENTS stream: the0's API has not published yet"
    )
    const stream = Option.some({ name: "THE0_EVENTS", subjects: [], lastSequence: 4, maxAgeMillis: 0 })
    expect(ingest({ stream, consumer: Option.none() })).toBe("Ingest     no replica has consumed THE0_EVENTS yet")
    expect(ingest({ stream, consumer: Option.some({ ackFloor: 4, pending: 0 }) })).toBe(
      "Ingest     caught up (sequence 4)"
    )
  })

  it("--output json is the report itself, indented by two spaces", () => {
    const json = renderJson(reading)
    expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(reading)))
    expect(json.split("\n").slice(0, 3)).toEqual(["{", '  "at": "2026-03-01T10:00:00.000Z",', '  "namespace": "the0",'])
  })
})
