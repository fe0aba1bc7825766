/**
 * The world a QueryServer test runs in: the fake cluster with a simulated kubelet and Job controller, the memory
 * BotStore and ObjectStore, metrics, the bot controller's Pod informer, the QueryServer served on loopback, and
 * helpers that play the bot side (a query container answering like the0's SDK, query-Job Pods that upload a
 * result and exit).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Schedule, type Scope, Stream } from "effect"
import type { Bot } from "../../../src/domain/Bot.ts"
import { Bucket } from "../../../src/domain/Buckets.ts"
import type { Pod } from "../../../src/domain/Kube.ts"
import { Label, ManagedBy } from "../../../src/domain/Labels.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryJobController from "../../../src/layers/memory/MemoryJobController.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryKubelet from "../../../src/layers/memory/MemoryKubelet.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import * as MemoryObjectStore from "../../../src/layers/memory/MemoryObjectStore.ts"
import * as Informer from "../../../src/programs/controller/Informer.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { botPod } from "../../../src/programs/manifests/BotPod.ts"
import * as QueryServer from "../../../src/programs/query/QueryServer.ts"
import * as QuerySettings from "../../../src/programs/query/QuerySettings.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { ObjectStore } from "../../../src/services/ObjectStore.ts"

export const ns = "the0"

export const settings: QuerySettings.QuerySettings = {
  ...QuerySettings.defaults,
  port: 0,
  host: "127.0.0.1",
  manifest: { ...QuerySettings.defaults.manifest, runtimeImage: "runtime:test" }
}

/** The memory world: cluster, kubelet (runs Pods, finishes terminations), Job controller, stores, metrics. */
export const world = Layer.mergeAll(
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

export const bot = (id: string, entrypoints: Record<string, string> = { bot: "main.py", query: "query.py" }): Bot => ({
  id,
  config: { symbol: "BTC/USD" },
  custom: {
    version: "1.0.0",
    filePath: `user-1/${id}/v1.0.0.zip`,
    config: { name: `bot-${id}`, runtime: "python3.11", entrypoints }
  }
})

export const putBot = (doc: Bot) =>
  Effect.flatMap(BotStore, (s) =>
    s.bots.upsert(doc.id, { config: doc.config ?? {}, ...(doc.custom ? { custom: doc.custom } : {}) })
  )
export const putSchedule = (doc: Bot) =>
  Effect.flatMap(BotStore, (s) =>
    s.schedules.upsert(doc.id, {
      config: { ...doc.config, schedule: "0 9 * * *" },
      ...(doc.custom ? { custom: doc.custom } : {})
    })
  )

/** The bot controller's Pod cache, as the manager hands it to the QueryServer. */
export const botPodInformer = Informer.make("Pod", {
  namespace: ns,
  labelSelector: `${Label.managedBy}=${ManagedBy.botController}`,
  indexLabels: [Label.botId]
})

export interface Served {
  readonly server: QueryServer.QueryServer
  readonly url: string
  readonly post: (body: string | Uint8Array, init?: RequestInit) => Effect.Effect<Answer>
  readonly request: (path: string, init?: RequestInit) => Effect.Effect<Answer>
}

export interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly text: string
  readonly json: Record<string, unknown>
  readonly header: (name: string) => string | null
}

const fetchAnswer = (url: string, init?: RequestInit): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    const text = await response.text()
    let json: Record<string, unknown> = {}
    try {
      const parsed: unknown = JSON.parse(text)
      if (typeof parsed === "object" && parsed !== null) json = parsed as Record<string, unknown>
    } catch {
      json = {}
    }
    return {
      status: response.status,
      contentType: response.headers.get("content-type"),
      text,
      json,
      header: (name: string) => response.headers.get(name)
    }
  })

/** Builds the QueryServer over the world and serves its Node listener on a loopback port for the scope. */
export const serve = (overrides: Partial<QuerySettings.QuerySettings> = {}) =>
  Effect.gen(function* () {
    const botPods = yield* botPodInformer
    yield* botPods.synced
    const server = yield* QueryServer.make({ settings: { ...settings, ...overrides }, botPods })
    const node = yield* Effect.acquireRelease(
      Effect.async<Server>((resume) => {
        const s = createServer(server.listener(() => undefined))
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    )
    const port = (node.address() as AddressInfo).port
    const url = `http://127.0.0.1:${port}`
    const served: Served = {
      server,
      url,
      post: (body, init) =>
        fetchAnswer(`${url}/query`, {
          method: "POST",
          body,
          ...init,
          headers: { "content-type": "application/json", ...(init?.headers as Record<string, string> | undefined) }
        }),
      request: (path, init) => fetchAnswer(`${url}${path}`, init)
    }
    return served
  })

export interface BotQueryServer {
  readonly port: number
  /** TCP connections accepted so far. */
  readonly connections: () => number
  /** Requests seen: method, path, query-string params, body. */
  readonly seen: ReadonlyArray<{
    readonly method: string
    readonly path: string
    readonly query: Record<string, string>
    readonly body: string
  }>
}

/**
 * A query container answering like the0's Node SDK server: any method, handler by exact pathname, params from the
 * query string only, 404/500 bodies as the SDK writes them. `handlers` return the data or throw.
 */
export const botQueryServer = (
  handlers: Record<string, (params: Record<string, string>) => unknown>,
  raw?: (req: IncomingMessage, res: ServerResponse) => boolean
): Effect.Effect<BotQueryServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seen: Array<BotQueryServer["seen"][number]> = []
    let connections = 0
    const server = yield* Effect.acquireRelease(
      Effect.async<Server>((resume) => {
        const s = createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (c: Buffer) => chunks.push(c))
          req.on("end", () => {
            const url = new URL(req.url ?? "/", "http://localhost")
            const query = Object.fromEntries(url.searchParams)
            seen.push({ method: req.method ?? "", path: url.pathname, query, body: Buffer.concat(chunks).toString() })
            if (raw?.(req, res) === true) return
            res.setHeader("content-type", "application/json")
            const handler = handlers[url.pathname]
            if (handler === undefined) {
              res.statusCode = 404
              res.end(JSON.stringify({ status: "error", error: `No handler for path: ${url.pathname}` }))
              return
            }
            try {
              res.end(JSON.stringify({ status: "ok", data: handler(query) }))
            } catch (error) {
              res.statusCode = 500
              res.end(JSON.stringify({ status: "error", error: String(error) }))
            }
          })
        })
        s.on("connection", () => {
          connections++
        })
        s.keepAliveTimeout = 60_000
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    )
    return { port: (server.address() as AddressInfo).port, connections: () => connections, seen }
  })

