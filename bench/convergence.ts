/**
 * Convergence of a burst on the testbed's real servers (NATS JetStream, FerretDB, the API server; the node cordoned
 * so Pods stay Pending): N realtime bots published at once into THE0_EVENTS, a controller started beside them in this
 * process, and the time until every Pod exists, event → Pod created p50/p99, the controller's CPU and peak RSS. In
 * the same run, the time the store itself needs to absorb N upserts in its best of three ways, for the budget
 * max(31 s, 1.25 × that); the API requests the controller made, the store operations (FerretDB's own counts), the
 * API server's own p99 latency of mutating requests, and the controller's queue wait and reconcile time. Then a controller restarted on the full store (the durable consumer caught up): time until
 * every Pod exists again after they were all deleted.
 *
 *   eval "$(scripts/testbed/testbed env)"; npx tsx bench/convergence.ts [N]
 */
import * as https from "node:https"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { type Collection, type Document, MongoClient } from "mongodb"
import * as LiveKubeApi from "../src/layers/live/LiveKubeApi.ts"
import * as MinioObjectStore from "../src/layers/live/MinioObjectStore.ts"
import * as MongoBotStore from "../src/layers/live/MongoBotStore.ts"
import * as NatsEventBus from "../src/layers/live/NatsEventBus.ts"
import * as Controller from "../src/programs/cli/Controller.ts"
import * as App from "../src/programs/controller/App.ts"
import * as ControllerSettings from "../src/programs/controller/ControllerSettings.ts"
import * as QuerySettings from "../src/programs/query/QuerySettings.ts"
import { KubeApi } from "../src/services/KubeApi.ts"
import { botDocument, cordon, scrape } from "./TestbedParts.ts"

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
const run = Date.now().toString(36)
const namespace = `conv-${run}`
const ids = Array.from({ length: n }, (_, i) => `c${run}-${i}`)
const f = (ms: number) => (ms / 1000).toFixed(1)
const percentile = (values: ReadonlyArray<number>, p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? Number.NaN

const payload = (id: string) => JSON.stringify(botDocument(id))

const mongo = await MongoClient.connect(MONGO_URI)
const clearStore = async () => {
  await mongo.db("bot_runner").collection("bots").deleteMany({})
  await mongo.db("bot_runner").collection("runtime_ingest_log").deleteMany({})
  await mongo.db("bot_scheduler").collection("bot_schedules").deleteMany({})
}

/**
 * The store's own pace: N upserts of these documents into a collection of their own, in three ways (50 at a time
 * by `id` as the0 writes them, 50 at a time by `_id`, and one unordered bulk write by `_id`); the best counts.
 */
const storeBaseline = async () => {
  const ways: Record<string, (collection: Collection<Document>) => Promise<unknown>> = {
    "by id, 50 at a time": async (collection) => {
      for (let i = 0; i < n; i += 50)
        await Promise.all(
          ids
            .slice(i, i + 50)
            .map((id) => collection.updateOne({ id }, { $set: JSON.parse(payload(id)) }, { upsert: true }))
        )
    },
    "by _id, 50 at a time": async (collection) => {
      for (let i = 0; i < n; i += 50)
        await Promise.all(
          ids
            .slice(i, i + 50)
            .map((id) =>
              collection.updateOne({ _id: id as never }, { $set: JSON.parse(payload(id)) }, { upsert: true })
            )
        )
    },
    "by _id, unordered bulk writes of 1,000": async (collection) => {
      for (let i = 0; i < n; i += 1_000)
        await collection.bulkWrite(
          ids.slice(i, i + 1_000).map((id) => ({
            updateOne: { filter: { _id: id as never }, update: { $set: JSON.parse(payload(id)) }, upsert: true }
          })),
          { ordered: false }
        )
    }
  }
  const times: Array<readonly [string, number]> = []
  for (const [way, write] of Object.entries(ways)) {
    // one at a time, upserts read the whole collection (by id) or wait on each other (by _id): an hour at 10,000
    if (n > 2_000 && !way.includes("bulk")) continue
    const collection = mongo.db(`conv_${run}`).collection(way.replace(/\W+/g, "_"))
    await collection.createIndex({ id: 1 })
    const started = Date.now()
    await write(collection)
    times.push([way, Date.now() - started])
  }
  await mongo.db(`conv_${run}`).dropDatabase()
  return times
}

/** The API server's own latency histogram of mutating requests (all resources), summed by bucket. */
const mutatingBuckets = async (): Promise<Map<number, number>> => {
  const options: https.RequestOptions = {}
  await kubeConfig.applyToHTTPSOptions(options)
  const text = await new Promise<string>((resolve) =>
    https
      .get(new URL("/metrics", kubeConfig.getCurrentCluster()?.server), options, (res) => {
        let body = ""
        res.on("data", (chunk) => {
          body += chunk
        })
        res.on("end", () => resolve(body))
      })
      .on("error", () => resolve(""))
  )
  const buckets = new Map<number, number>()
  for (const line of text.split("\n")) {
    const m = line.match(
      /^apiserver_request_duration_seconds_bucket\{.*verb="(POST|PUT|PATCH|DELETE)".*le="([^"]+)"\} (\S+)$/
    )
    if (m === null) continue
    const le = m[2] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[2])
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[3]))
  }
  return buckets
}
/** The bucket bound under which 99 % of the requests between two readings fell. */
const p99Bound = (before: Map<number, number>, after: Map<number, number>) => {
  const bounds = [...after.keys()].sort((a, b) => a - b)
  const count = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0)
  const total = count(Number.POSITIVE_INFINITY)
  return { total, p99: bounds.find((le) => count(le) >= 0.99 * total) ?? Number.NaN }
}

