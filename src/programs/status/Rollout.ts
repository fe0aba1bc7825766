/**
 * The roll-out line of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"): the Pods the bot
 * controller is still to replace, and those on their way out.
 */
import type { Pod } from "../../domain/Kube.ts"
import type { BotStatus } from "./BotStatus.ts"

export interface RolloutStatus {
  /** Bots whose Pod runs an older document. */
  readonly outdated: ReadonlyArray<string>
  /** Bots whose Pod was made by the0's controller. */
  readonly awaitingMigration: ReadonlyArray<string>
  readonly terminatingPods: number
}

/** From the bots' statuses (the Pod that speaks for each) and every Pod of the bot controller. */
export const rollout = (bots: ReadonlyArray<BotStatus>, pods: ReadonlyArray<Pod>): RolloutStatus => ({
  outdated: bots.filter((b) => b.outdated).map((b) => b.id),
  awaitingMigration: bots.filter((b) => b.pod?.madeByThe0 === true && !b.pod.terminating).map((b) => b.id),
  terminatingPods: pods.filter((p) => p.metadata.deletionTimestamp !== undefined).length
})
