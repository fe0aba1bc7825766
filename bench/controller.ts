/**
 * Controller benchmarks on the memory layers (BENCHMARKS.md, "Controller"): event → create latency, full-resync CPU
 * with 10,000 unchanged bots (and the API calls it makes), controller CPU per create on a cold start of
 * 10,000 bots, and the RSS with 10,000 bots. The fake API server runs in the same process, so its CPU is
 * counted too: the figures are upper bounds for the controller alone.
 *
 *   node --expose-gc --import tsx bench/controller.ts [bots]
 */
import { Effect, Exit, Scope, Stream } from "effect"
import { Subject } from "../src/domain/BotEvent.ts"
import { MemoryEventBusControl } from "../src/layers/memory/MemoryEventBus.ts"
import { MemoryCluster } from "../src/layers/memory/MemoryKubeApi.ts"
import * as Manager from "../src/programs/controller/Manager.ts"
import { BotStore } from "../src/services/BotStore.ts"
import { doc, id, ns, settings, world } from "./MemoryParts.ts"

const bots = Number(process.argv[2] ?? 10_000)

const cpuMillis = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

const report = (what: string, value: string, goal: string, ok: boolean) =>
  console.log(`${ok ? "MET " : "MISS"}  ${what.padEnd(46)} ${value.padEnd(22)} goal ${goal}`)

const podCount = Effect.flatMap(MemoryCluster, (c) => c.direct.list("Pod", ns)).pipe(Effect.map((l) => l.items.length))

const waitFor = (check: Effect.Effect<boolean, unknown, MemoryCluster>) =>
  Effect.gen(function* () {
    while (!(yield* check)) yield* Effect.sleep("5 millis")
  })

/** Heap in use after a full collection (run with --expose-gc for a precise figure). */
const heapMiB = () => {
  global.gc?.()
  return process.memoryUsage().heapUsed / 1024 / 1024
}

const program = Effect.gen(function* () {
  global.gc?.()
  const idleRss = process.memoryUsage().rss / 1024 / 1024
  const store = yield* BotStore
  const cluster = yield* MemoryCluster
  const peer = yield* MemoryEventBusControl

  // Cold start: every document in the store, an empty cluster.
  for (let i = 0; i < bots; i++) yield* store.bots.upsert(id(i), doc(id(i)))
  const coldCpu = cpuMillis()
  const coldWall = Date.now()
  const managerScope = yield* Scope.make()
  const manager = yield* Manager.make(settings).pipe(Scope.extend(managerScope))
  yield* waitFor(Effect.map(podCount, (n) => n === bots))
  const coldCpuPerCreate = (cpuMillis() - coldCpu) / bots
  const coldSeconds = (Date.now() - coldWall) / 1000
  report(
    `cold start, ${bots} bots: CPU per create`,
    `${coldCpuPerCreate.toFixed(3)} ms`,
    "≤ 0.5 ms",
    coldCpuPerCreate <= 0.5
  )
  console.log(`      (${bots} creates in ${coldSeconds.toFixed(1)} s wall, no API rate limit in the memory layer)`)

  // Full resync with nothing changed.
  yield* cluster.resetCallCounts
  const samples: Array<number> = []
  for (let r = 0; r < 5; r++) {
    const before = cpuMillis()
    yield* manager.bots.resync
    yield* waitFor(Effect.map(manager.bots.queueDepth, (d) => d === 0))
    samples.push(cpuMillis() - before)
  }
  const calls = yield* cluster.callCounts
  const apiCalls = Object.values(calls).reduce((a, b) => a + b, 0)
  const resyncCpu = Math.min(...samples)
  report(
    `full resync, ${bots} unchanged bots: CPU`,
    `${resyncCpu.toFixed(1)} ms (min of 5)`,
    "≤ 150 ms",
    resyncCpu <= 150
  )
  report("full resync: API reads and writes", `${apiCalls}`, "0", apiCalls === 0)

  // Event → create request: the create is seen on a watch of the fake API server.
  const created = new Map<string, number>()
  yield* cluster.direct
    .watch("Pod", ns, { resourceVersion: String((yield* cluster.direct.list("Pod", ns)).resourceVersion) })
    .pipe(
      Stream.runForEach((e) =>
        Effect.sync(() => {
          if (e.type === "ADDED") created.set(e.object.metadata.name, performance.now())
        })
      ),
      Effect.forkScoped
    )
  const latencies: Array<number> = []
  for (let i = 0; i < 500; i++) {
    const key = `ev${i}`
    const body = new TextEncoder().encode(JSON.stringify({ id: key, ...doc(key) }))
    const sent = performance.now()
    yield* peer.publishAsPeer(Subject.botCreated, body)
    yield* waitFor(Effect.sync(() => created.has(`bot-${key}`)))
    latencies.push((created.get(`bot-${key}`) ?? sent) - sent)
    yield* Effect.sleep("2 millis")
  }
  latencies.sort((a, b) => a - b)
  report("NATS event → Pod create sent: p50", `${percentile(latencies, 50).toFixed(2)} ms`, "", true)
  report(
    "NATS event → Pod create sent: p99",
    `${percentile(latencies, 99).toFixed(2)} ms`,
    "p99 ≤ 50 ms",
    percentile(latencies, 99) <= 50
  )

  global.gc?.()
  const rss = process.memoryUsage().rss / 1024 / 1024
  console.log(`      RSS with ${bots + 500} bots, the fake cluster and store included: ${rss.toFixed(0)} MiB`)
  // The controller's own share: the heap freed when the manager stops (the fake cluster and store stay), on top of
  // an idle process of the same modules. A lower bound: the memory cluster hands the informers the very objects it
  // stores, where a real API server's watch gives the controller copies of its own.
  const withManager = heapMiB()
  yield* Scope.close(managerScope, Exit.void)
  const held = withManager - heapMiB()
  console.log(
    `      controller's own share, ${bots + 500} bots: ≥ ${(idleRss + held).toFixed(0)} MiB (lower bound; goal ≤ 200 MiB): ` +
      `idle process ${idleRss.toFixed(0)} MiB + heap held by the manager ${held.toFixed(0)} MiB` +
      (global.gc ? "" : " (run with --expose-gc for precise figures)")
  )
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(world))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
