/**
 * `gc` as the0's Helm chart runs it: its CronJob (test/fixtures/the0-chart/gc-cronjob.yaml: `/app/runtime gc`, the
 * chart's Secret, 128 MiB) is accepted, and a Job made from it runs on the node, within its limits, over buckets
 * holding thousands of objects: the objects of bots without a document go, every other bot's stay.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { BatchV1Api, CoreV1Api, type V1CronJob } from "@kubernetes/client-node"
import { Effect } from "effect"
import { MongoClient } from "mongodb"
import { parse } from "yaml"
import { env, freshNamespace, kubeConfig, until } from "../controller/Harness.ts"
import { uniqueName } from "../testbed/env.ts"
import { image, incidents, s3, the0Secrets } from "./NodeWorld.ts"

const cronJob = parse(
  readFileSync("test/fixtures/the0-chart/gc-cronjob.yaml", "utf8")
    .replaceAll("@IMAGE@", image)
    .replaceAll("@MINIO_ENDPOINT@", env.MINIO_ENDPOINT)
) as V1CronJob

const listKeys = (bucket: string) =>
  Effect.promise(async () => {
    const keys: Array<string> = []
    for await (const item of s3.listObjectsV2(bucket, "", true)) if (item.name) keys.push(item.name)
    return keys.sort()
  })

describe("gc under the0's Helm chart", () => {
  it.live(
    "a Job from the chart's CronJob deletes the objects of bots without a document and keeps the others, within 128 MiB",
    () =>
      Effect.gen(function* () {
        const ns = yield* freshNamespace
        yield* the0Secrets(ns)
        const run = uniqueName("gc")
        const buckets = { state: `${run}-state`, logs: `${run}-logs`, results: `${run}-results` }
        const live = Array.from({ length: 350 }, (_, i) => `${run}-live-${i}`)
        const gone = Array.from({ length: 250 }, (_, i) => `${run}-gone-${i}`)
        const days = ["20261126", "20261127", "20261128", "20261129"]
        yield* Effect.promise(async () => {
          for (const bucket of Object.values(buckets)) await s3.makeBucket(bucket)
          const client = await MongoClient.connect(env.MONGO_URI)
          try {
            await client
              .db("bot_runner")
              .collection("bots")
              .insertMany(live.slice(0, 300).map((id) => ({ id, config: { enabled: false } })))
            await client
              .db("bot_scheduler")
              .collection("bot_schedules")
              .insertMany(live.slice(300).map((id) => ({ id })))
          } finally {
            await client.close()
          }
        })
        const objects = [...live, ...gone].flatMap((id) => [
          { bucket: buckets.state, key: `${id}/state.tar.gz` },
          ...days.map((day) => ({ bucket: buckets.logs, key: `logs/${id}/${day}.log` }))
        ])
        yield* Effect.forEach(
          objects,
          ({ bucket, key }) => Effect.promise(() => s3.putObject(bucket, key, Buffer.from(`{"msg":"${key}"}\n`))),
          { concurrency: 32, discard: true }
        )
        const batch = kubeConfig().makeApiClient(BatchV1Api)
        yield* Effect.promise(() => batch.createNamespacedCronJob({ namespace: ns, body: cronJob }))
        const template = cronJob.spec?.jobTemplate.spec
        const container = template?.template.spec?.containers[0]
        if (template === undefined || container === undefined) throw new Error("the fixture has no job template")
        // the chart's Job, over this test's own buckets (the0's gc reads the same variables)
        const bucketEnv = [
          { name: "MINIO_STATE_BUCKET", value: buckets.state },
          { name: "MINIO_LOGS_BUCKET", value: buckets.logs },
          { name: "MINIO_QUERY_RESULTS_BUCKET", value: buckets.results }
        ]
        yield* Effect.promise(() =>
          batch.createNamespacedJob({
            namespace: ns,
            body: {
              metadata: { name: "the0-gc-manual" },
              spec: {
                ...template,
                template: {
                  ...template.template,
                  spec: {
                    ...template.template.spec,
                    containers: [{ ...container, env: [...(container.env ?? []), ...bucketEnv] }]
                  }
                }
              }
            }
          })
        )
        const job = yield* until(
          Effect.flatMap(
            Effect.promise(() => batch.readNamespacedJob({ name: "the0-gc-manual", namespace: ns })),
            (j) => ((j.status?.succeeded ?? 0) > 0 ? Effect.succeed(j) : Effect.fail(j.status))
          ),
          180_000
        )
        expect(job.status?.succeeded).toBe(1)
        const core = kubeConfig().makeApiClient(CoreV1Api)
        const pods = yield* Effect.promise(() =>
          core.listNamespacedPod({ namespace: ns, labelSelector: "job-name=the0-gc-manual" })
        )
        expect(pods.items.map(incidents)).toEqual([[]])
        const [pod] = pods.items
        const log = yield* Effect.promise(() =>
          core.readNamespacedPodLog({ name: pod?.metadata?.name ?? "", namespace: ns, container: "gc" })
        )
        expect(log).toContain("GC sweep complete: 250 orphaned bot(s), 1250 objects deleted")
        expect(yield* listKeys(buckets.state)).toEqual(live.map((id) => `${id}/state.tar.gz`).sort())
        expect(yield* listKeys(buckets.logs)).toEqual(
          live.flatMap((id) => days.map((day) => `logs/${id}/${day}.log`)).sort()
        )
      }).pipe(Effect.scoped),
    300_000
  )
})
