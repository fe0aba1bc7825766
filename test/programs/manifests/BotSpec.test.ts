import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { Bot } from "../../../src/domain/Bot.ts"
import { customBotIdLabel, sanitizeLabelValue } from "../../../src/domain/Labels.ts"
import { supportedRuntimes } from "../../../src/domain/Runtimes.ts"
import { botSpec, idProblem, unsafePathCharacter } from "../../../src/programs/manifests/BotSpec.ts"
import { left, right, testBot } from "./fixtures.ts"

describe("botSpec", () => {
  it("extracts what the generators need", () => {
    const spec = right(botSpec(testBot({ entrypoints: { bot: "main.py", query: "query.py" } })))
    expect(spec).toStrictEqual({
      id: "test-bot-123",
      runtime: "python3.11",
      entrypoint: "main.py",
      queryEntrypoint: "query.py",
      filePath: "user-1/test-bot/v1.0.0.zip",
      version: "1.0.0",
      customBotName: "test-bot",
      config: { symbol: "BTC/USD", interval: "1m" }
    })
  })

  it("an empty query entrypoint is no query entrypoint", () => {
    expect(right(botSpec(testBot({ entrypoints: { bot: "main.py", query: "" } }))).queryEntrypoint).toBeUndefined()
  })

  it.each(supportedRuntimes)("accepts runtime %s", (runtime) => {
    expect(right(botSpec(testBot({ runtime }))).runtime).toBe(runtime)
  })

  it("missing runtime", () => {
    const error = left(botSpec(testBot({ runtime: "" })))
    expect(error).toMatchObject({
      _tag: "ManifestError",
      botId: "test-bot-123",
      field: "custom.config.runtime",
      message: "bot test-bot-123: runtime is required"
    })
  })

  it("missing entrypoint", () => {
    expect(left(botSpec(testBot({ entrypoints: { query: "q.py" } })))).toMatchObject({
      field: "custom.config.entrypoints.bot",
      message: "bot test-bot-123: entrypoint is required (missing entrypoints.bot in config)"
    })
  })

  it("missing file path", () => {
    expect(left(botSpec(testBot({ filePath: "" })))).toMatchObject({
      field: "custom.filePath",
      message: "bot test-bot-123: file path is required"
    })
  })

  it("a document without custom fails on the runtime first", () => {
    const doc: Bot = { id: "abc" }
    expect(left(botSpec(doc)).field).toBe("custom.config.runtime")
  })

  it("file path with shell metacharacters: test; rm -rf /", () => {
    expect(left(botSpec(testBot({ filePath: "test; rm -rf /" })))).toMatchObject({
      field: "custom.filePath",
      message: "invalid file path: invalid character ';' in path"
    })
  })

  it("unsupported runtime: the0's message", () => {
    expect(left(botSpec(testBot({ runtime: "python3.10" })))).toMatchObject({
      field: "custom.config.runtime",
      message:
        'failed to validate runtime image: unsupported runtime: "python3.10" (supported: cpp-gcc13, dotnet8, gcc13, ghc96, nodejs20, python3.11, rust-stable, scala3)'
    })
  })

  it("checks in the0's order: runtime, entrypoint, file path, path characters, id, runtime support", () => {
    const broken = { id: "Bad_Id", runtime: "cobol", entrypoints: {}, filePath: "" }
    expect(left(botSpec(testBot({ ...broken, runtime: "" }))).message).toContain("runtime is required")
    expect(left(botSpec(testBot(broken))).field).toBe("custom.config.entrypoints.bot")
    expect(left(botSpec(testBot({ ...broken, entrypoints: { bot: "m" } }))).field).toBe("custom.filePath")
    expect(left(botSpec(testBot({ ...broken, entrypoints: { bot: "m" }, filePath: "a b" }))).field).toBe(
      "custom.filePath"
    )
    expect(left(botSpec(testBot({ ...broken, entrypoints: { bot: "m" }, filePath: "a/b" }))).field).toBe("id")
    expect(
      left(botSpec(testBot({ ...broken, id: "ok", entrypoints: { bot: "m" }, filePath: "a/b" }))).message
    ).toContain("unsupported runtime")
  })

  it("a 64-character id does not fit a label value", () => {
    const id = "a".repeat(64)
    expect(left(botSpec(testBot({ id })))).toMatchObject({
      botId: id,
      field: "id",
      message: "invalid bot ID: must be no more than 63 characters"
    })
    expect(right(botSpec(testBot({ id: "a".repeat(63) }))).id).toHaveLength(63)
  })

  it.each(["Test-Bot", "bot_1", "a.b", "user/bot", "-bot", "bot-"])("rejects id %j, which cannot name a Pod", (id) => {
    expect(left(botSpec(testBot({ id }))).field).toBe("id")
  })

  it("an id with shell metacharacters gets the0's message", () => {
    expect(idProblem("x; rm -rf /")).toBe("invalid bot ID: invalid character ';' in path")
  })

  it.each(["test-bot-123", "clx0k2n8x0000abcd1234efgh", "0", "a-b-c"])("accepts id %j", (id) => {
    expect(idProblem(id)).toBeUndefined()
    expect(Either.isRight(botSpec(testBot({ id })))).toBe(true)
  })
})

describe("unsafePathCharacter (the0 validateMinIOPath)", () => {
  it.each(["user/bot/v1.zip", "ABC-def_123.zip", "a/b/c/d", "file.tar.gz", "under_score", ""])("allows %j", (path) => {
    expect(unsafePathCharacter(path)).toBeUndefined()
  })

  it.each([
    ["a;b", ";"],
    ["a|b", "|"],
    ["a`b`", "`"],
    ["$(whoami)", "$"],
    ["a && b", " "],
    ["a&&b", "&"],
    ["with space", " "],
    ["it's", "'"],
    ["über", "ü"],
    ["a😀", "😀"]
  ])("rejects %j at %j", (path, character) => {
    expect(unsafePathCharacter(path)).toBe(character)
  })
})

describe("label values (the0 sanitizeLabelValue and extractCustomBotID)", () => {
  it.each([
    ["my-bot", "my-bot"],
    ["special@#$chars", "specialchars"],
    ["-starts-with-dash", "starts-with-dash"],
    ["ends-with-dash-", "ends-with-dash"],
    ["", "bot"],
    ["@@@", "bot"],
    ["a".repeat(77), "a".repeat(63)]
  ])("sanitizeLabelValue(%j) = %j", (input, expected) => {
    expect(sanitizeLabelValue(input)).toBe(expected)
  })

  it("custom bot id: the sanitised name, else the first 8 characters of the id", () => {
    expect(customBotIdLabel("My Bot!", "bot-1234567890")).toBe("MyBot")
    expect(customBotIdLabel(undefined, "bot-1234567890")).toBe("bot-1234")
    expect(customBotIdLabel("", "short")).toBe("short")
  })
})
