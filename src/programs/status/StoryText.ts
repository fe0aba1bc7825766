/**
 * The human screen of `the0-runtime status --bot ID` (docs/operations.md, "`the0-runtime status`"): the bot's
 * document, state, reasons and last log line, then each Pod with a table of its containers.
 */
import type { BotStory } from "./BotStory.ts"
import type { ContainerView, PodView } from "./PodView.ts"
import { fields, table } from "./TextTable.ts"

const documentLine = (story: BotStory): string => {
  const d = story.document
  if (story.documentProblem !== undefined) return `does not decode: ${story.documentProblem}`
  if (d === undefined) return "none in bot_runner.bots"
  return [
    d.enabled ? "enabled" : "disabled",
    d.name === undefined ? undefined : `custom bot ${d.name}`,
    d.version === undefined ? undefined : `version ${d.version}`,
    d.runtime,
    d.type,
    d.filePath
  ]
    .filter((part) => part !== undefined)
    .join(", ")
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

const podSection = (p: PodView): string =>
  [
    `Pod ${p.name}: ${p.phase ?? "no phase"}${p.reason === undefined ? "" : ` (${p.reason}${p.message === undefined ? "" : `: ${p.message}`})`}${p.terminating ? ", terminating" : ""}${p.madeByThe0 ? ", made by the0" : ""}, created ${p.createdAt ?? "?"}${p.node === undefined ? "" : ` on ${p.node}`}`,
    p.containers.length === 0
      ? "  no container status yet"
      : table(["CONTAINER", "STATE", "READY", "RESTARTS", "LAST TERMINATION"], p.containers.map(containerRow))
  ].join("\n")

export const renderStory = (story: BotStory): string => {
  const head = fields([
    ["Bot", story.id],
    ["Document", documentLine(story)],
    ["State", story.status.state],
    ["Reason", story.status.reasons.join("; ") || "-"],
    ["Restarts", String(story.status.restarts)],
    ["Last log line", story.lastLogLine ?? "-"]
  ])
  const pods = story.pods.map(podSection)
  return `${[head, ...(pods.length === 0 ? ["No Pod."] : pods)].join("\n\n")}\n`
}
