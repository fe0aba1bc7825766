/**
 * The gc sweep on the memory layers: what goes (orphans' logs and state, stale temporary chunks and uploads,
 * expired query results), what stays (every bot and schedule with a document, enabled or not; anything fresh),
 * and the rails (a failed or empty store read, a mass deletion, a dry run, a deletion that fails).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Stream, TestClock } from "effect"
import { stateKey } from "../../../src/domain/Buckets.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryObjectStore from "../../../src/layers/memory/MemoryObjectStore.ts"
import { exitCode } from "../../../src/programs/cli/Gc.ts"
import { logOwner, refuse, type SweepSettings, stateOwner, sweep } from "../../../src/programs/gc/Sweep.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { ObjectStore, ObjectStoreError } from "../../../src/services/ObjectStore.ts"

const buckets = { state: "bot-state", logs: "bot-logs", queryResults: "query-results" }
const settings: SweepSettings = {
  buckets,
  staleAfter: "1 hour",
  queryResultTtl: "1 hour",
  dryRun: false,
  allowMassDelete: false
}
const body = new TextEncoder().encode("x")
const hour = 3_600_000

const world = Layer.merge(MemoryBotStore.layer, MemoryObjectStore.layer)

const put = (bucket: string, key: string) => Effect.flatMap(ObjectStore, (s) => s.put(bucket, key, body))
const keys = (bucket: string) =>
  Effect.flatMap(ObjectStore, (s) => s.list(bucket)).pipe(Effect.map((all) => all.map((o) => o.key)))
/** A bot's daily log and state archive. */
const artifacts = (id: string) =>
  Effect.all([put(buckets.logs, `logs/${id}/20261130.log`), put(buckets.state, stateKey(id))])
const bots = (...ids: ReadonlyArray<string>) =>
  Effect.flatMap(BotStore, (s) => Effect.forEach(ids, (id) => s.bots.upsert(id, {})))
const setup = Effect.flatMap(ObjectStore, (s) => Effect.forEach(Object.values(buckets), s.ensureBucket))

