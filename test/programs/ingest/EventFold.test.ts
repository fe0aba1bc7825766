/** The0's event semantics as a fold: creation, partial updates, deletes, and schedules' next execution time. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { fold } from "../../../src/programs/ingest/EventFold.ts"
import { nextExecutionTime } from "../../../src/programs/manifests/Cron.ts"
import type { IngestedEvent } from "../../../src/services/BotStore.ts"

const at = Date.UTC(2026, 10, 30, 9, 7)
const event = (sequence: number, kind: IngestedEvent["kind"], extra: Partial<IngestedEvent> = {}): IngestedEvent => ({
  sequence,
  kind,
  receivedAt: at + sequence * 60_000,
  ...extra
})
const next = (cron: string, sequence: number) =>
  Either.getOrThrow(nextExecutionTime(cron, new Date(at + sequence * 60_000)))

describe("event fold", () => {
  it("a schedule's next execution time is computed when it is created and recomputed only when its cron changes", () => {
    const created = event(1, "created", { config: { schedule: "*/5 * * * *" } })
    const sameCron = event(4, "updated", { config: { schedule: "*/5 * * * *", risk: 2 } })
    const newCron = event(5, "updated", { config: { schedule: "0 * * * *" } })
    expect(fold("schedule", "s", null, [created]).document.next_execution_time).toBe(next("*/5 * * * *", 1))
    expect(fold("schedule", "s", null, [created, sameCron]).document.next_execution_time).toBe(next("*/5 * * * *", 1))
    const changed = fold("schedule", "s", null, [created, sameCron, newCron])
    expect(changed.document.next_execution_time).toBe(next("0 * * * *", 5))
    expect(next("*/5 * * * *", 4)).not.toBe(next("*/5 * * * *", 1))
  })

  it("on a document that existed before, only what the events set is written, and bots get no execution time", () => {
    const base = { id: "b", config: { v: 0 }, custom: { version: "0" }, segment_id: 4 }
    const folded = fold("bot", "b", base, [event(5, "updated", { config: { v: 5 } }), event(6, "created")])
    expect(folded).toEqual({
      exists: true,
      fresh: false,
      document: { id: "b", config: { v: 5 }, custom: { version: "0" }, segment_id: 4 },
      set: { config: { v: 5 } }
    })
  })

  it("a delete ends the document; a later create or update makes a fresh one without the old fields", () => {
    const base = { id: "b", config: { v: 0 }, segment_id: 4 }
    expect(fold("bot", "b", base, [event(1, "deleted")]).exists).toBe(false)
    const revived = fold("bot", "b", base, [event(1, "deleted"), event(2, "updated", { config: { v: 2 } })])
    expect(revived).toEqual({ exists: true, fresh: true, document: { id: "b", config: { v: 2 } }, set: {} })
  })
})
