/**
 * The heap a Bot Controller holds at rest with 10,000 converged bots, on the memory layers (BENCHMARKS.md, "The
 * controller at rest on the testbed"): every Pod created, one more full resync, then the heap freed when the
 * controller's scope closes (the fake cluster and the store stay). Also the CPU of a resync of unchanged documents.
 *
 *   node --expose-gc --import tsx bench/desired-cache-memory.ts [bots]
 */
import { Effect, Exit, Layer, Scope } from "effect"
import * as MemoryBotStore from "../src/layers/memory/MemoryBotStore.ts"
import * as MemoryKubeApi from "../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../src/layers/memory/MemoryKubeApi.ts"
import * as Controller from "../src/programs/controller/Controller.ts"
import { botPods } from "../src/programs/controller/OwnedKinds.ts"
import { Metrics } from "../src/programs/Metrics.ts"
import { BotStore } from "../src/services/BotStore.ts"
import { KubeApi } from "../src/services/KubeApi.ts"
import { doc, id, ns, settings } from "./MemoryParts.ts"

const bots = Number(process.argv[2] ?? 10_000)
/** The RSS budget at 10,000 bots (BENCHMARKS.md): the heap the controller holds is part of it. */
const budgetMiB = 200

const heapMiB = () => {
  global.gc?.()
  return process.memoryUsage().heapUsed / 1024 / 1024
}

const cpuMillis = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/** Runs a controller in `scope` until every bot's Pod exists, then resyncs; returns the resync's CPU (min of 3). */
const converged = (scope: Scope.Scope) =>
  Effect.gen(function* () {
    const cluster = yield* MemoryCluster
    const controller = yield* Controller.make(botPods, settings).pipe(Scope.extend(scope))
    yield* controller.run.pipe(Scope.extend(scope))
    while ((yield* cluster.direct.list("Pod", ns)).items.length < bots || (yield* controller.queueDepth) > 0)
      yield* Effect.sleep("20 millis")
    const samples: Array<number> = []
    for (let r = 0; r < 3; r++) {
      const before = cpuMillis()
      yield* controller.resync
      samples.push(cpuMillis() - before)
    }
    return Math.min(...samples)
  })

const program = Effect.gen(function* () {
  const store = yield* BotStore
  for (let i = 0; i < bots; i++) yield* store.bots.upsert(id(i), doc(id(i)))
  const scope = yield* Scope.make()
  const resyncCpu = yield* converged(scope)
  const withController = heapMiB()
  yield* Scope.close(scope, Exit.void)
  const held = withController - heapMiB()
  console.log(
    `heap used with ${bots} converged bots, the fake cluster and store included: ${withController.toFixed(1)} MiB`
  )
  console.log(
    `heap held by the controller at rest (freed when it stops): ${held.toFixed(1)} MiB ` +
      `(part of the RSS budget of ${budgetMiB} MiB at 10,000 bots)` +
      (global.gc ? "" : " (run with --expose-gc for precise figures)")
  )
  console.log(`resync of ${bots} unchanged bots: ${resyncCpu.toFixed(0)} ms CPU (min of 3)`)
})

/**
 * The memory cluster stores the very object the controller sends; a real API server does not. Each write is sent a
 * copy, so what the controller keeps of an object it built is not counted as the cluster's.
 */
const copyingKubeApi = Layer.effect(
  KubeApi,
  Effect.map(KubeApi, (api) => ({
    ...api,
    create: (kind, namespace, object) => api.create(kind, namespace, structuredClone(object)),
    update: (kind, namespace, object) => api.update(kind, namespace, structuredClone(object))
  }))
).pipe(Layer.provideMerge(MemoryKubeApi.layer({ historyLimit: 50_000 })))

Effect.runPromise(
  program.pipe(Effect.provide(Layer.mergeAll(copyingKubeApi, MemoryBotStore.layer, Metrics.layer)))
).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
