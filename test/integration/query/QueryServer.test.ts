/**
 * The QueryServer's Job flow against the testbed: a real kube-apiserver with kube-controller-manager (the Job
 * controller makes the query Pod; there are no nodes, so the test plays the Pod: it uploads `result.json` to the
 * real MinIO and marks the Pod Succeeded) and the live KubeApi and ObjectStore layers. Checks the answer and that
 * no Job, Pod or result object is left.
 */

import { describe, expect, it } from "@effect/vitest"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { Effect, Layer, Option, Schedule, Stream } from "effect"
import { Bucket } from "../../../src/domain/Buckets.ts"
import { Label, ManagedBy } from "../../../src/domain/Labels.ts"
import * as LiveKubeApi from "../../../src/layers/live/LiveKubeApi.ts"
import * as MinioObjectStore from "../../../src/layers/live/MinioObjectStore.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as Informer from "../../../src/programs/controller/Informer.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import * as QueryServer from "../../../src/programs/query/QueryServer.ts"
import * as QuerySettings from "../../../src/programs/query/QuerySettings.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { ObjectStore } from "../../../src/services/ObjectStore.ts"
import { requireEnv, uniqueName } from "../testbed/env.ts"

const env = requireEnv("KUBECONFIG", "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")

const world = Layer.mergeAll(
  LiveKubeApi.layer({ kubeconfig: env.KUBECONFIG, qps: 100, burst: 200 }),
  MinioObjectStore.layerFromEnv,
  MemoryBotStore.layer,
  Metrics.layer
)

const freshNamespace = Effect.gen(function* () {
  const kc = new KubeConfig()
  kc.loadFromFile(env.KUBECONFIG)
  const core = kc.makeApiClient(CoreV1Api)
  const name = uniqueName("query")
  yield* Effect.promise(() => core.createNamespace({ body: { metadata: { name } } }))
  yield* Effect.tryPromise(() => core.readNamespacedServiceAccount({ name: "default", namespace: name })).pipe(
    Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("30 seconds")))
  )
  yield* Effect.addFinalizer(() => Effect.promise(() => core.deleteNamespace({ name }).catch(() => undefined)))
  return name
})

const schedule = (id: string) => ({
  config: { schedule: "0 9 * * *" },
  custom: {
    version: "1.0.0",
    filePath: `user-1/${id}/v1.0.0.zip`,
    config: { name: "it", runtime: "python3.11", entrypoints: { bot: "main.py", query: "query.py" } }
  }
})

/** Plays the query Pods of `namespace`: uploads `result` to the Pod's result key, then marks it Succeeded. */
const playQueryPods = (namespace: string, result: string | undefined) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const objects = yield* ObjectStore
    const list = yield* api.list("Pod", namespace)
    yield* api
      .watch("Pod", namespace, {
        resourceVersion: list.resourceVersion,
        labelSelector: `${Label.managedBy}=${ManagedBy.queryHandler}`
      })
      .pipe(
        Stream.filterMap((e) => (e.type === "ADDED" ? Option.some(e.object) : Option.none())),
        Stream.runForEach((pod) =>
          Effect.gen(function* () {
            if (result === undefined) return
            // the key is the result sidecar's `--result-key` argument
            const args = pod.spec.initContainers?.find((c) => c.name === "result")?.args ?? []
            const key = args[args.indexOf("--result-key") + 1] ?? ""
            yield* objects.ensureBucket(Bucket.queryResults)
            yield* objects.put(Bucket.queryResults, key, new TextEncoder().encode(result))
            yield* api.patchStatus("Pod", namespace, pod.metadata.name, {
              phase: "Succeeded",
              containerStatuses: [
                {
                  name: "bot",
                  ready: false,
                  restartCount: 0,
                  state: { terminated: { exitCode: 0, reason: "Completed" } }
                }
              ]
            })
          }).pipe(Effect.orDie)
        ),
        Effect.forkScoped
      )
  })

const serveIn = (namespace: string) =>
  Effect.gen(function* () {
    const botPods = yield* Informer.make("Pod", {
      namespace,
      labelSelector: `${Label.managedBy}=${ManagedBy.botController}`,
      indexLabels: [Label.botId]
    })
    yield* botPods.synced
    const settings: QuerySettings.QuerySettings = {
      ...QuerySettings.defaults,
      manifest: { ...QuerySettings.defaults.manifest, namespace }
    }
    return yield* QueryServer.make({ settings, botPods })
  })

const ask = (server: QueryServer.QueryServer, body: unknown) =>
  server
    .handle({
      method: "POST",
      url: "/query",
      header: () => undefined,
      body: Effect.succeed(new TextEncoder().encode(JSON.stringify(body)))
    })
    .pipe(Effect.map((r) => ({ status: r.status, json: JSON.parse(r.body) as Record<string, unknown> })))

const leftovers = (namespace: string, botId: string) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const objects = yield* ObjectStore
    const jobs = (yield* api.list("Job", namespace)).items.map((j) => j.metadata.name)
    const pods = (yield* api.list("Pod", namespace)).items.map((p) => p.metadata.name)
    const results = (yield* objects
      .list(Bucket.queryResults, `${botId}/`)
      .pipe(Effect.catchTag("NoSuchBucket", () => Effect.succeed([])))).map((o) => o.key)
    return { jobs, pods, results }
  })

const nothingLeft = (namespace: string, botId: string) =>
  Effect.retry(
    Effect.filterOrFail(
      leftovers(namespace, botId),
      (l) => l.jobs.length === 0 && l.pods.length === 0 && l.results.length === 0,
      (l) => new Error(`left behind: ${JSON.stringify(l)}`)
    ),
    Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds"))
  )

describe("QueryServer on the testbed", () => {
  it.scopedLive(
    "a scheduled query runs as a real Job; the answer comes from MinIO; Job, Pod and result are gone",
    () =>
      Effect.gen(function* () {
        const namespace = yield* freshNamespace
        const botId = uniqueName("sched")
        yield* (yield* BotStore).schedules.upsert(botId, schedule(botId))
        yield* playQueryPods(namespace, JSON.stringify({ status: "ok", data: { balance: 42 } }))
        const server = yield* serveIn(namespace)
        const answer = yield* ask(server, { bot_id: botId, query_path: "balance", timeout_sec: 60 })
        expect(answer.status).toBe(200)
        expect(answer.json.data).toEqual({ balance: 42 })
        yield* nothingLeft(namespace, botId)
      }).pipe(Effect.provide(world)),
    120_000
  )

  it.scopedLive(
    "a query whose Pod never finishes times out; the Job and its Pod are deleted",
    () =>
      Effect.gen(function* () {
        const namespace = yield* freshNamespace
        const botId = uniqueName("sched")
        yield* (yield* BotStore).schedules.upsert(botId, schedule(botId))
        yield* playQueryPods(namespace, undefined)
        const server = yield* serveIn(namespace)
        const answer = yield* ask(server, { bot_id: botId, query_path: "/balance", timeout_sec: 3 })
        expect(answer.status).toBe(500)
        expect(answer.json.error).toBe("query job failed: context deadline exceeded")
        yield* nothingLeft(namespace, botId)
      }).pipe(Effect.provide(world)),
    120_000
  )
})
