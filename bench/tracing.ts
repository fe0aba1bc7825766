/**
 * What tracing costs (BENCHMARKS.md, "Tracing"; docs/operations.md, "Tracing"), in one process on the memory layers,
 * with tracing off (no `OTEL_EXPORTER_OTLP_ENDPOINT`: `Tracing.layerOff`) and on (`Tracing.layerOtlp`, exporting to an
 * OTLP receiver on 127.0.0.1 that reads and drops what it gets), each mode run `rounds` times in turn:
 *
 * - the per-event path: a burst of `events` the0.bot.created events through ingest, the store, the work queue and the
 *   reconcile to the Pod create in the fake API server; CPU per event and the wall time of the burst;
 * - the realtime query path: our QueryServer's Node listener (the callback fast path when off, the effect path with
 *   its spans when on) proxying to a bot query server in this process, a closed loop at `concurrency` for
 *   `seconds`; queries per second, p50/p99 and CPU per query.
 *
 * - one span alone: `spans` nested pairs of `Effect.withSpan` around nothing, CPU per span, less the same loop
 *   without spans.
 *
 * The fake API server, the bot server and the load generator run in this process, so CPU figures include them: read
 * the difference between off and on, not the absolute values. The first round warms the JIT up and is not printed.
 *
 *   npx tsx bench/tracing.ts [--events 2000] [--seconds 5] [--concurrency 32] [--rounds 2]
 */
import { Agent, createServer, request, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import os from "node:os"
import { Effect, Layer, Logger, LogLevel, type Scope } from "effect"
import { Subject } from "../src/domain/BotEvent.ts"
import { Label, ManagedBy } from "../src/domain/Labels.ts"
import * as MemoryBotStore from "../src/layers/memory/MemoryBotStore.ts"
import { MemoryEventBusControl } from "../src/layers/memory/MemoryEventBus.ts"
import * as MemoryKubeApi from "../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryObjectStore from "../src/layers/memory/MemoryObjectStore.ts"
import * as Informer from "../src/programs/controller/Informer.ts"
import * as Manager from "../src/programs/controller/Manager.ts"
import { Metrics } from "../src/programs/Metrics.ts"
import { botPod } from "../src/programs/manifests/BotPod.ts"
import * as QueryServer from "../src/programs/query/QueryServer.ts"
import * as QuerySettings from "../src/programs/query/QuerySettings.ts"
import * as Tracing from "../src/programs/Tracing.ts"
import { BotStore } from "../src/services/BotStore.ts"
import { world as controllerWorld, doc, ns, settings } from "./MemoryParts.ts"

const argv = process.argv.slice(2)
const flag = (name: string, fallback: string): number => {
  const at = argv.indexOf(`--${name}`)
  return Number(at === -1 ? fallback : (argv[at + 1] ?? fallback))
}
const events = flag("events", "2000")
const seconds = flag("seconds", "5")
const concurrency = flag("concurrency", "32")
const rounds = flag("rounds", "2")
const spans = flag("spans", "200000")

const cpuMillis = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

const listening = (handler: Parameters<typeof createServer>[1]): Effect.Effect<number, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.async<Server>((resume) => {
        const s = createServer(handler)
        s.keepAliveTimeout = 60_000
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    ),
    (s) => (s.address() as AddressInfo).port
  )

/** An OTLP receiver that reads each export and answers 200; counts spans' bytes. */
const sink = Effect.gen(function* () {
  const received = { requests: 0, bytes: 0 }
  const port = yield* listening((req, res) => {
    req.on("data", (c: Buffer) => {
      received.bytes += c.length
    })
    req.on("end", () => {
      received.requests++
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{}")
    })
  })
  return { endpoint: `http://127.0.0.1:${port}`, received }
})

type Mode = "off" | "on"

const tracingFor = (mode: Mode, endpoint: string) =>
  mode === "off" ? Tracing.layerOff : Tracing.layerOtlp({ url: Tracing.tracesUrl(endpoint), serviceName: "bench" })

/** A burst of `events` creations until every Pod is there: CPU per event and wall seconds. */
const eventBurst = (mode: Mode, endpoint: string, round: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      yield* Manager.make(settings)
      const cluster = yield* MemoryCluster
      const peer = yield* MemoryEventBusControl
      yield* Effect.sleep("200 millis")
      const cpu = cpuMillis()
      const wall = performance.now()
      for (let i = 0; i < events; i++) {
        const id = `r${round}-${mode}-${i}`
        yield* peer.publishAsPeer(Subject.botCreated, new TextEncoder().encode(JSON.stringify({ id, ...doc(id) })))
      }
      for (;;) {
        const pods = yield* cluster.direct.list("Pod", ns)
        if (pods.items.length >= events) break
        yield* Effect.sleep("5 millis")
      }
      return { cpuPerEvent: (cpuMillis() - cpu) / events, seconds: (performance.now() - wall) / 1000 }
    }).pipe(Effect.provide(tracingFor(mode, endpoint)))
  ).pipe(Effect.provide(controllerWorld))

