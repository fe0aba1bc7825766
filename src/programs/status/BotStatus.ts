/**
 * The bots section of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"): each bot with an enabled
 * document or a Pod of the bot controller, its state and why, from the Pod that speaks for it.
 */
import type { Either } from "effect"
import type { Bot } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { Pod } from "../../domain/Kube.ts"
import { Annotation, Label } from "../../domain/Labels.ts"
import { documentHash } from "../controller/OwnedKinds.ts"
import { type PodState, podState } from "./PodState.ts"
import { type PodView, podView, restartsOf } from "./PodView.ts"
import { byLabel, documents, type Section, section } from "./Section.ts"

/**
 * - running: the Pod is Running and every container runs;
 * - starting: scheduled and on its way (Pending, containers being created or initialised);
 * - failing: it will not run as it is (see `podState`);
 * - no-pod: an enabled document without a Pod;
 * - terminating: only a Pod being deleted;
 * - invalid: the document does not decode, so the controller skips it;
 * - orphaned: a Pod whose bot has no enabled document (the controller deletes it).
 */
export type BotState = PodState | "no-pod" | "invalid" | "orphaned"

const botStates: ReadonlyArray<BotState> = [
  "running",
  "starting",
  "failing",
  "no-pod",
  "terminating",
  "invalid",
  "orphaned"
]

export interface BotStatus {
  readonly id: string
  readonly state: BotState
  readonly reasons: ReadonlyArray<string>
  readonly restarts: number
  /** The Pod that counts: one not being deleted, the newest. */
  readonly pod?: PodView
  /** Every Pod of the bot (more than one during a replacement). */
  readonly pods: number
  /** The Pod runs an older version of the document: the controller replaces it. */
  readonly outdated: boolean
}

/** The Pod that speaks for a bot: one not being deleted before one that is, the newest first. */
const current = (pods: ReadonlyArray<Pod>): Pod | undefined =>
  [...pods].sort(
    (a, b) =>
      Number(a.metadata.deletionTimestamp !== undefined) - Number(b.metadata.deletionTimestamp !== undefined) ||
      (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? "")
  )[0]

/** A bot with its enabled document, or without one (orphaned). */
export const botStatus = (id: string, document: Bot | undefined, pods: ReadonlyArray<Pod>): BotStatus => {
  const pod = current(pods)
  const view = pod === undefined ? undefined : podView(pod)
  const base = {
    id,
    restarts: view === undefined ? 0 : restartsOf(view),
    pods: pods.length,
    ...(view === undefined ? {} : { pod: view }),
    outdated:
      document !== undefined &&
      pod !== undefined &&
      !view?.madeByThe0 &&
      pod.metadata.annotations?.[Annotation.documentHash] !== documentHash(document)
  }
  if (document === undefined)
    return { ...base, state: "orphaned", reasons: ["no enabled document: the controller deletes its Pod"] }
  if (pod === undefined) return { ...base, state: "no-pod", reasons: ["no Pod"] }
  return { ...base, ...podState(pod) }
}

/** A bot whose document does not decode, `problem` saying why. */
export const invalidBotStatus = (id: string, pods: ReadonlyArray<Pod>, problem: string): BotStatus => ({
  ...botStatus(id, undefined, pods),
  state: "invalid",
  reasons: [problem],
  outdated: false
})

/** Every id with a document, decoded (the first of an id) before not decoded, and every id with only Pods. */
export const botsSection = (
  results: ReadonlyArray<Either.Either<Bot, DocumentDecodeError>>,
  pods: ReadonlyArray<Pod>
): Section<BotState, BotStatus> => {
  const bots = documents(results)
  const podsOf = byLabel(pods, Label.botId)
  return section(botStates, bots, [
    ...[...bots.decoded].map(([id, document]) => botStatus(id, document, podsOf.get(id) ?? [])),
    ...[...bots.invalid]
      .filter(([id]) => !bots.decoded.has(id))
      .map(([id, message]) => invalidBotStatus(id, podsOf.get(id) ?? [], message)),
    ...[...podsOf]
      .filter(([id]) => !bots.decoded.has(id) && !bots.invalid.has(id))
      .map(([id, pods]) => botStatus(id, undefined, pods))
  ])
}
