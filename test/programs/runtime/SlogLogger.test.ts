import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as SlogLogger from "../../../src/programs/runtime/SlogLogger.ts"

/** The slog lines of one info and one warning, logged with `LOG_LEVEL` set as given (unset when undefined). */
const linesAt = (level: string | undefined) => {
  const lines: Array<Record<string, unknown>> = []
  const env = new Map(level === undefined ? [] : [["LOG_LEVEL", level]])
  Effect.runSync(
    Effect.zipRight(Effect.logInfo("info line"), Effect.logWarning("warn line")).pipe(
      Effect.provide(SlogLogger.layer((line) => lines.push(JSON.parse(line)))),
      Effect.withConfigProvider(ConfigProvider.fromMap(env))
    )
  )
  return lines.map((line) => [line.level, line.msg])
}

describe("SlogLogger", () => {
  it("writes slog JSON at LOG_LEVEL, read through the ConfigProvider; unset or unknown is INFO", () => {
    const both = [
      ["INFO", "info line"],
      ["WARN", "warn line"]
    ]
    expect(linesAt(undefined)).toEqual(both)
    expect(linesAt("bogus")).toEqual(both)
    expect(linesAt("warn")).toEqual([["WARN", "warn line"]])
    expect(linesAt("ERROR")).toEqual([])
  })
})