const queryWorld = Layer.mergeAll(MemoryKubeApi.layer(), MemoryBotStore.layer, MemoryObjectStore.layer, Metrics.layer)

const querySettings: QuerySettings.QuerySettings = { ...QuerySettings.defaults, port: 0, host: "127.0.0.1" }

/** One realtime bot whose query container is a server in this process. */
const seedRealtimeBot = (botPort: number) =>
  Effect.gen(function* () {
    const store = yield* BotStore
    const cluster = yield* MemoryCluster
    yield* store.bots.upsert("bench-bot", doc("bench-bot"))
    const pod = botPod(querySettings.manifest, { id: "bench-bot", ...doc("bench-bot") })
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
  })

const body = JSON.stringify({ bot_id: "bench-bot", query_path: "/balance" })

/** A closed loop of `concurrency` clients for `seconds`: queries per second, p50/p99 ms, CPU ms per query. */
const queryLoop = (mode: Mode, endpoint: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const botPort = yield* listening((req, res) => {
        req.resume()
        req.on("end", () => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end('{"status":"ok","data":{"usd":42}}')
        })
      })
      yield* seedRealtimeBot(botPort)
      const botPods = yield* Informer.make("Pod", {
        namespace: ns,
        labelSelector: `${Label.managedBy}=${ManagedBy.botController}`,
        indexLabels: [Label.botId]
      })
      yield* botPods.synced
      const server = yield* QueryServer.make({ settings: querySettings, botPods })
      const port = yield* listening(server.listener(() => undefined))
      const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
      const one = () =>
        new Promise<number>((resolve, reject) => {
          const start = performance.now()
          const req = request(
            {
              host: "127.0.0.1",
              port,
              path: "/query",
              method: "POST",
              agent,
              headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
            },
            (res) => {
              res.resume()
              res.on("end", () =>
                res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`${res.statusCode}`))
              )
            }
          )
          req.on("error", reject)
          req.end(body)
        })
      return yield* Effect.promise(async () => {
        for (let i = 0; i < 500; i++) await one()
        const latencies: Array<number> = []
        const cpu = cpuMillis()
        const until = performance.now() + seconds * 1000
        const client = async () => {
          while (performance.now() < until) latencies.push(await one())
        }
        await Promise.all(Array.from({ length: concurrency }, client))
        const used = cpuMillis() - cpu
        agent.destroy()
        latencies.sort((a, b) => a - b)
        return {
          qps: latencies.length / seconds,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          cpuPerQuery: used / latencies.length
        }
      })
    }).pipe(Effect.provide(tracingFor(mode, endpoint)))
  ).pipe(Effect.provide(queryWorld))

/** CPU µs per span: `spans` spans, each a child of another, around nothing. */
const spanCost = (mode: Mode, endpoint: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pair = Effect.void.pipe(Tracing.span("child"), Tracing.span("parent", { attributes: { key: "k" } }))
      const bare = Effect.void.pipe(Effect.asVoid, Effect.asVoid)
      const before = cpuMillis()
      for (let i = 0; i < spans / 2; i++) yield* bare
      const cpu = cpuMillis()
      for (let i = 0; i < spans / 2; i++) yield* pair
      return ((cpuMillis() - cpu - (cpu - before)) * 1000) / spans
    }).pipe(Effect.provide(tracingFor(mode, endpoint)))
  )

const program = Effect.gen(function* () {
  const { endpoint, received } = yield* sink
  console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load average ${os.loadavg()[0]?.toFixed(1)}`)
  console.log(`per-event path: bursts of ${events} the0.bot.created events → Pod create (memory layers)`)
  for (let round = 0; round <= rounds; round++)
    for (const mode of ["off", "on"] as const) {
      const r = yield* eventBurst(mode, endpoint, round)
      if (round > 0)
        console.log(
          `  tracing ${mode.padEnd(3)}  CPU per event ${r.cpuPerEvent.toFixed(3)} ms   burst ${r.seconds.toFixed(2)} s`
        )
    }
  console.log(`realtime query path: closed loop, ${concurrency} clients, ${seconds} s`)
  for (let round = 0; round <= rounds; round++)
    for (const mode of ["off", "on"] as const) {
      const r = yield* queryLoop(mode, endpoint)
      if (round > 0)
        console.log(
          `  tracing ${mode.padEnd(3)}  ${r.qps.toFixed(0).padStart(6)} queries/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   CPU per query ${(r.cpuPerQuery * 1000).toFixed(0)} µs`
        )
    }
  console.log(`one span: ${spans} spans in parent/child pairs`)
  for (let round = 0; round <= rounds; round++)
    for (const mode of ["off", "on"] as const) {
      const micros = yield* spanCost(mode, endpoint)
      if (round > 0) console.log(`  tracing ${mode.padEnd(3)}  ${micros.toFixed(2)} µs CPU per span`)
    }
  console.log(`OTLP receiver: ${received.requests} exports, ${(received.bytes / 1024 / 1024).toFixed(1)} MiB`)
})

Effect.runPromise(Effect.scoped(program).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
