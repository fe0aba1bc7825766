/** What a section is built from: documents by id, objects by label, items sorted and counted. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { byLabel, documents, section } from "../../../src/programs/status/Section.ts"
import { doc, pod, undecodable } from "./StatusFixtures.ts"

describe("Section", () => {
  it("documents: the first of a duplicated id is kept; ids that do not decode are kept with why", () => {
    const first = doc("a", { v: 1 })
    const read = documents([Either.right(first), Either.right(doc("a", { v: 2 })), undecodable("b")])
    expect([...read.decoded]).toEqual([["a", first]])
    expect([...read.invalid]).toEqual([["b", 'bot_runner.bots document "b": field config: Expected object']])
  })

  it("byLabel groups objects by the label's value, in the order met, and leaves out those without it", () => {
    const unlabelled = { ...pod("x"), metadata: { name: "stray" } }
    const grouped = byLabel(
      [pod("a", { name: "a1" }), unlabelled, pod("b"), pod("a", { name: "a2" })],
      "the0.app/bot-id"
    )
    expect([...grouped].map(([id, pods]) => [id, pods.map((p) => p.metadata.name)])).toEqual([
      ["a", ["a1", "a2"]],
      ["b", ["bot-b"]]
    ])
  })

  it("a section sorts its items by id, counts every state (zero included, in order), and counts an id once", () => {
    const desired = documents([Either.right(doc("b")), undecodable("b"), undecodable("c")])
    const built = section(["up", "down"], desired, [
      { id: "c", state: "down" as const },
      { id: "a", state: "down" as const },
      { id: "b", state: "down" as const }
    ])
    expect(built).toEqual({
      desired: 2,
      counts: { up: 0, down: 3 },
      items: [
        { id: "a", state: "down" },
        { id: "b", state: "down" },
        { id: "c", state: "down" }
      ]
    })
    expect(Object.keys(built.counts)).toEqual(["up", "down"])
  })
})
