/**
 * The human screen of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"): a summary, then tables
 * of the bots and schedules that need a look (every one with `all`).
 */
import type { BotStatus } from "./BotStatus.ts"
import type { IngestStatus } from "./IngestStatus.ts"
import type { ScheduleStatus } from "./ScheduleStatus.ts"
import type { StatusReport } from "./StatusReport.ts"
import { ago, fields, table } from "./TextTable.ts"

const leaderLine = (report: StatusReport, now: number): string => {
  const leader = report.leader
  if (leader === undefined) return "none (no Lease: no replica has led yet)"
  if (leader.holder === undefined) return `none (Lease ${leader.lease} released)`
  const renewed = `renewed ${ago(leader.renewTime, now)}`
  return leader.held
    ? `${leader.holder} (${renewed})`
    : `none: ${leader.holder} held Lease ${leader.lease} but has not renewed it (${renewed}, duration ${leader.leaseDurationSeconds ?? "?"}s)`
}

const ingestLine = (ingest: IngestStatus): string => {
  switch (ingest.state) {
    case "not-configured":
      return "not shown (no --nats-url)"
    case "unavailable":
      return `NATS cannot say: ${ingest.reason}`
    case "no-stream":
      return "no THE0_EVENTS stream: the0's API has not published yet"
    case "no-consumer":
      return "no replica has consumed THE0_EVENTS yet"
    case "reading":
      return ingest.behind === 0
        ? `caught up (sequence ${ingest.lastSequence})`
        : `${ingest.behind} events behind (${ingest.undelivered} not delivered yet; applied through ${ingest.ackFloor} of ${ingest.lastSequence})`
  }
}

/** Running, scheduled and failing are always said, other states only when some are. */
const countsLine = (counts: Readonly<Record<string, number>>, desired: number): string =>
  [
    `${desired} desired`,
    ...Object.entries(counts)
      .filter(([state, n]) => n > 0 || state === "running" || state === "scheduled" || state === "failing")
      .map(([state, n]) => `${n} ${state}`)
  ].join(", ")

const rolloutLine = ({ outdated, awaitingMigration, terminatingPods }: StatusReport["rollout"]): string =>
  outdated.length + awaitingMigration.length + terminatingPods === 0
    ? "none"
    : `${outdated.length} Pods run an older document, ${awaitingMigration.length} made by the0 await migration, ${terminatingPods} terminating`

const botRow = (b: BotStatus): ReadonlyArray<string> => [
  b.id,
  b.state,
  b.pod?.name ?? "-",
  b.pod?.phase ?? "-",
  String(b.restarts),
  b.reasons.join("; ")
]

const scheduleRow = (s: ScheduleStatus, now: number): ReadonlyArray<string> => [
  s.id,
  s.state,
  s.schedule === undefined ? "-" : `${s.schedule}${s.timeZone === undefined ? "" : ` ${s.timeZone}`}`,
  ago(s.lastRun, now),
  ago(s.lastSuccess, now),
  ago(s.nextRun, now),
  String(s.active),
  s.reasons.join("; ")
]

/** Without `all`, running bots and scheduled schedules are left out, and the screen says so. */
export const renderReport = (report: StatusReport, options: { readonly all: boolean }): string => {
  const now = Date.parse(report.at)
  const bots = report.bots.items.filter((b) => options.all || b.state !== "running")
  const schedules = report.schedules.items.filter((s) => options.all || s.state !== "scheduled")
  const summary = fields([
    ["Namespace", report.namespace],
    ["Leader", leaderLine(report, now)],
    ["Ingest", ingestLine(report.ingest)],
    ["Bots", countsLine(report.bots.counts, report.bots.desired)],
    ["Schedules", countsLine(report.schedules.counts, report.schedules.desired)],
    ["Roll-out", rolloutLine(report.rollout)]
  ])
  const sections = [summary]
  if (bots.length > 0) sections.push(table(["BOT", "STATE", "POD", "PHASE", "RESTARTS", "REASON"], bots.map(botRow)))
  if (schedules.length > 0)
    sections.push(
      table(
        ["SCHEDULE", "STATE", "CRON", "LAST RUN", "LAST SUCCESS", "NEXT RUN", "ACTIVE", "REASON"],
        schedules.map((s) => scheduleRow(s, now))
      )
    )
  if (!options.all)
    sections.push("Bots running and schedules on time are left out; --all lists them, --bot ID tells one bot's story.")
  return `${sections.join("\n\n")}\n`
}