/**
 * Creates the realtime Pod the bot controller would, with the query container's port set to `port`, runs it on
 * the simulated kubelet and gives it the loopback address, so that the proxy reaches `botQueryServer`.
 */
export const runRealtimePod = (doc: Bot, port: number, ip = "127.0.0.1") =>
  Effect.gen(function* () {
    const cluster = yield* MemoryCluster
    const pod = botPod(settings.manifest, doc).pipe((e) => (e._tag === "Right" ? e.right : undefined))
    if (pod === undefined) return yield* Effect.die(new Error("bot Pod does not build"))
    const withPort: Pod = {
      ...pod,
      spec: {
        ...pod.spec,
        containers: pod.spec.containers.map((c) =>
          c.name === "query-server" ? { ...c, ports: [{ name: "query", containerPort: port, protocol: "TCP" }] } : c
        )
      }
    }
    yield* cluster.direct.create("Pod", ns, withPort)
    // the kubelet (autoRun) runs it; only then is the address ours to set
    yield* eventually(
      Effect.filterOrFail(
        cluster.direct.get("Pod", ns, pod.metadata.name),
        (p) => p.status?.phase === "Running",
        () => "not running yet"
      )
    )
    return yield* cluster.direct.patchStatus("Pod", ns, pod.metadata.name, { podIP: ip })
  })

/** Retries until the check passes (live clock), for state that converges through watches. */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, millis = 5000) =>
  Effect.retry(check, Schedule.spaced("10 millis").pipe(Schedule.upTo(`${millis} millis`)))

export type QueryPodBehaviour = (
  pod: Pod,
  env: Readonly<Record<string, string>>
) => Effect.Effect<void, unknown, ObjectStore | SimulatedKubelet | MemoryCluster>

/** Plays every query-Job Pod: `behaviour` gets the Pod and its `bot` container's env once the Pod exists. */
export const simulateQueryPods = (behaviour: QueryPodBehaviour) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const list = yield* api.list("Pod", ns)
    yield* api
      .watch("Pod", ns, {
        resourceVersion: list.resourceVersion,
        labelSelector: `${Label.managedBy}=${ManagedBy.queryHandler}`
      })
      .pipe(
        Stream.filterMap((e) => (e.type === "ADDED" ? Option.some(e.object) : Option.none())),
        Stream.runForEach((pod) => {
          const container = pod.spec.containers.find((c) => c.name === "bot")
          const env = Object.fromEntries((container?.env ?? []).map((v) => [v.name, v.value ?? ""]))
          return Effect.forkDaemon(Effect.ignore(behaviour(pod, env)))
        }),
        Effect.forkScoped
      )
  })

/** Where a query Pod's `result` sidecar uploads `result.json`: its `--result-key` argument. */
export const resultKeyOf = (pod: Pod): string => {
  const args = pod.spec.initContainers?.find((c) => c.name === "result")?.args ?? []
  return args[args.indexOf("--result-key") + 1] ?? ""
}

/** A query Pod that writes `result` to its result key and exits with `exitCode`. */
export const answerWith =
  (result: unknown, exitCode = 0): QueryPodBehaviour =>
  (pod) =>
    Effect.gen(function* () {
      const objects = yield* ObjectStore
      const key = resultKeyOf(pod)
      yield* objects.ensureBucket(Bucket.queryResults)
      const body = typeof result === "string" ? result : JSON.stringify(result)
      yield* objects.put(Bucket.queryResults, key, new TextEncoder().encode(body), { contentType: "application/json" })
      yield* (yield* SimulatedKubelet).completePod(ns, pod.metadata.name, exitCode)
    })

export const jobs = Effect.flatMap(KubeApi, (api) => api.list("Job", ns)).pipe(Effect.map((l) => l.items))
export const queryPods = Effect.flatMap(KubeApi, (api) =>
  api.list("Pod", ns, { labelSelector: `${Label.managedBy}=${ManagedBy.queryHandler}` })
).pipe(Effect.map((l) => l.items))
export const results = Effect.flatMap(ObjectStore, (o) =>
  o.list(Bucket.queryResults).pipe(Effect.catchTag("NoSuchBucket", () => Effect.succeed([])))
).pipe(Effect.map((items) => items.map((i) => i.key)))
