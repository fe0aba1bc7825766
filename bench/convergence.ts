/**
 * Convergence of a burst on the testbed's real servers (NATS JetStream, FerretDB, the API server; the node stopped
 * so Pods stay Pending): N realtime bots published at once into THE0_EVENTS, a controller started beside them in this
 * process, and the time until every Pod exists, event → Pod created p50/p99, the controller's CPU and peak RSS. In
 * the same run, the time the store itself needs to absorb N upserts 50 at a time (its best way here), for the budget
 * max(31 s, 1.25 × that). Then a controller restarted on the full store (the durable consumer caught up): time until
 * every Pod exists again after they were all deleted.
 *
 *   eval "$(scripts/testbed/testbed env)"; npx tsx bench/convergence.ts [N]
 */
import { execFileSync } from "node:child_process"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { MongoClient } from "mongodb"
import * as LiveKubeApi from "../src/layers/live/LiveKubeApi.ts"
import * as MinioObjectStore from "../src/layers/live/MinioObjectStore.ts"
import * as MongoBotStore from "../src/layers/live/MongoBotStore.ts"
import * as NatsEventBus from "../src/layers/live/NatsEventBus.ts"
import * as Controller from "../src/programs/cli/Controller.ts"
import * as ControllerSettings from "../src/programs/controller/ControllerSettings.ts"
import * as QuerySettings from "../src/programs/query/QuerySettings.ts"
import { KubeApi } from "../src/services/KubeApi.ts"

const n = Number(process.argv[2] ?? 1000)
const env = (name: string): string => {
  const value = process.env[name]
  if (!value) {
    console.log(`convergence: needs the testbed: eval "$(scripts/testbed/testbed env)" (${name} is missing)`)
    process.exit(1)
  }
  return value
}
const [KUBECONFIG, MONGO_URI, NATS_URL, MINIO_ENDPOINT] = ["KUBECONFIG", "MONGO_URI", "NATS_URL", "MINIO_ENDPOINT"].map(
  env
) as [string, string, string, string]
const kubeConfig = new KubeConfig()
kubeConfig.loadFromFile(KUBECONFIG)
const testbed = new URL("../scripts/testbed/testbed", import.meta.url).pathname
const run = Date.now().toString(36)
const namespace = `conv-${run}`
const ids = Array.from({ length: n }, (_, i) => `c${run}-${i}`)
const f = (ms: number) => (ms / 1000).toFixed(1)
const percentile = (values: ReadonlyArray<number>, p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? Number.NaN

const payload = (id: string) =>
  JSON.stringify({
    id,
    config: { name: `bot-${id}`, type: "realtime", version: "1.0.0", symbol: "BTC/USD" },
    custom: {
      config: {
        name: `bot-${id}`,
        runtime: "python3.11",
        type: "realtime",
        version: "1.0.0",
        entrypoints: { bot: "main.py", query: "query.py" }
      },
      filePath: `user-1/${id}/1.0.0.zip`,
      version: "1.0.0"
    }
  })

const mongo = await MongoClient.connect(MONGO_URI)
const clearStore = async () => {
  await mongo.db("bot_runner").collection("bots").deleteMany({})
  await mongo.db("bot_runner").collection("runtime_ingest_log").deleteMany({})
  await mongo.db("bot_scheduler").collection("bot_schedules").deleteMany({})
}

/** The store's own pace: N upserts of these documents, 50 at a time, into a collection of their own. */
const storeBaseline = async () => {
  const collection = mongo.db(`conv_${run}`).collection("bots")
  await collection.createIndex({ id: 1 })
  const started = Date.now()
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      ids
        .slice(i, i + 50)
        .map((id) => collection.updateOne({ id }, { $set: JSON.parse(payload(id)) }, { upsert: true }))
    )
  }
  const ms = Date.now() - started
  await mongo.db(`conv_${run}`).dropDatabase()
  return ms
}

const controllerLayer = Controller.app({
  settings: {
    ...ControllerSettings.defaults,
    manifest: { ...ControllerSettings.defaults.manifest, namespace, minioEndpoint: MINIO_ENDPOINT },
    leaderElection: { ...ControllerSettings.defaults.leaderElection, identity: `bench-${run}` },
    ownedMinioCredentials: { accessKey: env("MINIO_ACCESS_KEY"), secretKey: env("MINIO_SECRET_KEY") }
  },
  query: { ...QuerySettings.defaults, port: 18990, host: "127.0.0.1", manifest: ControllerSettings.defaults.manifest },
  healthPort: 18991
}).pipe(
  Layer.provide(
    Layer.mergeAll(
      LiveKubeApi.layer({ kubeconfig: KUBECONFIG, qps: 50, burst: 100 }),
      MongoBotStore.layer({ uri: MONGO_URI, setting: "MONGO_URI" }),
      NatsEventBus.layer({ servers: NATS_URL, prefetch: ControllerSettings.defaults.ingestConcurrency }),
      MinioObjectStore.layerFromEnv
    )
  )
)

/** Pod name → when the API server first reported it, from a watch started now. */
const watchPods = Effect.gen(function* () {
  const api = yield* KubeApi
  const seen = new Map<string, number>()
  const start = yield* api.list("Pod", namespace)
  yield* api.watch("Pod", namespace, { resourceVersion: start.resourceVersion }).pipe(
    Stream.runForEach((e) =>
      Effect.sync(() => {
        if (e.type === "ADDED" && !seen.has(e.object.metadata.name)) seen.set(e.object.metadata.name, Date.now())
      })
    ),
    Effect.forkScoped
  )
  return seen
})