const controllerLayer = App.layer({
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
      LiveKubeApi.layer({ kubeconfig: KUBECONFIG, ...Controller.kubeRateDefaults }),
      MongoBotStore.layer({ uri: MONGO_URI, setting: "MONGO_URI" }),
      NatsEventBus.layer({ servers: NATS_URL, prefetch: ControllerSettings.defaults.ingestConcurrency }),
      MinioObjectStore.layerFromEnv
    )
  )
)

const delta = (before: Map<string, number>, after: Map<string, number>) =>
  [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0)
/** FerretDB's own request counts (its debug listener), for the store operations a run made. */
const storeMetrics = `http://${new URL(MONGO_URI).hostname}:18088/debug/metrics`
const storeOps = () => scrape(storeMetrics, "ferretdb_client_requests_total")
const controllerMetrics = "http://127.0.0.1:18991/metrics"
/** `name{command="find",...} 3` → `find 3`, for `label`. */
const byLabel = (series: ReadonlyArray<readonly [string, number]>, label: string) =>
  series.map(([k, v]) => `${k.match(new RegExp(`${label}="([^"]*)"`))?.[1] ?? k} ${v}`).join(", ")
/** Mean of a histogram from its _sum and _count. */
const mean = (series: Map<string, number>, name: string, labels: string) =>
  (series.get(`${name}_sum{${labels}}`) ?? Number.NaN) / (series.get(`${name}_count{${labels}}`) ?? Number.NaN)

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
      if (Date.now() - polled >= listEvery) {
        yield* poll
        polled = Date.now()
      }
    }
    return done()
  })

/** How often a wait also lists every Pod (a watch can miss events under load): rarely when there are thousands. */
const listEvery = n > 2_000 ? 30_000 : 2_000

