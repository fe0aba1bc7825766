/**
 * QueryServer realtime proxy (DESIGN §7): overhead p99 at 1,000 req/s (open loop) and throughput (closed loop),
 * against a trivial query server on loopback that answers like the0's SDK. Three threads: the QueryServer (this
 * one, with the memory BotStore and cluster), the trivial bot server and the load generator (two workers), so the
 * figures include sharing the machine's cores with both.
 *
 *   npx tsx bench/query/realtime-proxy.ts [seconds per phase] [concurrency]
 */
import { createServer } from "node:http"
import os from "node:os"
import { Worker } from "node:worker_threads"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { Label, ManagedBy } from "../../src/domain/Labels.ts"
import * as MemoryBotStore from "../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryKubeApi from "../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryObjectStore from "../../src/layers/memory/MemoryObjectStore.ts"
import * as Informer from "../../src/programs/controller/Informer.ts"
import { Metrics } from "../../src/programs/Metrics.ts"
import { botPod } from "../../src/programs/manifests/BotPod.ts"
import * as QueryServer from "../../src/programs/query/QueryServer.ts"
import * as QuerySettings from "../../src/programs/query/QuerySettings.ts"
import { BotStore } from "../../src/services/BotStore.ts"

const seconds = Number(process.argv[2] ?? 5)
const concurrency = Number(process.argv[3] ?? 64)
const ns = "the0"

const botServerCode = `
const { createServer } = require("node:http")
const { parentPort } = require("node:worker_threads")
const body = JSON.stringify({ status: "ok", data: { price: 100.5, volume: 1000 } })
const s = createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    res.setHeader("content-type", "application/json")
    res.end(body)
  })
})
s.keepAliveTimeout = 60000
s.listen(0, "127.0.0.1", () => parentPort.postMessage(s.address().port))
`

const loadCode = `
const http = require("node:http")
const { parentPort, workerData } = require("node:worker_threads")
const { url, body, mode, rate, seconds, concurrency } = workerData
const agent = new http.Agent({ keepAlive: true, noDelay: true, maxSockets: mode === "open" ? 256 : concurrency })
const target = new URL(url)
const latencies = []
let errors = 0
const once = () => new Promise((resolve) => {
  const start = process.hrtime.bigint()
  const req = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: "POST", agent,
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
    res.resume()
    res.on("end", () => {
      if (res.statusCode !== 200) errors++
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6)
      resolve()
    })
  })
  req.on("error", () => { errors++; resolve() })
  req.on("socket", (s) => s.setNoDelay(true))
  req.end(body)
})
const done = () => {
  agent.destroy()
  parentPort.postMessage({ latencies, errors })
}
if (mode === "open") {
  const total = rate * seconds
  let sent = 0
  const inflight = []
  const t0 = process.hrtime.bigint()
  const tick = () => {
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
    const due = Math.min(total, Math.floor(elapsed * rate))
    while (sent < due) { sent++; inflight.push(once()) }
    if (sent < total) setImmediate(tick)
    else Promise.all(inflight).then(done)
  }
  tick()
} else {
  const end = Date.now() + seconds * 1000
  const loop = async () => { while (Date.now() < end) await once() }
  Promise.all(Array.from({ length: concurrency }, loop)).then(done)
}
`

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN

interface LoadResult {
  readonly latencies: ReadonlyArray<number>
  readonly errors: number
}

const load = (url: string, body: string, mode: "open" | "closed", rate = 1000): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(loadCode, { eval: true, workerData: { url, body, mode, rate, seconds, concurrency } })
    worker.once("message", (m: LoadResult) => {
      void worker.terminate()
      resolve(m)
    })
    worker.once("error", reject)
  })

const botServer = (): Promise<{ port: number; worker: Worker }> =>
  new Promise((resolve) => {
    const worker = new Worker(botServerCode, { eval: true })
    worker.once("message", (port: number) => resolve({ port, worker }))
  })

const doc = {
  config: { symbol: "BTC/USD" },
  custom: {
    version: "1.0.0",
    filePath: "user-1/bench-bot/v1.0.0.zip",
    config: { name: "bench", runtime: "python3.11", entrypoints: { bot: "main.py", query: "query.py" } }
  }
}

const settings: QuerySettings.QuerySettings = { ...QuerySettings.defaults, port: 0, host: "127.0.0.1" }