/** Adds every Pod the API server lists to `seen` (its creation time when the watch missed it). */
const listInto = (seen: Map<string, number>) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const pods = yield* api.list("Pod", namespace)
    for (const pod of pods.items) {
      const created = Date.parse(pod.metadata.creationTimestamp ?? "")
      if (!seen.has(pod.metadata.name)) seen.set(pod.metadata.name, Number.isNaN(created) ? Date.now() : created)
    }
  }).pipe(Effect.ignore)

/** Waits until `done`, running `poll` every 2 s (a watch can miss events under load; a list cannot). */
const waitFor = (done: () => boolean, limitMs: number, poll: Effect.Effect<void, never, KubeApi> = Effect.void) =>
  Effect.gen(function* () {
    const started = Date.now()
    let polled = Date.now()
    while (!done() && Date.now() - started < limitMs) {
      yield* Effect.sleep("100 millis")
      if (Date.now() - polled >= 2_000) {
        yield* poll
        polled = Date.now()
      }
    }
    return done()
  })

const program = Effect.gen(function* () {
  const api = yield* KubeApi
  const core = kubeConfig.makeApiClient(CoreV1Api)
  yield* Effect.promise(() => core.createNamespace({ body: { metadata: { name: namespace } } }))
  yield* Effect.addFinalizer(() =>
    Effect.promise(() => core.deleteNamespace({ name: namespace }).catch(() => undefined))
  )
  execFileSync(testbed, ["stop", "node"], { stdio: "ignore" })
  yield* Effect.addFinalizer(() => Effect.sync(() => execFileSync(testbed, ["start", "node"], { stdio: "ignore" })))
  yield* Effect.promise(clearStore)
  const baselineMs = yield* Effect.promise(storeBaseline)

  const nc = yield* Effect.promise(() => connect({ servers: NATS_URL }))
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  yield* Effect.promise(() => jsm.streams.delete("THE0_EVENTS").catch(() => false))
  yield* Effect.promise(() => jsm.streams.add({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] }))
  const js = jetstream(nc)

  // the controller first, caught up on an empty stream; then the burst
  const scope = yield* Scope.make()
  const cpuBefore = process.cpuUsage()
  yield* Layer.buildWithScope(controllerLayer, scope)
  const seen = yield* watchPods
  yield* Effect.sleep("2 seconds")
  const published = new Map<string, number>()
  const burstStart = Date.now()
  yield* Effect.promise(() =>
    Promise.all(
      ids.map(async (id) => {
        published.set(`bot-${id}`, Date.now())
        await js.publish("the0.bot.created", payload(id))
      })
    )
  )
  let storedAt = 0
  const counter = setInterval(async () => {
    if (storedAt === 0 && (await mongo.db("bot_runner").collection("bots").countDocuments({})) >= n)
      storedAt = Date.now()
  }, 5_000)
  let peakRss = 0
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 200)
  const complete = yield* waitFor(() => seen.size >= n, 20 * 60_000, listInto(seen))
  const burstMs = Date.now() - burstStart
  clearInterval(sampler)
  clearInterval(counter)
  const cpu = process.cpuUsage(cpuBefore)
  const latencies = [...seen].flatMap(([name, t]) => {
    const p = published.get(name)
    return p === undefined ? [] : [t - p]
  })
  const budget = Math.max(31_000, 1.25 * baselineMs)
  console.log(`store baseline: ${n} upserts 50 at a time in ${f(baselineMs)} s`)
  console.log(
    `${n} bots published at once → every Pod exists: ${complete ? `${f(burstMs)} s` : `not after ${f(burstMs)} s (${seen.size} Pods)`}   budget ≤ ${f(budget)} s (max(31 s, 1.25 × store))   ${complete && burstMs <= budget ? "ok" : "MISSED"}`
  )
  console.log(
    `every document stored (ingest done, seen within 5 s): ${storedAt === 0 ? "not seen" : `${f(storedAt - burstStart)} s`}`
  )
  console.log(`event → Pod created: p50 ${f(percentile(latencies, 50))} s, p99 ${f(percentile(latencies, 99))} s`)
  console.log(
    `process CPU (controller and this bench's publisher and watch) ${f((cpu.user + cpu.system) / 1000)} s, peak RSS ${(peakRss / 1048576).toFixed(0)} MiB`
  )

  // restart on the full store: every Pod deleted while no controller runs, then a new one
  yield* Scope.close(scope, Exit.void)
  yield* Effect.promise(() => core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 }))
  yield* waitFor(() => false, 3_000)
  const restartSeen = new Map<string, number>()
  const after = yield* api.list("Pod", namespace)
  yield* api.watch("Pod", namespace, { resourceVersion: after.resourceVersion }).pipe(
    Stream.runForEach((e) =>
      Effect.sync(() => {
        if (e.type === "ADDED") restartSeen.set(e.object.metadata.name, Date.now())
      })
    ),
    Effect.forkScoped
  )
  const restartScope = yield* Scope.make()
  const restartStart = Date.now()
  yield* Layer.buildWithScope(controllerLayer, restartScope)
  const restarted = yield* waitFor(() => restartSeen.size >= n, 10 * 60_000, listInto(restartSeen))
  const restartMs = Date.now() - restartStart
  console.log(
    `controller started with ${n} bots in the store and no Pods → every Pod exists: ${restarted ? `${f(restartMs)} s` : `not after ${f(restartMs)} s (${restartSeen.size})`}   budget ≤ ${f((20_000 * n) / 1000)} s   ${restarted && restartMs <= 20 * n ? "ok" : "MISSED"}`
  )
  yield* Scope.close(restartScope, Exit.void)
  yield* Effect.promise(() => nc.close())
})

await Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(LiveKubeApi.layer({ kubeconfig: KUBECONFIG, qps: 100, burst: 200 })))
)
await mongo.close()
process.exit(0)
