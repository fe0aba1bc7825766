/**
 * `execute` end to end on the memory store, with real `node` and `python3` children running the fixture bots
 * through our wrappers.
 */
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, Schedule } from "effect"
import { execute } from "../../../src/programs/runtime/Execute.ts"
import type { ObjectStoreService } from "../../../src/services/ObjectStore.ts"
import { fixtureDir, type Sandbox, sandbox, settingsFor } from "./support/Sandbox.ts"
import { bytes, layerOf, memoryStore, text } from "./support/Stores.ts"
import { makeZip, zipDirectory } from "./support/Zip.ts"

const nodeEnv = (config: object) => ({
  BOT_ID: "node-bot-1",
  RUNTIME: "nodejs20",
  ENTRYPOINT: "main.js",
  CODE_FILE: "user/node-bot/1.0.0",
  BOT_CONFIG: JSON.stringify({ symbol: "BTC/USD", ...config })
})

const pythonEnv = (config: object) => ({
  BOT_ID: "py-bot-1",
  RUNTIME: "python3.11",
  ENTRYPOINT: "main.py",
  CODE_FILE: "user/py-bot/1.0.0",
  BOT_CONFIG: JSON.stringify(config)
})

/** A store holding the fixture bundles. */
const storeWithBundles = Effect.gen(function* () {
  const store = yield* memoryStore
  yield* store.ensureBucket("custom-bots")
  yield* store.put("custom-bots", "user/node-bot/1.0.0", zipDirectory(fixtureDir("node-bot")))
  yield* store.put("custom-bots", "user/py-bot/1.0.0", zipDirectory(fixtureDir("python-plain")))
  return store
})

const run = (
  store: ObjectStoreService,
  box: Sandbox,
  env: Record<string, string>,
  flags: Parameters<typeof settingsFor>[2] = {},
  stop: Effect.Effect<void> = Effect.never
) => execute(settingsFor(box, env, flags), stop).pipe(Effect.provide(layerOf(store)))

const botLog = (box: Sandbox) => readFileSync(path.join(box.logsPath, "bot.log"), "utf8")

/** Waits until the bot has written `text` to bot.log (its loop is running). */
const untilLogged = (box: Sandbox, text: string) =>
  Effect.sync(() => existsSync(path.join(box.logsPath, "bot.log")) && botLog(box).includes(text)).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (found) => found }),
    Effect.timeout("20 seconds")
  )

const storedState = (store: ObjectStoreService, botId: string, key: string) =>
  Effect.gen(function* () {
    const restored = yield* sandbox
    const { downloadState } = yield* Effect.promise(() => import("../../../src/programs/runtime/StateTransfer.ts"))
    yield* downloadState({
      bucket: "bot-state",
      botId,
      statePath: restored.statePath,
      maxStateFileSize: 1 << 20,
      maxStateSize: 1 << 30
    }).pipe(Effect.provide(layerOf(store)))
    const file = path.join(restored.statePath, ".the0-state", `${key}.json`)
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as unknown) : undefined
  })

const dailyLogLines = (store: ObjectStoreService, botId: string) =>
  Effect.gen(function* () {
    const infos = yield* store.list("bot-logs", `logs/${botId}/`)
    const lines: Array<Record<string, unknown>> = []
    for (const info of infos) {
      for (const line of text(yield* store.get("bot-logs", info.key))
        .trimEnd()
        .split("\n")) {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      }
    }
    return lines
  })

