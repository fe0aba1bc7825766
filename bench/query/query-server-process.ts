/**
 * The QueryServer as its own process, for bench/query/realtime-proxy.ts: what `controller` serves on :9477 (the
 * same `QueryServer.layer`), on the memory BotStore and cluster, with `bots` bot documents and as many Running bot
 * Pods in the informer's cache, every Pod's query container at `127.0.0.1:<bot port>`. Prints what resolving a bot
 * costs, in µs, from the Pod cache (what a realtime query does) and from the store (what a query without a ready Pod
 * does), as `resolution <Pod cache> <store>`, then `listening <port>` once it answers.
 *
 *   npx tsx bench/query/query-server-process.ts <bot port> <bots> <port>
 */
import { Effect, Layer, Option } from "effect"
import { Label, ManagedBy } from "../../src/domain/Labels.ts"
import * as MemoryBotStore from "../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryKubeApi from "../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryObjectStore from "../../src/layers/memory/MemoryObjectStore.ts"
import * as Informer from "../../src/programs/controller/Informer.ts"
import { Metrics } from "../../src/programs/Metrics.ts"
import { botPod } from "../../src/programs/manifests/BotPod.ts"
import * as BotResolver from "../../src/programs/query/BotResolver.ts"
import * as QueryServer from "../../src/programs/query/QueryServer.ts"
import * as QuerySettings from "../../src/programs/query/QuerySettings.ts"
import { BotStore } from "../../src/services/BotStore.ts"

const botPort = Number(process.argv[2])
const bots = Number(process.argv[3] ?? 10)
const port = Number(process.argv[4])
const ns = "the0"

/** The id of the i-th bench bot, as the harness names them. */
const benchBotId = (i: number): string => `bench-bot-${i}`

const doc = {
  config: { symbol: "BTC/USD" },
  custom: {
    version: "1.0.0",
    filePath: "user-1/bench-bot/v1.0.0.zip",
    config: { name: "bench", runtime: "python3.11", entrypoints: { bot: "main.py", query: "query.py" } }
  }
}

const settings: QuerySettings.QuerySettings = { ...QuerySettings.defaults, port, host: "127.0.0.1" }

const seed = Effect.gen(function* () {
  const store = yield* BotStore
  const cluster = yield* MemoryCluster
  for (let i = 0; i < bots; i++) {
    const id = benchBotId(i)
    yield* store.bots.upsert(id, doc)
    const pod = botPod(settings.manifest, { id, ...doc })
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
  }
})

const world = Layer.mergeAll(MemoryKubeApi.layer(), MemoryBotStore.layer, MemoryObjectStore.layer, Metrics.layer)

const main = Effect.gen(function* () {
  yield* seed
  const botPods = yield* Informer.make("Pod", {
    namespace: ns,
    labelSelector: `${Label.managedBy}=${ManagedBy.botController}`,
    indexLabels: [Label.botId]
  })
  yield* botPods.synced
  const lookups = 20_000
  const ids = Array.from({ length: lookups }, (_, i) => benchBotId((i * 7919) % bots))
  let begun = performance.now()
  for (const id of ids) if (Option.isNone(BotResolver.realtimeEndpoint(botPods, id))) return yield* Effect.die(id)
  const podCache = ((performance.now() - begun) * 1000) / lookups
  const store = yield* BotStore
  begun = performance.now()
  for (const id of ids) yield* Effect.orDie(BotResolver.resolve(store, id))
  const storeRead = ((performance.now() - begun) * 1000) / lookups
  yield* Effect.sync(() => console.log(`resolution ${podCache.toFixed(2)} ${storeRead.toFixed(2)}`))
  const served = yield* Layer.build(QueryServer.layer({ settings, botPods }))
  yield* Effect.sync(() => console.log(`listening ${port}`))
  yield* Effect.never
  return served
}).pipe(Effect.scoped, Effect.provide(world))

// an orderly exit, so that `--cpu-prof` writes its profile
process.once("SIGTERM", () => process.exit(0))
Effect.runFork(main)
