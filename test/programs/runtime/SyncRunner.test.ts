import { appendFileSync, mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Stream } from "effect"
import * as MinioObjectStore from "../../../src/layers/live/MinioObjectStore.ts"
import { daemonSync, parseGoDuration } from "../../../src/programs/runtime/DaemonSync.ts"
import { serveReadiness } from "../../../src/programs/runtime/ReadinessServer.ts"
import { storageSettings } from "../../../src/programs/runtime/StorageSettings.ts"
import { logSubject, startSyncRunner } from "../../../src/programs/runtime/SyncRunner.ts"
import { EventBus } from "../../../src/services/EventBus.ts"
import type { ObjectStoreService } from "../../../src/services/ObjectStore.ts"
import { type Sandbox, sandbox, withEnv } from "./support/Sandbox.ts"
import { layerOf, memoryStore, text } from "./support/Stores.ts"

const storage = Effect.runSync(withEnv({})(storageSettings))

const options = (box: Sandbox) => ({
  botId: "sync-bot",
  statePath: box.statePath,
  logsPath: box.logsPath,
  storage
})

/** Milliseconds until `check` holds, polling every 20 ms, failing after 5 s. */
const waitUntil = (check: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (!(yield* check)) {
      if (Date.now() - start > 5_000) return yield* Effect.die(new Error("condition not met within 5 s"))
      yield* Effect.sleep("20 millis")
    }
    return Date.now() - start
  })

const stateStored = (store: ObjectStoreService) =>
  Effect.map(Effect.either(store.stat("bot-state", "sync-bot/state.tar.gz")), (result) => result._tag === "Right")

const dailyLog = (store: ObjectStoreService) =>
  Effect.gen(function* () {
    const infos = yield* Effect.orElseSucceed(store.list("bot-logs", "logs/sync-bot/"), () => [])
    const info = infos.find((candidate) => !candidate.key.includes(".tmp-"))
    return info === undefined ? "" : text(yield* Effect.orDie(store.get("bot-logs", info.key)))
  })

