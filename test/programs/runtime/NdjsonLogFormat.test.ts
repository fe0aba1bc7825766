import { describe, expect, it } from "@effect/vitest"
import { formatLogChunk } from "../../../src/programs/runtime/NdjsonLogFormat.ts"

const now = new Date("2026-04-01T10:00:00.123Z")
const lines = (text: string) => text.split("\n").filter((line) => line !== "")

describe("NDJSON log format", () => {
  it("wraps plain text with timestamp then message", () => {
    expect(formatLogChunk("hello world\n", now)).toBe('{"timestamp":"2026-04-01T10:00:00Z","message":"hello world"}\n')
  })

  it("passes JSON with a timestamp through byte for byte", () => {
    const line = '{"level":"info",  "timestamp":"2020-01-01T00:00:00Z","message":"x"}'
    expect(formatLogChunk(`${line}\n`, now)).toBe(`${line}\n`)
  })

  it("adds a timestamp to JSON objects without one, keeping their fields", () => {
    const record = JSON.parse(formatLogChunk('{"level":"warn","message":"m","n":1}', now))
    expect(record).toEqual({ level: "warn", message: "m", n: 1, timestamp: "2026-04-01T10:00:00Z" })
  })

  it("mixed chunks, quotes and %, empty lines dropped, trimmed lines, non-object JSON wrapped", () => {
    const out = formatLogChunk('  first "quoted" 100%\r\n\n{"_metric":"price","timestamp":"t"}\n[1,2]\n42\n   \n', now)
    const records = lines(out).map((line) => JSON.parse(line))
    expect(records).toEqual([
      { timestamp: "2026-04-01T10:00:00Z", message: 'first "quoted" 100%' },
      { _metric: "price", timestamp: "t" },
      { timestamp: "2026-04-01T10:00:00Z", message: "[1,2]" },
      { timestamp: "2026-04-01T10:00:00Z", message: "42" }
    ])
    expect(Object.keys(records[0] ?? {})).toEqual(["timestamp", "message"])
    expect(formatLogChunk("\n \n", now)).toBe("")
  })

  it("a 20-line production sample gives 20 records, each with a timestamp", () => {
    const sample = Array.from({ length: 20 }, (_, i) =>
      i % 3 === 0
        ? JSON.stringify({ _metric: "price", value: i, timestamp: `2026-01-01T00:00:${String(i).padStart(2, "0")}Z` })
        : i % 3 === 1
          ? `INFO:bot:line ${i}`
          : JSON.stringify({ level: "info", message: `m${i}` })
    ).join("\n")
    const records = lines(formatLogChunk(sample, now)).map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(records).toHaveLength(20)
    for (const [i, record] of records.entries()) {
      expect(typeof record.timestamp).toBe("string")
      if (i % 3 === 0) expect(record.timestamp).toBe(`2026-01-01T00:00:${String(i).padStart(2, "0")}Z`)
      if (i % 3 === 1) expect(record.message).toBe(`INFO:bot:line ${i}`)
    }
  })
})