const program = Effect.gen(function* () {
  const api = yield* KubeApi
  const core = kubeConfig.makeApiClient(CoreV1Api)
  yield* Effect.promise(() => core.createNamespace({ body: { metadata: { name: namespace } } }))
  yield* Effect.addFinalizer(() =>
    Effect.promise(() => core.deleteNamespace({ name: namespace }).catch(() => undefined))
  )
  yield* Effect.promise(() => cordon(core, env("THE0_TESTBED_NODE"), true))
  yield* Effect.addFinalizer(() => Effect.promise(() => cordon(core, env("THE0_TESTBED_NODE"), false)))
  yield* Effect.promise(clearStore)
  const baselines = yield* Effect.promise(storeBaseline)
  const baselineMs = Math.min(...baselines.map(([, ms]) => ms))

  const nc = yield* Effect.promise(() => connect({ servers: NATS_URL }))
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  yield* Effect.promise(() => jsm.streams.delete("THE0_EVENTS").catch(() => false))
  yield* Effect.promise(() => jsm.streams.add({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] }))
  const js = jetstream(nc)

  // the controller first, caught up on an empty stream; then the burst
  const scope = yield* Scope.make()
  const opsBefore = yield* Effect.promise(storeOps)
  const apiBefore = yield* Effect.promise(mutatingBuckets)
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
    const applied = await scrape(controllerMetrics, "the0_events_total")
    if (storedAt === 0 && (applied.get('the0_events_total{subject="the0.bot.created",outcome="inserted"}') ?? 0) >= n)
      storedAt = Date.now()
  }, 500)
  let peakRss = 0
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 200)
  const complete = yield* waitFor(() => seen.size >= n, 20 * 60_000, listInto(seen))
  const burstMs = Date.now() - burstStart
  clearInterval(sampler)
  clearInterval(counter)
  const cpu = process.cpuUsage(cpuBefore)
  const ops = delta(opsBefore, yield* Effect.promise(storeOps))
  const apiLatency = p99Bound(apiBefore, yield* Effect.promise(mutatingBuckets))
  const own = yield* Effect.promise(() => scrape(controllerMetrics, "the0_"))
  const latencies = [...seen].flatMap(([name, t]) => {
    const p = published.get(name)
    return p === undefined ? [] : [t - p]
  })
  const budget = Math.max(31_000, 1.25 * baselineMs)
  console.log(`store baseline, ${n} upserts: ${baselines.map(([way, ms]) => `${way} ${f(ms)} s`).join(", ")}`)
  console.log(
    `${n} bots published at once → every Pod exists: ${complete ? `${f(burstMs)} s` : `not after ${f(burstMs)} s (${seen.size} Pods)`}   budget ≤ ${f(budget)} s (max(31 s, 1.25 × the store's best))   ${complete && burstMs <= budget ? "ok" : "MISSED"}`
  )
  console.log(
    `every event applied to the store (ingest done, seen within 0.5 s): ${storedAt === 0 ? "not seen" : `${f(storedAt - burstStart)} s`}`
  )
  console.log(`event → Pod created: p50 ${f(percentile(latencies, 50))} s, p99 ${f(percentile(latencies, 99))} s`)
  console.log(
    `API requests by the controller (verb code count): ${[...own]
      .filter(([k]) => k.startsWith("the0_kube_requests_total"))
      .map(
        ([k, v]) =>
          `${k
            .match(/verb="(\w+)",code="(\d+)"/)
            ?.slice(1)
            .join(" ")} ${v}`
      )
      .join(", ")}; throttled ${own.get("the0_kube_throttled_total") ?? 0}`
  )
  console.log(
    `API server's own latency of the ${apiLatency.total} mutating requests during the burst: p99 ≤ ${apiLatency.p99} s   budget ≤ 1 s   ${apiLatency.p99 <= 1 ? "ok" : "MISSED"}`
  )
  console.log(`store operations (FerretDB's count by command): ${byLabel(ops, "command") || "n/a"}`)
  console.log(
    `stages (means): queue wait ${(1000 * mean(own, "the0_workqueue_wait_seconds", 'controller="bot"')).toFixed(0)} ms, reconcile ${(1000 * mean(own, "the0_reconcile_duration_seconds", 'controller="bot"')).toFixed(0)} ms; reconciles ${[
      ...own
    ]
      .filter(([k]) => k.startsWith('the0_reconcile_total{controller="bot"'))
      .map(([k, v]) => `${k.match(/outcome="(\w+)"/)?.[1]} ${v}`)
      .join(", ")}`
  )
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
  // single events under no load: one create at a time, each waited for, on the controller that now runs idle
  const single: Array<number> = []
  for (let i = 0; i < 50; i++) {
    const id = `single${run}-${i}`
    const sent = Date.now()
    yield* Effect.promise(() => js.publish("the0.bot.created", payload(id)))
    yield* waitFor(() => restartSeen.has(`bot-${id}`), 10_000)
    single.push((restartSeen.get(`bot-${id}`) ?? Number.NaN) - sent)
    yield* Effect.sleep("100 millis")
  }
  const [p50, p99] = [percentile(single, 50), percentile(single, 99)]
  console.log(
    `single events under no load (50, one at a time) → Pod created: p50 ${p50} ms, p99 ${p99} ms   budget ≤ 100 / ≤ 250 ms   ${p50 <= 100 && p99 <= 250 ? "ok" : "MISSED"}`
  )
  yield* Scope.close(restartScope, Exit.void)
  yield* Effect.promise(() => nc.close())
})

await Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(LiveKubeApi.layer({ kubeconfig: KUBECONFIG, qps: 100, burst: 200 })))
)
await mongo.close()
process.exit(0)