describe("execute: bot mode", () => {
  it.scopedLive("a Node bot: code downloaded, state restored and saved, output teed into bot.log and NDJSON logs", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundles
      const first = yield* sandbox
      expect(yield* run(store, first, nodeEnv({}))).toBe(0)
      const second = yield* sandbox
      expect(yield* run(store, second, nodeEnv({}))).toBe(0)
      expect(yield* storedState(store, "node-bot-1", "runs")).toBe(2)
      expect(botLog(second)).toContain("plain text line from node-bot-1")
      expect(JSON.parse(readFileSync(path.join(second.codePath, "result.json"), "utf8"))).toEqual({
        status: "success",
        message: "node fixture done",
        runs: 2
      })
      const lines = yield* dailyLogLines(store, "node-bot-1")
      expect(lines).toContainEqual({
        _metric: "price",
        symbol: "BTC/USD",
        value: 42,
        timestamp: "2026-01-01T00:00:00.000Z"
      })
      expect(lines.filter((line) => line.message === "plain text line from node-bot-1")).toHaveLength(2)
      for (const line of lines) expect(typeof line.timestamp).toBe("string")
      expect(yield* store.list("bot-logs")).toHaveLength(1)
    })
  )

  it.scopedLive("exit codes: a crashing Node bot 1, process.exit(n) n", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundles
      const crash = yield* sandbox
      expect(yield* run(store, crash, nodeEnv({ mode: "crash" }), { skipSync: true })).toBe(1)
      expect(botLog(crash)).toContain("EXECUTE_ERROR: Bot execution failed: boom")
      const exit = yield* sandbox
      expect(yield* run(store, exit, nodeEnv({ mode: "exit", code: 7 }), { skipSync: true })).toBe(7)
    })
  )

  it.scopedLive(
    "a Python bot: positional main(bot_id, config), no credentials in its environment, exit codes fixed",
    () =>
      Effect.gen(function* () {
        const store = yield* storeWithBundles
        const ok = yield* sandbox
        expect(
          yield* run(store, ok, { ...pythonEnv({ mode: "ok" }), NATS_URL: "nats://u:p@x:4222", ID: "legacy" })
        ).toBe(0)
        expect(yield* storedState(store, "py-bot-1", "seen")).toEqual({
          bot_id: "py-bot-1",
          config: { mode: "ok" },
          leaked: []
        })
        expect(JSON.parse(readFileSync(path.join(ok.codePath, "result.json"), "utf8"))).toMatchObject({
          status: "success"
        })

        const crash = yield* sandbox
        expect(yield* run(store, crash, pythonEnv({ mode: "crash" }), { skipSync: true })).toBe(1)
        expect(botLog(crash)).toContain("RuntimeError: python boom")
        expect(JSON.parse(readFileSync(path.join(crash.codePath, "result.json"), "utf8"))).toEqual({
          status: "error",
          message: "python boom"
        })

        const sdkError = yield* sandbox
        expect(yield* run(store, sdkError, pythonEnv({ mode: "sdk_error" }), { skipSync: true })).toBe(1)
        expect(JSON.parse(readFileSync(path.join(sdkError.codePath, "result.json"), "utf8"))).toEqual({
          status: "error",
          message: "bad market"
        })

        const exit3 = yield* sandbox
        expect(yield* run(store, exit3, pythonEnv({ mode: "exit3" }), { skipSync: true })).toBe(3)
      })
  )

  it.scopedLive("a bad bundle, a missing entrypoint, a binary that cannot start: clear messages and exit 1", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundles
      yield* store.put("custom-bots", "user/broken/1", bytes("PK? not really"))
      yield* store.ensureBucket("bot-state")
      yield* store.put("bot-state", "broken-bot/state.tar.gz", bytes("kept"))
      const broken = yield* sandbox
      const logged: Array<unknown> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => logged.push(...(Array.isArray(message) ? message : [message])))
      )
      expect(
        yield* run(store, broken, { ...nodeEnv({}), BOT_ID: "broken-bot", CODE_FILE: "user/broken/1" }).pipe(
          Effect.provide(capture)
        )
      ).toBe(1)
      expect(logged.filter((line) => String(line).startsWith("Failed to download code: "))).toHaveLength(1)
      expect(existsSync(path.join(broken.logsPath, "bot.log"))).toBe(false)
      expect(text(yield* store.get("bot-state", "broken-bot/state.tar.gz"))).toBe("kept")

      const missing = yield* sandbox
      expect(yield* run(store, missing, { ...nodeEnv({}), ENTRYPOINT: "nope.js" }, { skipSync: true })).toBe(1)
      expect(botLog(missing)).toContain("IMPORT_ERROR")

      yield* store.put("custom-bots", "user/rust/1", makeZip([{ name: "README.md", data: "no binary" }]))
      const noBinary = yield* sandbox
      expect(
        yield* run(
          store,
          noBinary,
          { BOT_ID: "rust-bot", RUNTIME: "rust-stable", ENTRYPOINT: "bot", CODE_FILE: "user/rust/1" },
          { skipSync: true }
        )
      ).toBe(1)
      const line = JSON.parse(botLog(noBinary).trim()) as Record<string, string>
      expect(line.level).toBe("error")
      expect(line.message).toMatch(/^Failed to start process: .*ENOENT/)
      expect(line.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    })
  )

  it.scopedLive("a stop request: the bot gets SIGTERM, finishes cleanly, and its final state and logs are saved", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundles
      const box = yield* sandbox
      const stop = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        run(store, box, nodeEnv({ mode: "loop", interval: 20 }), {}, Deferred.await(stop))
      )
      yield* untilLogged(box, "tick")
      const started = Date.now()
      yield* Deferred.succeed(stop, undefined)
      expect(yield* Fiber.join(fiber)).toBe(1)
      const stopMillis = Date.now() - started
      expect(stopMillis).toBeLessThan(4_500)
      expect(yield* storedState(store, "node-bot-1", "stopped")).toBe(true)
      expect(yield* storedState(store, "node-bot-1", "ticks")).toEqual(expect.any(Number))
      const lines = yield* dailyLogLines(store, "node-bot-1")
      expect(lines.map((line) => line.message)).toContain("stopping on signal")
      expect(botLog(box)).toContain("SIGNAL: Received SIGTERM, triggering abort.")
    })
  )

  it.scopedLive("a Python bot stops on SIGTERM with a terminated result; a scheduled bot writes the done file", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundles
      const box = yield* sandbox
      const stop = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        run(store, box, { ...pythonEnv({ mode: "loop" }), IS_SCHEDULED: "true" }, {}, Deferred.await(stop))
      )
      yield* untilLogged(box, "tick")
      yield* Deferred.succeed(stop, undefined)
      expect(yield* Fiber.join(fiber)).toBe(1)
      expect(JSON.parse(readFileSync(path.join(box.codePath, "result.json"), "utf8"))).toMatchObject({
        status: "terminated"
      })
      expect(readFileSync(box.doneFile, "utf8")).toBe("1")
      expect(yield* storedState(store, "py-bot-1", "ticks")).toEqual(expect.any(Number))
      const done = yield* sandbox
      expect(yield* run(store, done, { ...pythonEnv({ mode: "exit3" }), IS_SCHEDULED: "true" })).toBe(3)
      expect(readFileSync(done.doneFile, "utf8")).toBe("3")
    })
  )
})
