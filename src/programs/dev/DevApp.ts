/**
 * `the0-runtime dev`: the controller manager, its health server and the QueryServer exactly as `controller` runs
 * them (programs/controller/App.ts), on the embedded backends the composition root gives (memory BotStore and
 * EventBus, an on-disk ObjectStore, the fake cluster with a kubelet that runs real processes), plus the admin API. On
 * start the bots recorded in the data directory are published again, the demo bots added when asked for, and a
 * summary printed.
 */
import * as path from "node:path"
import { Console, Context, Effect, Layer, type Scope } from "effect"
import { eventsStream } from "../../domain/BotEvent.ts"
import { EventBus } from "../../services/EventBus.ts"
import * as App from "../controller/App.ts"
import * as ControllerSettings from "../controller/ControllerSettings.ts"
import * as EventIngest from "../ingest/EventIngest.ts"
import * as ManifestSettings from "../manifests/ManifestSettings.ts"
import * as QuerySettings from "../query/QuerySettings.ts"
import * as Admin from "./Admin.ts"
import * as AdminServer from "./AdminServer.ts"
import * as AdminToken from "./AdminToken.ts"
import { loadBundle } from "./Bundle.ts"
import { hostPortOf } from "./HostPorts.ts"
import * as Registry from "./Registry.ts"

export interface DevSettings {
  /** Everything `dev` keeps: `bots.json`, `objects/` (the object store), `pods/` (running Pods' volumes). */
  readonly dataDir: string
  readonly namespace: string
  /** Every server binds this (loopback by default). */
  readonly host: string
  readonly queryPort: number
  readonly adminPort: number
  readonly healthPort: number
  /** Add the demo bots from `demoDir` (unless already there). */
  readonly demo: boolean
  readonly demoDir: string
  /** Seconds a stopped bot gets for its final state and log sync. */
  readonly gracePeriodSeconds: number
}

/** Where things are in the data directory. */
export const layout = (dataDir: string) => ({
  registry: path.join(dataDir, "bots.json"),
  objects: path.join(dataDir, "objects"),
  pods: path.join(dataDir, "pods")
})

/** The demo bots: fixed ids so the printed `curl` lines always work. */
export const demoBots = [
  { id: "demo-ticker", dir: "realtime-ticker", config: { symbol: "BTC/USD", base_price: 45000, interval_ms: 1000 } },
  { id: "demo-report", dir: "scheduled-report", config: { schedule: "* * * * *", symbol: "ETH/USD" } }
] as const

export const controllerSettings = (settings: DevSettings): ControllerSettings.ControllerSettings => ({
  ...ControllerSettings.defaults,
  manifest: {
    ...ManifestSettings.defaults,
    namespace: settings.namespace,
    runtimeImage: "the0-runtime:dev",
    minioEndpoint: "dev-object-store.local:9000",
    terminationGracePeriodSeconds: settings.gracePeriodSeconds
  },
  ownedMinioCredentials: { accessKey: "the0-dev", secretKey: "the0-dev-secret" },
  leaderElection: { ...ControllerSettings.defaults.leaderElection, identity: "the0-runtime-dev" }
})

/**
 * The event stream the platform API publishes into, on the in-memory bus: with it, event ingest uses its durable
 * consumer, so events published before it subscribed (the replay at start) are not lost.
 */
const eventStream = Layer.effectDiscard(
  Effect.flatMap(EventBus, (bus) => bus.ensureStream({ name: eventsStream, subjects: EventIngest.subjects }))
)

class Started extends Context.Tag("the0/DevStarted")<Started, Admin.AdminContext>() {}

/** Everything `dev` runs, on `backends`; the admin context once up. */
export const layer = (settings: DevSettings, backends: App.Backends) => {
  const controller = controllerSettings(settings)
  const running = App.layer({
    settings: controller,
    query: {
      ...QuerySettings.defaults,
      port: settings.queryPort,
      host: settings.host,
      checkHost: true,
      manifest: controller.manifest
    },
    healthPort: settings.healthPort,
    healthHost: settings.host,
    portOf: hostPortOf
  })
  const admin = Layer.unwrapEffect(
    Effect.gen(function* () {
      const ctx = yield* Started
      const token = yield* AdminToken.create(settings.dataDir)
      return AdminServer.layer(ctx, { host: settings.host, port: settings.adminPort, token })
    })
  )
  const context = Layer.effect(
    Started,
    Effect.map(Registry.make(layout(settings.dataDir).registry), (registry) => ({
      registry,
      namespace: settings.namespace,
      manifest: controller.manifest
    }))
  )
  return Layer.mergeAll(running, admin).pipe(
    Layer.provideMerge(context),
    Layer.provideMerge(Layer.provideMerge(eventStream, backends))
  )
}

