/**
 * `the0-runtime gc` on the testbed's MinIO and FerretDB, run as the CLI: a dry run prints the plan and deletes
 * nothing, a sweep deletes the objects of bots without a document and keeps every other bot's, an empty store and an
 * unreachable one delete nothing. Each test sweeps buckets of its own (the0's MINIO_*_BUCKET variables), and the
 * sweep itself runs over MinIO to abort an abandoned multipart upload.
 */
import { execFile } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { MongoClient } from "mongodb"
import * as MinioObjectStore from "../../../src/layers/live/MinioObjectStore.ts"
import * as MongoBotStore from "../../../src/layers/live/MongoBotStore.ts"
import { sweep } from "../../../src/programs/gc/Sweep.ts"
import { ObjectStore } from "../../../src/services/ObjectStore.ts"
import { clearStore, env } from "../controller/Harness.ts"
import { s3 } from "../node/NodeWorld.ts"
import { uniqueName } from "../testbed/env.ts"

interface Buckets {
  readonly state: string
  readonly logs: string
  readonly results: string
}

const freshBuckets = Effect.promise(async (): Promise<Buckets> => {
  const run = uniqueName("gc")
  const buckets = { state: `${run}-state`, logs: `${run}-logs`, results: `${run}-results` }
  for (const bucket of Object.values(buckets)) await s3.makeBucket(bucket)
  return buckets
})

const put = (bucket: string, key: string) => Effect.promise(() => s3.putObject(bucket, key, Buffer.from(key)))
const artifacts = (b: Buckets, id: string) =>
  Effect.all([put(b.state, `${id}/state.tar.gz`), put(b.logs, `logs/${id}/20261130.log`)])
const keys = (bucket: string) =>
  Effect.promise(async () => {
    const found: Array<string> = []
    for await (const item of s3.listObjectsV2(bucket, "", true)) if (item.name) found.push(item.name)
    return found.sort()
  })

const documents = (bots: ReadonlyArray<Record<string, unknown>>, schedules: ReadonlyArray<Record<string, unknown>>) =>
  Effect.promise(async () => {
    const client = await MongoClient.connect(env.MONGO_URI)
    try {
      if (bots.length > 0)
        await client
          .db("bot_runner")
          .collection("bots")
          .insertMany(bots.map((d) => ({ ...d })))
      if (schedules.length > 0)
        await client
          .db("bot_scheduler")
          .collection("bot_schedules")
          .insertMany(schedules.map((d) => ({ ...d })))
    } finally {
      await client.close()
    }
  })

const gc = (b: Buckets, args: ReadonlyArray<string> = [], extra: Record<string, string> = {}) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    execFile(
      "bin/the0-runtime",
      ["gc", ...args],
      {
        env: {
          PATH: process.env.PATH,
          MONGO_URI: env.MONGO_URI,
          MINIO_ENDPOINT: env.MINIO_ENDPOINT,
          MINIO_ACCESS_KEY: env.MINIO_ACCESS_KEY,
          MINIO_SECRET_KEY: env.MINIO_SECRET_KEY,
          MINIO_STATE_BUCKET: b.state,
          MINIO_LOGS_BUCKET: b.logs,
          MINIO_QUERY_RESULTS_BUCKET: b.results,
          ...extra
        },
        timeout: 60_000
      },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr }))
    )
  })

describe("the0-runtime gc", () => {
  it.live(
    "a dry run prints what a sweep then deletes: the objects of bots without a document, nothing of the others",
    () =>
      Effect.gen(function* () {
        const b = yield* freshBuckets
        const id = (name: string) => `${b.state}-${name}`
        yield* documents([{ id: id("live") }, { id: id("off"), config: { enabled: false } }], [{ id: id("sched") }])
        for (const name of ["live", "off", "sched", "gone"]) yield* artifacts(b, id(name))
        const dry = yield* gc(b, ["--dry-run"])
        expect(dry.code).toBe(0)
        expect(dry.stdout.trim().split("\n").sort()).toEqual([
          `would delete ${b.logs}/logs/${id("gone")}/20261130.log (orphaned-bot ${id("gone")})`,
          `would delete ${b.state}/${id("gone")}/state.tar.gz (orphaned-bot ${id("gone")})`
        ])
        expect(dry.stderr).toContain("GC dry run: 1 orphaned bot(s), 2 objects would be deleted")
        expect(yield* keys(b.state)).toHaveLength(4)

        const real = yield* gc(b)
        expect(real.code).toBe(0)
        expect(real.stdout).toContain("GC sweep complete: 1 orphaned bot(s), 2 objects deleted")
        expect(yield* keys(b.state)).toEqual(["live", "off", "sched"].map((n) => `${id(n)}/state.tar.gz`))
        expect(yield* keys(b.logs)).toEqual(["live", "off", "sched"].map((n) => `logs/${id(n)}/20261130.log`))
      }),
    120_000
  )

  it.live(
    "an empty store keeps every bot's objects and exits 3; an unreachable one exits 1; neither deletes anything",
    () =>
      Effect.gen(function* () {
        const b = yield* freshBuckets
        for (const name of ["a", "b"]) yield* artifacts(b, `${b.state}-${name}`)
        yield* clearStore
        const empty = yield* gc(b)
        expect(empty.code).toBe(3)
        expect(empty.stdout).toContain("the store holds no bot or schedule documents at all")
        const unreachable = yield* gc(b, [], { MONGO_URI: "mongodb://127.0.0.1:1/" })
        expect(unreachable.code).toBe(1)
        expect(unreachable.stdout).toContain("gc cannot start")
        expect(yield* keys(b.state)).toHaveLength(2)
        expect(yield* keys(b.logs)).toHaveLength(2)
      }),
    120_000
  )

  it.live("an abandoned multipart upload on MinIO is found in the bucket-wide listing and aborted", () =>
    Effect.gen(function* () {
      const b = yield* freshBuckets
      const objects = yield* ObjectStore
      const key = `logs/${b.logs}-bot/20261130.log`
      yield* put(b.logs, key)
      const uploadId = yield* objects.createMultipartUpload(b.logs, key)
      yield* Effect.sleep("1100 millis")
      const report = yield* sweep({
        buckets: { state: b.state, logs: b.logs, queryResults: b.results },
        staleAfter: "1 second",
        queryResultTtl: "1 hour",
        dryRun: false,
        allowMassDelete: false
      })
      expect(report.deletions.filter((d) => d.reason === "stale-upload").map((d) => d.uploadId)).toEqual([uploadId])
      expect(yield* objects.listIncompleteUploads(b.logs, key)).toEqual([])
    }).pipe(
      Effect.provide(
        Layer.merge(MinioObjectStore.layerFromEnv, MongoBotStore.layer({ uri: env.MONGO_URI, setting: "MONGO_URI" }))
      )
    )
  )
})
