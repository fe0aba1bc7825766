/** The human screen of `status --bot ID`: the bot's head lines, then each Pod with its containers. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { botStory } from "../../../src/programs/status/BotStory.ts"
import { renderStory } from "../../../src/programs/status/StoryText.ts"
import { container, doc, pod, undecodable } from "./StatusFixtures.ts"

describe("StoryText", () => {
  it("the document, state, reason, restarts and last log line, then each Pod and a table of its containers", () => {
    const crashing = pod("a", {
      node: "node-1",
      status: {
        phase: "Running",
        initContainerStatuses: [container("sync", { terminated: { exitCode: 0, reason: "Completed" } })],
        containerStatuses: [
          container("bot", { waiting: { reason: "CrashLoopBackOff" } }, 4, {
            lastState: { terminated: { exitCode: 1, reason: "Error", finishedAt: "2026-03-01T09:59:00Z" } }
          })
        ]
      }
    })
    const leaving = pod("a", {
      name: "bot-a-old",
      created: "2026-03-01T08:00:00Z",
      deleting: true,
      document: null,
      status: { phase: "Failed", reason: "Evicted", message: "low on memory" }
    })
    const story = botStory({
      id: "a",
      document: Either.right(doc("a")),
      pods: [leaving, crashing],
      lastLogLine: "KeyError: 'api_key'"
    })
    expect(renderStory(story)).toBe(`Bot            a
Document       enabled, custom bot bot-a, version 1.0.0, python3.11, realtime, user-1/a/v1.0.0.zip
State          failing
Reason         bot: CrashLoopBackOff
Restarts       4
Last log line  KeyError: 'api_key'

Pod bot-a: Running, created 2026-03-01T09:00:00Z on node-1
CONTAINER    STATE                      READY  RESTARTS  LAST TERMINATION
sync (init)  terminated: Completed      no     0         -
bot          waiting: CrashLoopBackOff  no     4         Error (exit 1) at 2026-03-01T09:59:00Z

Pod bot-a-old: Failed (Evicted: low on memory), terminating, made by the0, created 2026-03-01T08:00:00Z
  no container status yet
`)
  })

  it("no Pod, and a document that does not decode or is not there, are said", () => {
    expect(renderStory(botStory({ id: "a", document: undecodable("a"), pods: [] }))).toBe(`Bot            a
Document       does not decode: bot_runner.bots document "a": field config: Expected object
State          invalid
Reason         bot_runner.bots document "a": field config: Expected object
Restarts       0
Last log line  -

No Pod.
`)
    expect(renderStory(botStory({ id: "a", document: undefined, pods: [] }))).toContain(
      "Document       none in bot_runner.bots\n"
    )
    expect(
      renderStory(botStory({ id: "a", document: Either.right({ id: "a", config: { enabled: false } }), pods: [] }))
    ).toContain("Document       disabled\n")
  })
})