const world = Layer.mergeAll(MemoryKubeApi.layer(), MemoryBotStore.layer, MemoryObjectStore.layer, Metrics.layer)

const fmt = (n: number) => n.toFixed(3)

const run = (botPort: number) =>
  Effect.gen(function* () {
    const store = yield* BotStore
    yield* store.bots.upsert("bench-bot", doc)
    const cluster = yield* MemoryCluster
    const pod = botPod(settings.manifest, { id: "bench-bot", ...doc })
    if (pod._tag === "Left") return yield* Effect.die(pod.left)
    const created = yield* cluster.direct.create("Pod", ns, {
      ...pod.right,
      spec: {
        ...pod.right.spec,
        containers: pod.right.spec.containers.map((c) =>
          c.name === "query-server" ? { ...c, ports: [{ name: "query", containerPort: botPort }] } : c
        )
      }
    })
    yield* cluster.direct.patchStatus("Pod", ns, created.metadata.name, {
      phase: "Running",
      podIP: "127.0.0.1",
      containerStatuses: created.spec.containers.map((c) => ({ name: c.name, ready: true, restartCount: 0 }))
    })
    const botPods = yield* Informer.make("Pod", {
      namespace: ns,
      labelSelector: `${Label.managedBy}=${ManagedBy.botController}`,
      indexLabels: [Label.botId]
    })
    yield* botPods.synced
    const server = yield* QueryServer.make({ settings, botPods })
    const context = yield* Layer.build(
      NodeHttpServer.layer(() => QueryServer.nodeServer(settings), { port: 0, host: "127.0.0.1" })
    )
    yield* QueryServer.serve(server.app).pipe(Effect.provide(context))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const body = JSON.stringify({ bot_id: "bench-bot", query_path: "/price", params: { symbol: "BTC" } })
    const direct = `http://127.0.0.1:${botPort}/price?symbol=BTC`
    const proxied = `http://127.0.0.1:${port}/query`
    // warm-up
    yield* Effect.promise(() => load(proxied, body, "open", 500))
    const base = yield* Effect.promise(() => load(direct, '{"symbol":"BTC"}', "open"))
    const via = yield* Effect.promise(() => load(proxied, body, "open"))
    const baseSorted = [...base.latencies].sort((a, b) => a - b)
    const viaSorted = [...via.latencies].sort((a, b) => a - b)
    const overheadP50 = quantile(viaSorted, 0.5) - quantile(baseSorted, 0.5)
    const overheadP99 = quantile(viaSorted, 0.99) - quantile(baseSorted, 0.99)
    const cpu0 = process.cpuUsage()
    const closed = yield* Effect.promise(() => load(proxied, body, "closed"))
    const cpu = process.cpuUsage(cpu0)
    const rps = closed.latencies.length / seconds
    const cpuPerRequestUs = (cpu.user + cpu.system) / closed.latencies.length
    console.log(
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`
    )
    console.log(
      `direct to bot @1000/s: p50 ${fmt(quantile(baseSorted, 0.5))} ms, p99 ${fmt(quantile(baseSorted, 0.99))} ms (${base.errors} errors)`
    )
    console.log(
      `via QueryServer @1000/s: p50 ${fmt(quantile(viaSorted, 0.5))} ms, p99 ${fmt(quantile(viaSorted, 0.99))} ms (${via.errors} errors)`
    )
    console.log(
      `proxy overhead @1000/s: p50 ${fmt(overheadP50)} ms, p99 ${fmt(overheadP99)} ms   [goal: p99 <= 2 ms] ${overheadP99 <= 2 ? "OK" : "MISSED"}`
    )
    console.log(
      `throughput, ${concurrency} concurrent: ${rps.toFixed(0)} req/s, ${closed.errors} errors, process ${cpuPerRequestUs.toFixed(0)} µs CPU/request (all three threads)   [goal: >= 5000 req/s on 2 cores] ${rps >= 5000 ? "OK" : "MISSED"}`
    )
  }).pipe(Effect.scoped, Effect.provide(world))

const main = async () => {
  console.log(
    `# QueryServer realtime proxy: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}, ${seconds} s per phase`
  )
  const bot = await botServer()
  await Effect.runPromise(run(bot.port))
  await bot.worker.terminate()
  const s = createServer()
  s.close()
}

void main()
