/** Tables, label and value lines, and ages, as the human screens of `status` print them. */
import { describe, expect, it } from "@effect/vitest"
import { ago, fields, table } from "../../../src/programs/status/TextTable.ts"

describe("TextTable", () => {
  it("pads every column but the last to its widest cell, two spaces apart, no trailing blanks", () => {
    expect(
      table(
        ["ID", "STATE", "REASON"],
        [
          ["a-long-id", "ok", ""],
          ["b", "failing", "why"]
        ]
      )
    ).toBe(["ID         STATE    REASON", "a-long-id  ok", "b          failing  why"].join("\n"))
  })

  it("fields are label and value lines, the values aligned, without a header", () => {
    expect(
      fields([
        ["Bot", "a"],
        ["Last log line", "-"]
      ])
    ).toBe(["Bot            a", "Last log line  -"].join("\n"))
  })

  it("ages: seconds under 2 minutes, minutes under 2 hours, hours under 2 days, then days; ahead is `in`", () => {
    const now = Date.parse("2026-03-01T10:00:00Z")
    const aged = (seconds: number) => ago(new Date(now - seconds * 1000).toISOString(), now)
    expect([0, 119, 120, 7199, 7200, 172_799, 172_800].map(aged)).toEqual([
      "0s ago",
      "119s ago",
      "2m ago",
      "120m ago",
      "2h ago",
      "48h ago",
      "2d ago"
    ])
    expect(aged(-90)).toBe("in 90s")
    expect(aged(-3 * 86_400)).toBe("in 3d")
    expect(ago(undefined, now)).toBe("-")
    expect(ago("yesterday", now)).toBe("yesterday")
  })
})
