/** `execute` in one-shot query mode and query-server-only mode (docs/contracts.md, "The bot's query server"), with the Node fixture's query.js. */
import { mkdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Schedule } from "effect"
import { extractZip } from "../../../src/programs/runtime/CodeBundle.ts"
import { execute } from "../../../src/programs/runtime/Execute.ts"
import type { ObjectStoreService } from "../../../src/services/ObjectStore.ts"
import { fixtureDir, type Sandbox, sandbox, settingsFor } from "./support/Sandbox.ts"
import { layerOf, memoryStore, text } from "./support/Stores.ts"
import { zipDirectory } from "./support/Zip.ts"

const queryEnv = {
  BOT_ID: "node-bot-1",
  RUNTIME: "nodejs20",
  ENTRYPOINT: "query.js",
  CODE_FILE: "user/node-bot/1.0.0",
  BOT_CONFIG: "{}"
}

const storeWithBundle = Effect.gen(function* () {
  const store = yield* memoryStore
  yield* store.ensureBucket("custom-bots")
  yield* store.put("custom-bots", "user/node-bot/1.0.0", zipDirectory(fixtureDir("node-bot")))
  return store
})

const seedState = (box: Sandbox, runs: number) => {
  mkdirSync(path.join(box.statePath, ".the0-state"), { recursive: true })
  writeFileSync(path.join(box.statePath, ".the0-state", "runs.json"), String(runs))
}

const run = (
  store: ObjectStoreService,
  box: Sandbox,
  env: Record<string, string>,
  flags: Parameters<typeof settingsFor>[2] = {},
  stop: Effect.Effect<void> = Effect.never
) => execute(settingsFor(box, env, flags), stop).pipe(Effect.provide(layerOf(store)))

const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer()
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        server.close(() => resolve(port))
      })
    })
)

describe("execute: one-shot query", () => {
  it.scopedLive("runs the query with QUERY_PATH and params and uploads result.json to QUERY_RESULT_KEY", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundle
      const box = yield* sandbox
      seedState(box, 5)
      const code = yield* run(store, box, {
        ...queryEnv,
        QUERY_PATH: "/status",
        QUERY_PARAMS: '{"symbol":"ETH"}',
        QUERY_RESULT_KEY: "node-bot-1/123-abc/result.json"
      })
      expect(code).toBe(0)
      const stored = yield* store.get("query-results", "node-bot-1/123-abc/result.json")
      expect(JSON.parse(text(stored))).toEqual({ status: "ok", data: { botId: "node-bot-1", runs: 5, symbol: "ETH" } })
      expect((yield* store.stat("query-results", "node-bot-1/123-abc/result.json")).contentType).toBe(
        "application/json"
      )
      expect(yield* store.bucketExists("bot-state")).toBe(false)
    })
  )

  it.scopedLive("a failing query still uploads its result and exits with its code; a missing result file exits 1", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundle
      const box = yield* sandbox
      const code = yield* run(store, box, { ...queryEnv, QUERY_RESULT_KEY: "k1" }, { query: "/nope" })
      expect(code).toBe(1)
      expect(JSON.parse(text(yield* store.get("query-results", "k1")))).toMatchObject({
        status: "error",
        error: "No handler for path: /nope"
      })
      const empty = yield* sandbox
      const noResult = yield* run(
        store,
        empty,
        { ...queryEnv, ENTRYPOINT: "main.js", QUERY_RESULT_KEY: "k2" },
        { query: "/status" }
      )
      expect(noResult).toBe(1)
      expect((yield* store.list("query-results")).map((info) => info.key)).toEqual(["k1"])
    })
  )
})

describe("execute --query-server-only", () => {
  it.scopedLive("uses the code already on the shared volume and serves queries until stopped", () =>
    Effect.gen(function* () {
      const store = yield* memoryStore
      const box = yield* sandbox
      yield* extractZip(zipDirectory(fixtureDir("node-bot")), box.codePath)
      seedState(box, 9)
      const port = yield* freePort
      const stop = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        run(
          store,
          box,
          {
            ...queryEnv,
            ENTRYPOINT: "main.js",
            QUERY_ENTRYPOINT: "query.js",
            BOT_TYPE: "realtime",
            CODE_FILE: "not/in/the/store",
            THE0_QUERY_PORT: String(port)
          },
          { queryServerOnly: true },
          Deferred.await(stop)
        )
      )
      const answer = yield* Effect.tryPromise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/status?symbol=SOL`)
        return { status: response.status, body: (await response.json()) as unknown }
      }).pipe(Effect.retry({ times: 50, schedule: Schedule.spaced("100 millis") }))
      expect(answer).toEqual({
        status: 200,
        body: { status: "ok", data: { botId: "node-bot-1", runs: 9, symbol: "SOL" } }
      })
      yield* Deferred.succeed(stop, undefined)
      expect(yield* Fiber.join(fiber)).toBe(1)
    })
  )

  it.scopedLive("downloads the code when it does not appear; without QUERY_ENTRYPOINT it exits 1", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundle
      const box = yield* sandbox
      const code = yield* run(store, box, { ...queryEnv, ENTRYPOINT: "main.js" }, { queryServerOnly: true })
      expect(code).toBe(1)
      const settings = settingsFor(
        box,
        { ...queryEnv, QUERY_ENTRYPOINT: "missing.js", CODE_FILE: "not/there" },
        {
          queryServerOnly: true
        }
      )
      const failed = yield* execute({ ...settings, codeWait: Duration.millis(300) }, Effect.never).pipe(
        Effect.provide(layerOf(store))
      )
      expect(failed).toBe(1)
    })
  )
})

describe("execute: the query server child of a realtime bot", () => {
  it.scopedLive("runs beside the bot, answers on its port, and is stopped with it", () =>
    Effect.gen(function* () {
      const store = yield* storeWithBundle
      const box = yield* sandbox
      const port = yield* freePort
      const stop = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        run(
          store,
          box,
          {
            ...queryEnv,
            ENTRYPOINT: "main.js",
            QUERY_ENTRYPOINT: "query.js",
            BOT_TYPE: "realtime",
            BOT_CONFIG: '{"mode":"loop"}',
            THE0_QUERY_PORT: String(port)
          },
          { skipSync: true },
          Deferred.await(stop)
        )
      )
      const answer = yield* Effect.tryPromise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/status`)
        return (await response.json()) as unknown
      }).pipe(Effect.retry({ times: 50, schedule: Schedule.spaced("100 millis") }))
      expect(answer).toEqual({ status: "ok", data: { botId: "node-bot-1", runs: 1, symbol: null } })
      yield* Deferred.succeed(stop, undefined)
      expect(yield* Fiber.join(fiber)).toBe(1)
      const after = yield* Effect.either(Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/status`)))
      expect(after._tag).toBe("Left")
    })
  )
})