describe("SyncRunner", () => {
  it.scopedLive("an SDK state write in a grandchild directory and a log line sync within a second", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      yield* startSyncRunner(options(box)).pipe(Effect.provide(layerOf(store)))
      mkdirSync(path.join(box.statePath, ".the0-state"), { recursive: true })
      writeFileSync(path.join(box.statePath, ".the0-state", "portfolio.json"), '{"btc":1}')
      const stateMillis = yield* waitUntil(stateStored(store))
      appendFileSync(path.join(box.logsPath, "bot.log"), "hello from the bot\n")
      const logMillis = yield* waitUntil(Effect.map(dailyLog(store), (log) => log.includes("hello from the bot")))
      yield* Effect.logInfo(`state write synced in ${stateMillis} ms, log line in ${logMillis} ms`)
      expect(stateMillis).toBeLessThan(1_000)
      expect(logMillis).toBeLessThan(1_000)
    })
  )

  it.scopedLive("interrupting the runner's scope runs the final sync of state and logs", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Effect.scoped(
          startSyncRunner({
            ...options(box),
            debounce: { debounce: Duration.hours(1), maxWait: Duration.hours(1) }
          }).pipe(Effect.zipRight(Deferred.succeed(started, undefined)), Effect.zipRight(Effect.never))
        ).pipe(Effect.provide(layerOf(store)))
      )
      yield* Deferred.await(started)
      mkdirSync(path.join(box.statePath, ".the0-state"), { recursive: true })
      writeFileSync(path.join(box.statePath, ".the0-state", "last.json"), "1")
      appendFileSync(path.join(box.logsPath, "bot.log"), "last words\n")
      expect(yield* stateStored(store)).toBe(false)
      yield* Fiber.interrupt(fiber)
      expect(yield* stateStored(store)).toBe(true)
      expect(yield* dailyLog(store)).toContain("last words")
    })
  )

  it.scopedLive("raw log chunks are published on the0.bot.logs.<id> after their append, when a bus is present", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      const published: Array<{ subject: string; data: string }> = []
      const bus = Layer.succeed(EventBus, {
        publish: (subject, data) => Effect.sync(() => published.push({ subject, data: text(data) })),
        subscribe: () => Stream.die("not used"),
        ensureStream: () => Effect.die("not used"),
        streamInfo: () => Effect.die("not used"),
        consumerState: () => Effect.die("not used"),
        consume: () => Stream.die("not used"),
        connectionState: Effect.succeed("connected" as const)
      })
      yield* startSyncRunner({ ...options(box), botId: "bot.with.dots" }).pipe(
        Effect.provide(Layer.merge(layerOf(store), bus))
      )
      appendFileSync(path.join(box.logsPath, "bot.log"), "raw line, not NDJSON\n")
      yield* waitUntil(Effect.sync(() => published.length > 0))
      expect(published).toEqual([{ subject: "the0.bot.logs.bot_with_dots", data: "raw line, not NDJSON\n" }])
    })
  )

  it.scoped("missing MinIO settings fail the start with the0's message", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const unconfigured = MinioObjectStore.unconfigured(
        new MinioObjectStore.MinioConfigError({ detail: "MINIO_ENDPOINT is required" })
      )
      const error = yield* Effect.flip(startSyncRunner(options(box)).pipe(Effect.provide(layerOf(unconfigured))))
      expect(error.message).toBe("failed to load storage config: MINIO_ENDPOINT is required")
    })
  )

  it.scopedLive("readiness: /readyz 503 until ready, then 200; /healthz always 200", () =>
    Effect.gen(function* () {
      const readiness = yield* serveReadiness(0, "127.0.0.1")
      const get = (route: string) =>
        Effect.promise(async () => {
          const response = await fetch(`http://127.0.0.1:${readiness.port}${route}`)
          return `${response.status} ${await response.text()}`
        })
      expect(yield* get("/readyz")).toBe("503 not ready")
      expect(yield* get("/healthz")).toBe("200 ok")
      yield* readiness.setReady
      expect(yield* get("/readyz")).toBe("200 ok")
    })
  )

  it.scopedLive(
    "readiness: by default it listens on every interface, IPv6 and IPv4 (the kubelet probes the Pod IP)",
    () =>
      Effect.gen(function* () {
        const readiness = yield* serveReadiness(0)
        const get = (host: string) =>
          Effect.promise(async () => (await fetch(`http://${host}:${readiness.port}/healthz`)).status)
        expect(yield* get("127.0.0.1")).toBe(200)
        expect(yield* get("[::1]")).toBe(200)
      })
  )

  it.scopedLive("daemon sync: stops after a final sync when the done file appears", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      const done = path.join(box.root, "done")
      const stop = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        daemonSync(
          { ...options(box), interval: Duration.hours(1), watchDone: done, readinessPort: 0, readinessHost: "" },
          Deferred.await(stop)
        ).pipe(Effect.provide(layerOf(store)))
      )
      yield* Effect.sleep("200 millis")
      mkdirSync(box.logsPath, { recursive: true })
      appendFileSync(path.join(box.logsPath, "bot.log"), "scheduled output\n")
      writeFileSync(done, "0")
      yield* Fiber.join(fiber).pipe(Effect.timeout("5 seconds"))
      expect(yield* dailyLog(store)).toContain("scheduled output")
    })
  )

  it("Go durations and subjects", () => {
    expect(parseGoDuration("60s")).toEqual(Duration.seconds(60))
    expect(parseGoDuration("1m30s")).toEqual(Duration.seconds(90))
    expect(parseGoDuration("500ms")).toEqual(Duration.millis(500))
    expect(parseGoDuration("1.5h")).toEqual(Duration.minutes(90))
    expect(parseGoDuration("abc")).toBeUndefined()
    expect(parseGoDuration("")).toBeUndefined()
    expect(logSubject("bot.with.dots")).toBe("the0.bot.logs.bot_with_dots")
    expect(logSubject("bot*wildcard")).toBe("the0.bot.logs.bot_wildcard")
    expect(logSubject("bot>greater")).toBe("the0.bot.logs.bot_greater")
    expect(logSubject("bot with spaces")).toBe("the0.bot.logs.bot_with_spaces")
    expect(logSubject("")).toBe("the0.bot.logs.unknown")
  })
})
