/** One bot's story: its document whatever its `enabled`, its status, its Pods newest first. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { botStory } from "../../../src/programs/status/BotStory.ts"
import { doc, pod, running, undecodable } from "./StatusFixtures.ts"

describe("BotStory", () => {
  it("an enabled document: what it says, the status of its newest Pod, every Pod newest first, the last log line", () => {
    const pods = [
      pod("a", { name: "bot-a-1", created: "2026-03-01T08:00:00Z", deleting: true }),
      pod("a", { name: "bot-a-2", created: "2026-03-01T09:00:00Z", status: running, node: "n1" })
    ]
    const story = botStory({ id: "a", document: Either.right(doc("a")), pods, lastLogLine: "connected" })
    expect(story).toMatchObject({
      id: "a",
      document: {
        enabled: true,
        name: "bot-a",
        version: "1.0.0",
        runtime: "python3.11",
        type: "realtime",
        filePath: "user-1/a/v1.0.0.zip"
      },
      status: { state: "running", pods: 2, pod: { name: "bot-a-2" } },
      lastLogLine: "connected"
    })
    expect(story.pods.map((p) => p.name)).toEqual(["bot-a-2", "bot-a-1"])
    expect(story.documentProblem).toBeUndefined()
  })

  it("a disabled document makes its Pod an orphan and says no Pod should run", () => {
    const story = botStory({
      id: "a",
      document: Either.right(doc("a", { enabled: false })),
      pods: [pod("a", { status: running })]
    })
    expect(story.document?.enabled).toBe(false)
    expect(story.status).toMatchObject({
      state: "orphaned",
      reasons: ["document disabled (config.enabled is false): no Pod should run"]
    })
  })

  it("a document that does not decode is invalid, with why; no document and no Pod is said so", () => {
    const broken = botStory({ id: "a", document: undecodable("a"), pods: [pod("a", { status: running })] })
    expect(broken.document).toBeUndefined()
    expect(broken.documentProblem).toBe('bot_runner.bots document "a": field config: Expected object')
    expect(broken.status).toMatchObject({ state: "invalid", reasons: [broken.documentProblem], outdated: false })
    expect(botStory({ id: "a", document: undefined, pods: [] }).status).toEqual({
      id: "a",
      restarts: 0,
      pods: 0,
      outdated: false,
      state: "orphaned",
      reasons: ["no document and no Pod"]
    })
    expect(botStory({ id: "a", document: undefined, pods: [pod("a")] }).status.reasons).toEqual([
      "no enabled document: the controller deletes its Pod"
    ])
  })
})
