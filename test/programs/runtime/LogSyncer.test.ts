import { appendFileSync, mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeLogSyncer } from "../../../src/programs/runtime/LogSyncer.ts"
import type { ObjectStoreService } from "../../../src/services/ObjectStore.ts"
import { sandbox } from "./support/Sandbox.ts"
import { failing, layerOf, memoryStore, text } from "./support/Stores.ts"

const MiB = 1024 * 1024

/** The messages of the daily log records, in order. */
const messages = (store: ObjectStoreService) =>
  Effect.gen(function* () {
    const [info] = yield* store.list("bot-logs", "logs/b/")
    if (info === undefined) return []
    return text(yield* store.get("bot-logs", info.key))
      .trimEnd()
      .split("\n")
      .map((line) => (JSON.parse(line) as { message: string }).message)
  })

describe("LogSyncer", () => {
  it.scoped("no file or an empty file: nothing; then the whole content, then only what was appended", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      const syncer = yield* makeLogSyncer({ bucket: "bot-logs", botId: "b", logsPath: box.logsPath })
      const sync = syncer.sync.pipe(Effect.provide(layerOf(store)))
      expect(yield* sync).toBe(false)
      mkdirSync(box.logsPath, { recursive: true })
      writeFileSync(path.join(box.logsPath, "bot.log"), "")
      expect(yield* sync).toBe(false)
      appendFileSync(path.join(box.logsPath, "bot.log"), "one\ntwo\n")
      expect(yield* sync).toBe(true)
      expect(yield* sync).toBe(false)
      appendFileSync(path.join(box.logsPath, "bot.log"), "three\n")
      expect(yield* sync).toBe(true)
      expect(yield* messages(store)).toEqual(["one", "two", "three"])
      expect(yield* syncer.offset).toBe(14)
    })
  )

  it.scoped("2.5 MiB without newlines: exactly 3 chunks of 1, 1 and 0.5 MiB, published in the same order", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      const published: Array<Uint8Array> = []
      mkdirSync(box.logsPath, { recursive: true })
      const content = Buffer.alloc(2.5 * MiB, 0x61)
      writeFileSync(path.join(box.logsPath, "bot.log"), content)
      const syncer = yield* makeLogSyncer({
        bucket: "bot-logs",
        botId: "b",
        logsPath: box.logsPath,
        publish: (chunk) => Effect.sync(() => published.push(chunk.slice()))
      })
      expect(yield* syncer.sync.pipe(Effect.provide(layerOf(store)))).toBe(true)
      expect(published.map((chunk) => chunk.length)).toEqual([MiB, MiB, 0.5 * MiB])
      expect(Buffer.compare(Buffer.concat(published), content)).toBe(0)
      expect((yield* messages(store)).map((message) => message.length)).toEqual([MiB, MiB, 0.5 * MiB])
    })
  )

  it.scoped("chunks are cut after the last newline, so records are whole lines", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      mkdirSync(box.logsPath, { recursive: true })
      const lines = Array.from({ length: 300 }, (_, i) => `${String(i).padStart(4, "0")} ${"y".repeat(9_000)}`)
      writeFileSync(path.join(box.logsPath, "bot.log"), `${lines.join("\n")}\n`)
      const published: Array<number> = []
      const syncer = yield* makeLogSyncer({
        bucket: "bot-logs",
        botId: "b",
        logsPath: box.logsPath,
        publish: (chunk) => Effect.sync(() => published.push(chunk.length))
      })
      yield* syncer.sync.pipe(Effect.provide(layerOf(store)))
      expect(yield* messages(store)).toEqual(lines)
      expect(published.length).toBe(3)
      for (const size of published) expect(size).toBeLessThanOrEqual(MiB)
    })
  )

  it.scoped(
    "an upload error keeps the offset, so the bytes go up at the next sync; a publish error does not matter",
    () =>
      Effect.gen(function* () {
        const box = yield* sandbox
        const store = yield* memoryStore
        yield* store.ensureBucket("bot-logs")
        mkdirSync(box.logsPath, { recursive: true })
        writeFileSync(path.join(box.logsPath, "bot.log"), "kept\n")
        const syncer = yield* makeLogSyncer({
          bucket: "bot-logs",
          botId: "b",
          logsPath: box.logsPath,
          publish: () => Effect.fail(new Error("NATS connection is closed"))
        })
        expect(yield* syncer.sync.pipe(Effect.provide(layerOf(failing(store, ["put"]))))).toBe(false)
        expect(yield* syncer.offset).toBe(0)
        expect(yield* syncer.sync.pipe(Effect.provide(layerOf(store)))).toBe(true)
        expect(yield* messages(store)).toEqual(["kept"])
      })
  )

  it.scoped("the offset survives a restart of the syncer; truncation starts again from 0", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-logs")
      mkdirSync(box.logsPath, { recursive: true })
      const log = path.join(box.logsPath, "bot.log")
      writeFileSync(log, "before restart\n")
      const options = { bucket: "bot-logs", botId: "b", logsPath: box.logsPath }
      const first = yield* makeLogSyncer(options)
      yield* first.sync.pipe(Effect.provide(layerOf(store)))
      appendFileSync(log, "after restart\n")
      const second = yield* makeLogSyncer(options)
      yield* second.sync.pipe(Effect.provide(layerOf(store)))
      expect(yield* messages(store)).toEqual(["before restart", "after restart"])
      writeFileSync(log, "new\n")
      yield* second.sync.pipe(Effect.provide(layerOf(store)))
      expect(yield* messages(store)).toEqual(["before restart", "after restart", "new"])
    })
  )
})
