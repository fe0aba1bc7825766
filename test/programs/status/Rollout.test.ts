/** The roll-out: outdated Pods, the0's Pods awaiting migration (not those already leaving), Pods terminating. */
import { describe, expect, it } from "@effect/vitest"
import { botStatus } from "../../../src/programs/status/BotStatus.ts"
import { rollout } from "../../../src/programs/status/Rollout.ts"
import { doc, pod, running } from "./StatusFixtures.ts"

describe("Rollout", () => {
  it("counts every terminating Pod, and lists by bot the outdated ones and the0's not yet leaving", () => {
    const pods = {
      fresh: [pod("fresh", { status: running })],
      old: [pod("old", { status: running })],
      the0: [pod("the0", { status: running, document: null })],
      leaving: [pod("leaving", { status: running, document: null, deleting: true })],
      replacing: [
        pod("replacing", { name: "bot-replacing-a", deleting: true }),
        pod("replacing", { name: "bot-replacing-b", created: "2026-03-01T09:59:00Z" })
      ]
    }
    const bots = [
      botStatus("fresh", doc("fresh"), pods.fresh),
      botStatus("old", doc("old", { symbol: "ETH" }), pods.old),
      botStatus("the0", doc("the0"), pods.the0),
      botStatus("leaving", doc("leaving"), pods.leaving),
      botStatus("replacing", doc("replacing"), pods.replacing)
    ]
    expect(rollout(bots, Object.values(pods).flat())).toEqual({
      outdated: ["old"],
      awaitingMigration: ["the0"],
      terminatingPods: 2
    })
  })
})
