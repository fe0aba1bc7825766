/**
 * Scheduled query (BENCHMARKS.md, "QueryServer"): time from the query Job's success (its Pod completing) to the answer, on the memory
 * cluster with the simulated kubelet and Job controller. It covers the Job controller's reaction, our Job watch
 * event, the result download, the Job deletion and result removal (both done before answering) and the response.
 * The fake API server runs in this process, so the figure is an upper bound for the QueryServer alone.
 *
 *   npx tsx bench/query/job-answer.ts [queries]
 */
import os from "node:os"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Stream } from "effect"
import { Bucket } from "../../src/domain/Buckets.ts"
import { Label, ManagedBy } from "../../src/domain/Labels.ts"
import * as MemoryBotStore from "../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryJobController from "../../src/layers/memory/MemoryJobController.ts"
import * as MemoryKubeApi from "../../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryKubelet from "../../src/layers/memory/MemoryKubelet.ts"
import { SimulatedKubelet } from "../../src/layers/memory/MemoryKubelet.ts"
import * as MemoryObjectStore from "../../src/layers/memory/MemoryObjectStore.ts"
import * as Informer from "../../src/programs/controller/Informer.ts"
import { Metrics } from "../../src/programs/Metrics.ts"
import * as QueryServer from "../../src/programs/query/QueryServer.ts"
import * as QuerySettings from "../../src/programs/query/QuerySettings.ts"
import { BotStore } from "../../src/services/BotStore.ts"
import { KubeApi } from "../../src/services/KubeApi.ts"
import { ObjectStore } from "../../src/services/ObjectStore.ts"

const queries = Number(process.argv[2] ?? 200)
const ns = "the0"

const world = Layer.mergeAll(
  MemoryKubelet.layer({ autoRun: true, autoTerminate: true }),
  MemoryJobController.layer(ns)
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      MemoryKubeApi.layer(),
      MemoryBotStore.layer,
      MemoryObjectStore.layer,
      Metrics.layer,
      NodeHttpClient.layerUndici
    )
  )
)

const settings: QuerySettings.QuerySettings = {
  ...QuerySettings.defaults,
  manifest: { ...QuerySettings.defaults.manifest, terminationGracePeriodSeconds: 0 }
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN

const program = Effect.gen(function* () {
  const store = yield* BotStore
  yield* store.schedules.upsert("sched-bench", {
    config: { schedule: "0 9 * * *" },
    custom: {
      version: "1.0.0",
      filePath: "user-1/sched-bench/v1.0.0.zip",
      config: { name: "bench", runtime: "python3.11", entrypoints: { bot: "main.py", query: "query.py" } }
    }
  })
  const objects = yield* ObjectStore
  yield* objects.ensureBucket(Bucket.queryResults)
  const kubelet = yield* SimulatedKubelet
  const api = yield* KubeApi
  let succeededAt = 0
  const list = yield* api.list("Pod", ns)
  yield* api
    .watch("Pod", ns, {
      resourceVersion: list.resourceVersion,
      labelSelector: `${Label.managedBy}=${ManagedBy.queryHandler}`
    })
    .pipe(
      Stream.filterMap((e) => (e.type === "ADDED" ? Option.some(e.object) : Option.none())),
      Stream.runForEach((pod) =>
        Effect.gen(function* () {
          const key = pod.spec.containers[0]?.env?.find((v) => v.name === "QUERY_RESULT_KEY")?.value ?? ""
          yield* objects.put(Bucket.queryResults, key, new TextEncoder().encode('{"status":"ok","data":{"n":1}}'))
          succeededAt = performance.now()
          yield* kubelet.completePod(ns, pod.metadata.name, 0)
        }).pipe(Effect.forkDaemon)
      ),
      Effect.forkScoped
    )
  const botPods = yield* Informer.make("Pod", {
    namespace: ns,
    labelSelector: `${Label.managedBy}=${ManagedBy.botController}`,
    indexLabels: [Label.botId]
  })
  const server = yield* QueryServer.make({ settings, botPods })
  const body = new TextEncoder().encode(JSON.stringify({ bot_id: "sched-bench", query_path: "/n", timeout_sec: 10 }))
  const request = { method: "POST", url: "/query", header: () => undefined, body: Effect.succeed(body) }
  const samples: Array<number> = []
  for (let i = 0; i < queries + 20; i++) {
    const answer = yield* server.handle(request)
    const elapsed = performance.now() - succeededAt
    if (answer.status !== 200) return yield* Effect.die(new Error(answer.body))
    if (i >= 20) samples.push(elapsed)
  }
  samples.sort((a, b) => a - b)
  const left = (yield* api.list("Job", ns)).items.length + (yield* objects.list(Bucket.queryResults)).length
  console.log(
    `# scheduled query: ${os.cpus().length} CPUs, Node ${process.version}, load ${os.loadavg()[0]?.toFixed(1)}`
  )
  console.log(
    `Job success -> answer (${queries} queries): p50 ${quantile(samples, 0.5).toFixed(2)} ms, p99 ${quantile(samples, 0.99).toFixed(2)} ms, max ${(samples.at(-1) ?? 0).toFixed(2)} ms   [goal: <= 100 ms] ${quantile(samples, 0.99) <= 100 ? "OK" : "MISSED"}`
  )
  console.log(`Jobs and result objects left behind: ${left}   [goal: 0] ${left === 0 ? "OK" : "MISSED"}`)
})

void Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(world)))
