/**
 * The object-store side of a generated Pod, apart from the containers that run bot code: `daemon restore` (the
 * `restore` init container) puts code and state on the volumes once per Pod, `execute --skip-download` runs the
 * bot or the query server from them without touching the store, and `daemon query-result` (a query Job's `result`
 * sidecar) uploads the query's result when it is stopped.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { Bucket } from "../../../src/domain/Buckets.ts"
import { daemonRestore, restoredMarker } from "../../../src/programs/runtime/DaemonRestore.ts"
import { execute } from "../../../src/programs/runtime/Execute.ts"
import { daemonQueryResult } from "../../../src/programs/runtime/QueryResultSidecar.ts"
import { restoreFailedMarker } from "../../../src/programs/runtime/StateArchive.ts"
import { uploadState } from "../../../src/programs/runtime/StateTransfer.ts"
import { storageSettings } from "../../../src/programs/runtime/StorageSettings.ts"
import type { ObjectStoreService } from "../../../src/services/ObjectStore.ts"
import { fixtureDir, type Sandbox, sandbox, settingsFor, withEnv } from "./support/Sandbox.ts"
import { failing, layerOf, memoryStore, text } from "./support/Stores.ts"
import { zipDirectory } from "./support/Zip.ts"

const botId = "node-bot-1"
const storage = Effect.runSync(withEnv({})(storageSettings))
/** Every operation the store was asked for, each failing (streams aside): a container without credentials. */
const unreachable = (store: ObjectStoreService) => {
  const asked: Array<string> = []
  const operations = (Object.keys(store) as Array<keyof ObjectStoreService>).filter((name) => name !== "scan")
  const broken = failing(store, operations)
  const counted: Record<string, unknown> = { ...broken }
  for (const name of operations)
    counted[name] = (...args: ReadonlyArray<unknown>) => {
      asked.push(name)
      return (broken[name] as (...args: ReadonlyArray<unknown>) => unknown)(...args)
    }
  return { store: counted as unknown as ObjectStoreService, asked }
}

const writeState = (box: Sandbox, runs: number) => {
  mkdirSync(path.join(box.statePath, ".the0-state"), { recursive: true })
  writeFileSync(path.join(box.statePath, ".the0-state", "runs.json"), String(runs))
}
const readRuns = (box: Sandbox) => readFileSync(path.join(box.statePath, ".the0-state", "runs.json"), "utf8")

/** A store with the Node fixture's code and a stored state of `runs: 5`. */
const seededStore = (box: Sandbox) =>
  Effect.gen(function* () {
    const store = yield* memoryStore
    yield* store.ensureBucket(Bucket.code)
    yield* store.put(Bucket.code, "user/node-bot/1.0.0", zipDirectory(fixtureDir("node-bot")))
    const seed = { ...box, statePath: path.join(box.root, "seed") }
    writeState(seed, 5)
    yield* uploadState({
      bucket: Bucket.state,
      botId,
      statePath: seed.statePath,
      maxStateFileSize: storage.maxStateFileSize,
      maxStateSize: storage.maxStateSize
    }).pipe(Effect.provide(layerOf(store)))
    return store
  })

const restore = (store: ObjectStoreService, box: Sandbox, codeFile = "user/node-bot/1.0.0") =>
  daemonRestore({ botId, codePath: box.codePath, statePath: box.statePath, codeFile, storage }).pipe(
    Effect.provide(layerOf(store))
  )

describe("daemon restore", () => {
  it.scoped("puts the code and the stored state on the volumes, once per Pod", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* seededStore(box)
      yield* restore(store, box)
      expect(readFileSync(path.join(box.codePath, "main.js"), "utf8")).toContain("exports.main")
      expect(readRuns(box)).toBe("5")
      // the bot moved on; a sandbox re-created on the node runs the init container again over the same volumes
      writeState(box, 6)
      const offline = unreachable(store)
      yield* restore(offline.store, box)
      expect(readRuns(box)).toBe("6")
      expect(offline.asked).toStrictEqual([])
    })
  )

  it.scoped("restores again when the last restore failed, and fails when the code cannot be had", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* seededStore(box)
      yield* restore(failing(store, ["get"]), box).pipe(Effect.flip)
      writeFileSync(path.join(box.codePath, restoredMarker), "")
      mkdirSync(box.statePath, { recursive: true })
      writeFileSync(path.join(box.statePath, restoreFailedMarker), "")
      yield* restore(store, box)
      expect(readRuns(box)).toBe("5")
      const missing = yield* restore(store, yield* sandbox, "user/none/1.0.0").pipe(Effect.flip)
      expect(missing.message).toContain("failed to download code custom-bots/user/none/1.0.0")
    })
  )
})

describe("execute --skip-download", () => {
  it.scoped("runs the bot from the code and state on the volumes without touching the store", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* seededStore(box)
      yield* restore(store, box)
      const settings = settingsFor(
        box,
        { BOT_ID: botId, RUNTIME: "nodejs20", ENTRYPOINT: "main.js", CODE_FILE: "user/node-bot/1.0.0" },
        { skipSync: true, skipQueryServer: true, skipDownload: true }
      )
      const offline = unreachable(store)
      const code = yield* execute(settings, Effect.never).pipe(Effect.provide(layerOf(offline.store)))
      expect(code).toBe(0)
      expect(readRuns(box)).toBe("6")
      expect(offline.asked).toStrictEqual([])
    })
  )
})

describe("daemon query-result", () => {
  it.scopedLive(
    "when stopped, and not before, uploads the query's result.json; fails, naming the file, when there is none",
    () =>
      Effect.gen(function* () {
        const box = yield* sandbox
        const store = yield* memoryStore
        const stop = yield* Deferred.make<void>()
        const sidecar = yield* daemonQueryResult(
          {
            resultKey: "b/1-x/result.json",
            queryDir: box.queryDir,
            bucket: Bucket.queryResults,
            readinessPort: 0,
            readinessHost: "127.0.0.1"
          },
          Deferred.await(stop)
        ).pipe(Effect.provide(layerOf(store)), Effect.fork)
        mkdirSync(box.queryDir, { recursive: true })
        writeFileSync(path.join(box.queryDir, "result.json"), '{"status":"ok","data":1}')
        // the query may still be writing it: nothing goes up before the stop request
        yield* Effect.sleep("300 millis")
        expect(yield* store.get(Bucket.queryResults, "b/1-x/result.json").pipe(Effect.option)).toMatchObject({
          _tag: "None"
        })
        yield* Deferred.succeed(stop, undefined)
        yield* Fiber.join(sidecar)
        expect(text(yield* store.get(Bucket.queryResults, "b/1-x/result.json"))).toBe('{"status":"ok","data":1}')
        const empty = yield* sandbox
        const none = yield* daemonQueryResult(
          {
            resultKey: "b/2-x/result.json",
            queryDir: empty.queryDir,
            bucket: Bucket.queryResults,
            readinessPort: 0,
            readinessHost: "127.0.0.1"
          },
          Effect.void
        ).pipe(Effect.provide(layerOf(store)), Effect.flip)
        expect(none).toMatchObject({ _tag: "QueryResultError" })
        expect(none.message).toContain(`failed to read result file ${path.join(empty.queryDir, "result.json")}`)
      })
  )
})