/** Publishes the recorded bots again and adds the demo bots when asked for and not there yet. */
export const start = (settings: DevSettings) =>
  Effect.gen(function* () {
    const ctx = yield* Started
    yield* Admin.replay(ctx)
    if (settings.demo) {
      for (const demo of demoBots) {
        if ((yield* ctx.registry.get(demo.id)) !== undefined) continue
        const dir = path.join(settings.demoDir, demo.dir)
        const bundle = yield* loadBundle(dir)
        yield* Admin.add(ctx, { bundle, label: dir, config: demo.config, id: demo.id })
      }
    }
    return ctx
  })

const pad = (text: string, width: number) => text.padEnd(width)

/** The startup summary: where everything is, what runs, what to try. */
export const summary = (settings: DevSettings, bots: ReadonlyArray<Admin.BotView>): string => {
  const host = settings.host === "0.0.0.0" ? "127.0.0.1" : settings.host
  const query = `http://${host}:${settings.queryPort}`
  const admin = `http://${host}:${settings.adminPort}`
  const lines = [
    "",
    "the0-runtime dev is running (Ctrl-C stops it; bots get their final state and log sync first)",
    "",
    `  QueryServer  ${query}  (POST /query, GET /health, as the0's :9477)`,
    `  Admin API    ${admin}  (GET /bots, POST /bots, ... ; or \`the0-runtime dev list|add|...\`)`,
    `  Health       http://${host}:${settings.healthPort}/readyz  (/healthz, /metrics)`,
    `  Data         ${path.resolve(settings.dataDir)}  (bots.json, objects/ = state, logs, code; pods/; admin-token)`,
    ""
  ]
  if (bots.length === 0)
    lines.push(
      "  No bots yet. Add one:",
      '    ./bin/the0-runtime dev add ./my-bot --config \'{"symbol":"BTC/USD"}\'',
      ""
    )
  else {
    lines.push(`  Bots (${bots.length}):`)
    for (const bot of bots)
      lines.push(
        `    ${pad(bot.id, 24)} ${pad(bot.kind, 10)} ${bot.enabled ? "" : "disabled, "}` +
          `${bot.schedule === undefined ? "" : `schedule "${bot.schedule}", `}${bot.hasQuery ? "with queries" : "no queries"}`
      )
    lines.push("")
  }
  lines.push("Try:", "  ./bin/the0-runtime dev list")
  const queryable = bots.filter((b) => b.hasQuery && b.enabled)
  for (const bot of queryable.slice(0, 2))
    lines.push(
      `  curl -s ${query}/query -d '{"bot_id":"${bot.id}","query_path":"/status"}'` +
        (bot.kind === "scheduled" ? "   # a one-shot query Job: a few seconds" : "")
    )
  const first = bots[0]
  // the admin API wants its token (and JSON bodies declared as such)
  const curl = `curl -s -H "Authorization: Bearer $(cat ${AdminToken.tokenFile(path.resolve(settings.dataDir))})"`
  if (first !== undefined)
    lines.push(
      `  ./bin/the0-runtime dev logs ${first.id} --follow`,
      `  ${curl} ${admin}/bots/${first.id}`,
      `  ${curl} -H 'Content-Type: application/json' -X PUT ${admin}/bots/${first.id}/config -d '${JSON.stringify({ config: first.config })}'`,
      `  ${curl} -X POST ${admin}/bots/${first.id}/disable`
    )
  else lines.push(`  ${curl} ${admin}/bots`)
  lines.push("")
  return lines.join("\n")
}

/** Starts everything, prints the summary, and runs until interrupted. */
export const run = (settings: DevSettings, backends: App.Backends): Effect.Effect<never, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(layer(settings, backends))
    const ctx = yield* Effect.provide(start(settings), context)
    const bots = yield* Effect.provide(Admin.list(ctx), context)
    yield* Console.log(summary(settings, bots))
    return yield* Effect.never
  })
