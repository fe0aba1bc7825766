/**
 * The human screen of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"): a summary, then tables
 * of the bots and schedules that need a look (every one with `all`); `--output json` prints the report instead.
 */
import type { BotStatus, BotStory, ContainerView, IngestStatus, ScheduleStatus, StatusReport } from "./StatusReport.ts"

/** Columns padded to their widest cell; the last column is not padded. */
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

const ago = (iso: string | undefined, now: number): string => {
  if (iso === undefined) return "-"
  const seconds = Math.round((now - Date.parse(iso)) / 1000)
  if (Number.isNaN(seconds)) return iso
  const span =
    Math.abs(seconds) < 120
      ? `${Math.abs(seconds)}s`
      : Math.abs(seconds) < 7200
        ? `${Math.round(Math.abs(seconds) / 60)}m`
        : Math.abs(seconds) < 172_800
          ? `${Math.round(Math.abs(seconds) / 3600)}h`
          : `${Math.round(Math.abs(seconds) / 86_400)}d`
  return seconds >= 0 ? `${span} ago` : `in ${span}`
}

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

const countsLine = (counts: Readonly<Record<string, number>>, desired: number): string =>
  [
    `${desired} desired`,
    ...Object.entries(counts)
      .filter(([state, n]) => n > 0 || state === "running" || state === "scheduled" || state === "failing")
      .map(([state, n]) => `${n} ${state}`)
  ].join(", ")

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

export const renderReport = (report: StatusReport, options: { readonly all: boolean }): string => {
  const now = Date.parse(report.at)
  const bots = report.bots.items.filter((b) => options.all || b.state !== "running")
  const schedules = report.schedules.items.filter((s) => options.all || s.state !== "scheduled")
  const rollout = report.rollout
  const rolling =
    rollout.outdated.length + rollout.awaitingMigration.length + rollout.terminatingPods === 0
      ? "none"
      : `${rollout.outdated.length} Pods run an older document, ${rollout.awaitingMigration.length} made by the0 await migration, ${rollout.terminatingPods} terminating`
  const summary = table(
    ["", ""],
    [
      ["Namespace", report.namespace],
      ["Leader", leaderLine(report, now)],
      ["Ingest", ingestLine(report.ingest)],
      ["Bots", countsLine(report.bots.counts, report.bots.desired)],
      ["Schedules", countsLine(report.schedules.counts, report.schedules.desired)],
      ["Roll-out", rolling]
    ]
  )
    .split("\n")
    .slice(1)
    .join("\n")
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

const containerRow = (c: ContainerView): ReadonlyArray<string> => [
  `${c.name}${c.init ? " (init)" : ""}`,
  c.reason === undefined ? c.state : `${c.state}: ${c.reason}`,
  c.ready ? "yes" : "no",
  String(c.restarts),
  c.lastTermination === undefined
    ? "-"
    : `${c.lastTermination.reason ?? "terminated"}${c.lastTermination.exitCode === undefined ? "" : ` (exit ${c.lastTermination.exitCode})`}${c.lastTermination.finishedAt === undefined ? "" : ` at ${c.lastTermination.finishedAt}`}`
]

export const renderStory = (story: BotStory): string => {
  const d = story.document
  const documentLine =
    story.documentProblem !== undefined
      ? `does not decode: ${story.documentProblem}`
      : d === undefined
        ? "none in bot_runner.bots"
        : [
            d.enabled ? "enabled" : "disabled",
            d.name === undefined ? undefined : `custom bot ${d.name}`,
            d.version === undefined ? undefined : `version ${d.version}`,
            d.runtime,
            d.type,
            d.filePath
          ]
            .filter((part) => part !== undefined)
            .join(", ")
  const head = table(
    ["", ""],
    [
      ["Bot", story.id],
      ["Document", documentLine],
      ["State", story.status.state],
      ["Reason", story.status.reasons.join("; ") || "-"],
      ["Restarts", String(story.status.restarts)],
      ["Last log line", story.lastLogLine ?? "-"]
    ]
  )
    .split("\n")
    .slice(1)
    .join("\n")
  const pods = story.pods.map((p) =>
    [
      `Pod ${p.name}: ${p.phase ?? "no phase"}${p.reason === undefined ? "" : ` (${p.reason}${p.message === undefined ? "" : `: ${p.message}`})`}${p.terminating ? ", terminating" : ""}${p.madeByThe0 ? ", made by the0" : ""}, created ${p.createdAt ?? "?"}${p.node === undefined ? "" : ` on ${p.node}`}`,
      p.containers.length === 0
        ? "  no container status yet"
        : table(["CONTAINER", "STATE", "READY", "RESTARTS", "LAST TERMINATION"], p.containers.map(containerRow))
    ].join("\n")
  )
  return `${[head, ...(pods.length === 0 ? ["No Pod."] : pods)].join("\n\n")}\n`
}
