import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { appendBotLogs } from "../../../src/programs/runtime/DailyLog.ts"
import { minPartSize, type ObjectStoreService } from "../../../src/services/ObjectStore.ts"
import { bytes, failing, layerOf, memoryStore, text } from "./support/Stores.ts"

const day = Date.UTC(2026, 3, 1, 10, 0, 0)
const dailyKey = "logs/bot-1/20260401.log"

const append = (store: ObjectStoreService, chunk: string | Uint8Array) =>
  appendBotLogs("bot-logs", "bot-1", typeof chunk === "string" ? bytes(chunk) : chunk).pipe(
    Effect.provide(layerOf(store))
  )

const keys = (store: ObjectStoreService) => Effect.map(store.list("bot-logs"), (infos) => infos.map((info) => info.key))

describe("Daily log append", () => {
  it.effect("the first write of the day creates the object; later ones append; no temp object is left", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(day)
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      yield* append(store, "first line\n")
      yield* append(store, '{"level":"info","message":"second"}\n')
      expect(yield* keys(store)).toEqual([dailyKey])
      expect(text(yield* store.get("bot-logs", dailyKey))).toBe(
        '{"timestamp":"2026-04-01T10:00:00Z","message":"first line"}\n' +
          '{"level":"info","message":"second","timestamp":"2026-04-01T10:00:00Z"}\n'
      )
      expect((yield* store.stat("bot-logs", dailyKey)).contentType).toBe("text/plain")
      yield* TestClock.adjust("1 day")
      yield* append(store, "next day\n")
      expect(yield* keys(store)).toEqual([dailyKey, "logs/bot-1/20260402.log"])
    })
  )

  it.effect("empty input and blank lines are no-ops", () =>
    Effect.gen(function* () {
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      expect(yield* append(store, "")).toBe(0)
      expect(yield* append(store, "\n  \n")).toBe(0)
      expect(yield* keys(store)).toEqual([])
    })
  )

  it.effect("at 5 MiB and above the append is a server-side compose; the content is exact", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(day)
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      const primed = new Uint8Array(minPartSize + 10).fill(0x41)
      yield* store.put("bot-logs", dailyKey, primed, { contentType: "text/plain" })
      yield* append(store, "tail\n")
      const info = yield* store.stat("bot-logs", dailyKey)
      expect(info.size).toBe(primed.length + '{"timestamp":"2026-04-01T10:00:00Z","message":"tail"}\n'.length)
      expect(info.etag).toMatch(/-2$/)
      expect(yield* keys(store)).toEqual([dailyKey])
    })
  )

  it.effect("a failed compose leaves the daily object as it was, no upload open and no temp object", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(day)
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      const primed = new Uint8Array(8 * 1024 * 1024).fill(0x42)
      yield* store.put("bot-logs", dailyKey, primed, { contentType: "text/plain" })
      const error = yield* Effect.flip(append(failing(store, ["compose"]), "line\n"))
      expect(error.message).toContain(`compose bot-logs/${dailyKey}`)
      expect((yield* store.stat("bot-logs", dailyKey)).size).toBe(primed.length)
      expect(yield* store.listIncompleteUploads("bot-logs", dailyKey)).toEqual([])
      expect(yield* keys(store)).toEqual([dailyKey])
    })
  )

  it.effect("an unknown error reading the daily object never overwrites it", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(day)
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      yield* store.put("bot-logs", dailyKey, bytes("precious\n"))
      const error = yield* Effect.flip(append(failing(store, ["stat"]), "line\n"))
      expect(error.message).toContain("stat daily log")
      expect(text(yield* store.get("bot-logs", dailyKey))).toBe("precious\n")
      expect(yield* keys(store)).toEqual([dailyKey])
    })
  )

  it.effect("appends past 5 MiB keep every chunk in order and leave nothing behind", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(day)
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      const primed = `${JSON.stringify({ timestamp: "t", i: -1, pad: "x".repeat(minPartSize - 40) })}\n`
      yield* store.put("bot-logs", dailyKey, bytes(primed), { contentType: "text/plain" })
      for (let i = 0; i < 40; i++) {
        yield* append(store, `${JSON.stringify({ timestamp: "t", i, pad: "x".repeat(10_000) })}\n`)
      }
      const lines = text(yield* store.get("bot-logs", dailyKey))
        .trimEnd()
        .split("\n")
      expect(lines.map((line) => (JSON.parse(line) as { i: number }).i)).toEqual(
        Array.from({ length: 41 }, (_, i) => i - 1)
      )
      expect((yield* store.stat("bot-logs", dailyKey)).etag).toMatch(/-2$/)
      expect(yield* keys(store)).toEqual([dailyKey])
    })
  )
})