describe("gc sweep", () => {
  it.effect("deletes the logs and state of bots without a document and keeps every bot and schedule that has one", () =>
    Effect.gen(function* () {
      yield* setup
      const store = yield* BotStore
      yield* bots("live")
      yield* store.bots.upsert("off", { config: { enabled: false } })
      yield* store.schedules.upsert("sched", {})
      for (const id of ["live", "off", "sched", "gone"]) yield* artifacts(id)
      yield* put(buckets.logs, "logs/gone/20261129.log")
      const report = yield* sweep(settings)
      expect(report.orphanedBots).toEqual(["gone"])
      expect(report.refusal).toBeUndefined()
      expect(yield* keys(buckets.logs)).toEqual([
        "logs/live/20261130.log",
        "logs/off/20261130.log",
        "logs/sched/20261130.log"
      ])
      expect(yield* keys(buckets.state)).toEqual(["live/state.tar.gz", "off/state.tar.gz", "sched/state.tar.gz"])
      expect(report.deletions.map((d) => `${d.bucket}/${d.key}`).sort()).toEqual([
        "bot-logs/logs/gone/20261129.log",
        "bot-logs/logs/gone/20261130.log",
        "bot-state/gone/state.tar.gz"
      ])
      expect(exitCode(report)).toBe(0)
    }).pipe(Effect.provide(world))
  )

  it.effect("temporary chunks, uploads and query results go only once older than their limit", () =>
    Effect.gen(function* () {
      yield* setup
      const objects = yield* ObjectStore
      yield* bots("b")
      yield* artifacts("b")
      yield* put(buckets.logs, "logs/b/.tmp-1")
      yield* put(buckets.queryResults, "b/1-x/result.json")
      const oldUpload = yield* objects.createMultipartUpload(buckets.logs, "logs/b/20261130.log")
      const oldStateUpload = yield* objects.createMultipartUpload(buckets.state, stateKey("b"))
      yield* TestClock.adjust(hour - 1)
      yield* put(buckets.logs, "logs/b/.tmp-2")
      yield* put(buckets.queryResults, "b/2-y/result.json")
      const newUpload = yield* objects.createMultipartUpload(buckets.logs, "logs/b/20261130.log")
      yield* TestClock.adjust(1)
      // the first ones are now exactly one hour old: still kept (strictly older goes)
      expect((yield* sweep(settings)).deletions).toEqual([])
      yield* TestClock.adjust(1)
      const report = yield* sweep(settings)
      expect(report.deletions.map((d) => `${d.reason} ${d.bucket}/${d.key} ${d.uploadId ?? ""}`.trim()).sort()).toEqual(
        [
          "expired-query-result query-results/b/1-x/result.json",
          "stale-temp-chunk bot-logs/logs/b/.tmp-1",
          `stale-upload bot-logs/logs/b/20261130.log ${oldUpload}`,
          `stale-upload bot-state/b/state.tar.gz ${oldStateUpload}`
        ].sort()
      )
      expect(yield* keys(buckets.logs)).toEqual(["logs/b/.tmp-2", "logs/b/20261130.log"])
      expect(yield* keys(buckets.queryResults)).toEqual(["b/2-y/result.json"])
      expect(
        (yield* objects.listIncompleteUploads(buckets.logs, "logs/b/20261130.log")).map((u) => u.uploadId)
      ).toEqual([newUpload])
      expect(yield* objects.listIncompleteUploads(buckets.state, stateKey("b"))).toEqual([])
    }).pipe(Effect.provide(world))
  )

  it.effect("a store that cannot be read fails the sweep and deletes nothing at all", () =>
    Effect.gen(function* () {
      yield* setup
      yield* bots("live")
      yield* artifacts("live")
      yield* artifacts("gone")
      yield* put(buckets.logs, "logs/gone/.tmp-1")
      yield* TestClock.adjust(2 * hour)
      const control = yield* MemoryBotStore.MemoryBotStore
      yield* control.setDown(true)
      const result = yield* Effect.either(sweep(settings))
      expect(Either.isLeft(result) && result.left.step).toBe("reading the store")
      expect(yield* keys(buckets.logs)).toEqual([
        "logs/gone/.tmp-1",
        "logs/gone/20261130.log",
        "logs/live/20261130.log"
      ])
      expect(yield* keys(buckets.state)).toEqual(["gone/state.tar.gz", "live/state.tar.gz"])
    }).pipe(Effect.provide(world))
  )

  it.effect("an empty store keeps every bot's objects unless the operator allows it", () =>
    Effect.gen(function* () {
      yield* setup
      for (const id of ["a", "b", "c"]) yield* artifacts(id)
      const report = yield* sweep(settings)
      expect(report.orphanedBots).toEqual(["a", "b", "c"])
      expect(report.refusal).toMatch(/no bot or schedule documents at all/)
      expect(report.deletions).toEqual([])
      expect(exitCode(report)).toBe(3)
      expect(yield* keys(buckets.state)).toHaveLength(3)
      const allowed = yield* sweep({ ...settings, allowMassDelete: true })
      expect(allowed.deletions).toHaveLength(6)
      expect(yield* keys(buckets.state)).toEqual([])
    }).pipe(Effect.provide(world))
  )

  it.effect("more orphans than max(10, 50%) of the bots with objects are kept; exactly the threshold goes", () =>
    Effect.gen(function* () {
      yield* setup
      yield* bots("keep-1")
      const gone = Array.from({ length: 11 }, (_, i) => `gone-${String(i).padStart(2, "0")}`)
      for (const id of ["keep-1", ...gone]) yield* artifacts(id)
      const refused = yield* sweep(settings)
      expect(refused.refusal).toMatch(/11 of the 12 bots with objects have no document, more than the 10/)
      expect(yield* keys(buckets.state)).toHaveLength(12)
      yield* bots("gone-00")
      const report = yield* sweep(settings)
      expect(report.refusal).toBeUndefined()
      expect(report.orphanedBots).toHaveLength(10)
      expect(yield* keys(buckets.state)).toEqual(["gone-00/state.tar.gz", "keep-1/state.tar.gz"])
    }).pipe(Effect.provide(world))
  )

  it.effect("a dry run reports the same deletions and deletes nothing", () =>
    Effect.gen(function* () {
      yield* setup
      yield* bots("live")
      yield* artifacts("live")
      yield* artifacts("gone")
      const dry = yield* sweep({ ...settings, dryRun: true })
      expect(dry.deletions.map((d) => d.key).sort()).toEqual(["gone/state.tar.gz", "logs/gone/20261130.log"])
      expect(yield* keys(buckets.state)).toEqual(["gone/state.tar.gz", "live/state.tar.gz"])
      const real = yield* sweep(settings)
      expect(real.deletions).toEqual(dry.deletions)
    }).pipe(Effect.provide(world))
  )

  it.effect("a deletion that fails is reported, the others are done, and the exit code says so", () =>
    Effect.gen(function* () {
      yield* setup
      yield* bots("live")
      for (const id of ["live", "gone-a", "gone-b"]) yield* artifacts(id)
      const objects = yield* ObjectStore
      const flaky = {
        ...objects,
        remove: (bucket: string, key: string) =>
          key === stateKey("gone-a")
            ? Effect.fail(
                new ObjectStoreError({ operation: "remove", bucket, key, code: "InternalError", detail: "disk failed" })
              )
            : objects.remove(bucket, key)
      }
      const report = yield* Effect.provideService(sweep(settings), ObjectStore, flaky)
      expect(report.failures.map((f) => `${f.deletion.key}: ${f.detail}`)).toEqual([
        "gone-a/state.tar.gz: remove bot-state/gone-a/state.tar.gz: InternalError: disk failed"
      ])
      expect(yield* keys(buckets.state)).toEqual(["gone-a/state.tar.gz", "live/state.tar.gz"])
      expect(yield* keys(buckets.logs)).toEqual(["logs/live/20261130.log"])
      expect(exitCode(report)).toBe(1)
    }).pipe(Effect.provide(world))
  )

  it.effect("a bucket listing that fails fails the sweep before anything is deleted", () =>
    Effect.gen(function* () {
      yield* setup
      yield* bots("live")
      yield* artifacts("gone")
      yield* put(buckets.queryResults, "x/1/result.json")
      yield* TestClock.adjust(2 * hour)
      const objects = yield* ObjectStore
      const broken = {
        ...objects,
        scan: (bucket: string, prefix?: string) =>
          bucket === buckets.state
            ? Stream.fail(new ObjectStoreError({ operation: "scan", bucket, code: "SlowDown", detail: "try later" }))
            : objects.scan(bucket, prefix)
      }
      const result = yield* Effect.either(Effect.provideService(sweep(settings), ObjectStore, broken))
      expect(Either.isLeft(result) && result.left.message).toBe(
        "listing bot-state: scan bot-state: SlowDown: try later"
      )
      expect(yield* keys(buckets.queryResults)).toEqual(["x/1/result.json"])
      expect(yield* keys(buckets.logs)).toEqual(["logs/gone/20261130.log"])
    }).pipe(Effect.provide(world))
  )

  it.effect("buckets that do not exist yet hold nothing", () =>
    Effect.gen(function* () {
      const report = yield* sweep(settings)
      expect(report).toEqual({ botsWithObjects: 0, orphanedBots: [], deletions: [], failures: [], refusal: undefined })
    }).pipe(Effect.provide(world))
  )

  it("names owners as the0 does", () => {
    expect(logOwner("logs/a/20261130.log")).toBe("a")
    expect(logOwner("logs/a/deep/x")).toBe("a")
    expect(logOwner("logs/a/")).toBeUndefined()
    expect(logOwner("logs//x")).toBeUndefined()
    expect(logOwner("other/a/x")).toBeUndefined()
    expect(stateOwner("a/state.tar.gz")).toBe("a")
    expect(stateOwner("a/b/state.tar.gz")).toBe("a")
    expect(stateOwner("state.tar.gz")).toBeUndefined()
    expect(stateOwner("a/state.tar")).toBeUndefined()
    expect(refuse(0, 0, 0)).toBeUndefined()
    expect(refuse(10, 12, 2)).toBeUndefined()
    expect(refuse(11, 30, 19)).toBeUndefined()
  })
})
