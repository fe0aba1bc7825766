/** The bots section: which Pod speaks for a bot, outdated Pods, documents that do not decode, orphans. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { botStatus, botsSection } from "../../../src/programs/status/BotStatus.ts"
import { doc, pod, running, undecodable } from "./StatusFixtures.ts"

describe("BotStatus", () => {
  it("the Pod that speaks for a bot is one not being deleted before one that is, the newest first", () => {
    const old = pod("a", { name: "bot-a-old", created: "2026-03-01T08:00:00Z", status: running })
    const newer = pod("a", { name: "bot-a-new", created: "2026-03-01T09:00:00Z", status: running })
    const leaving = pod("a", { name: "bot-a-leaving", created: "2026-03-01T09:30:00Z", deleting: true })
    expect(botStatus("a", doc("a"), [old, leaving, newer])).toMatchObject({
      state: "running",
      pods: 3,
      pod: { name: "bot-a-new" }
    })
    expect(botStatus("a", doc("a"), [leaving])).toMatchObject({ state: "terminating", pod: { name: "bot-a-leaving" } })
  })

  it("restarts are summed over the containers of that Pod", () => {
    const status = {
      phase: "Running" as const,
      initContainerStatuses: [{ name: "sync", ready: true, restartCount: 2, state: { terminated: { exitCode: 0 } } }],
      containerStatuses: [{ name: "bot", ready: true, restartCount: 3, state: { running: {} } }]
    }
    expect(botStatus("a", doc("a"), [pod("a", { status })]).restarts).toBe(5)
  })

  it("outdated: our Pod for another version of the document; never the0's Pod, never without a document", () => {
    expect(botStatus("a", doc("a"), [pod("a", { status: running })]).outdated).toBe(false)
    expect(botStatus("a", doc("a", { symbol: "ETH" }), [pod("a", { status: running })]).outdated).toBe(true)
    expect(botStatus("a", doc("a", { symbol: "ETH" }), [pod("a", { status: running, document: null })]).outdated).toBe(
      false
    )
    expect(botStatus("a", undefined, [pod("a", { status: running })])).toMatchObject({
      state: "orphaned",
      outdated: false,
      reasons: ["no enabled document: the controller deletes its Pod"]
    })
    expect(botStatus("a", doc("a"), [])).toEqual({
      id: "a",
      restarts: 0,
      pods: 0,
      outdated: false,
      state: "no-pod",
      reasons: ["no Pod"]
    })
  })

  it("the section: a decoded document wins over one of its id that does not decode; ids only Pods know are orphans", () => {
    const section = botsSection(
      [
        Either.right(doc("b")),
        undecodable("b"),
        undecodable("c"),
        Either.right(doc("a")),
        Either.right(doc("a", { symbol: "ETH" }))
      ],
      [pod("a", { status: running }), pod("c", { status: running }), pod("z", { status: running })]
    )
    expect(section.items.map((b) => [b.id, b.state])).toEqual([
      ["a", "running"],
      ["b", "no-pod"],
      ["c", "invalid"],
      ["z", "orphaned"]
    ])
    expect(section.items[0]?.outdated).toBe(false)
    expect(section.items[2]).toMatchObject({
      reasons: ['bot_runner.bots document "c": field config: Expected object'],
      pod: { name: "bot-c" },
      outdated: false
    })
    expect(section.desired).toBe(3)
    expect(section.counts).toEqual({
      running: 1,
      starting: 0,
      failing: 0,
      "no-pod": 1,
      terminating: 0,
      invalid: 1,
      orphaned: 1
    })
  })
})
