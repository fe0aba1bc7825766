/**
 * Runs the controller process (programs/controller/App.ts, as `the0-runtime controller` runs it) in the test, on the
 * testbed's real servers, in a namespace of its own, and gives the test direct clients to check the state of the
 * world.
 */
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Layer, Schedule, Scope } from "effect"
import { MongoClient } from "mongodb"
import * as LiveKubeApi from "../../../src/layers/live/LiveKubeApi.ts"
import * as MinioObjectStore from "../../../src/layers/live/MinioObjectStore.ts"
import * as MongoBotStore from "../../../src/layers/live/MongoBotStore.ts"
import * as NatsEventBus from "../../../src/layers/live/NatsEventBus.ts"
import * as App from "../../../src/programs/controller/App.ts"
import * as ControllerSettings from "../../../src/programs/controller/ControllerSettings.ts"
import * as QuerySettings from "../../../src/programs/query/QuerySettings.ts"
import { requireEnv, uniqueName } from "../testbed/env.ts"

export const env = requireEnv(
  "KUBECONFIG",
  "MONGO_URI",
  "NATS_URL",
  "MINIO_ENDPOINT",
  "MINIO_ACCESS_KEY",
  "MINIO_SECRET_KEY"
)

export const kubeConfig = (): KubeConfig => {
  const kc = new KubeConfig()
  kc.loadFromFile(env.KUBECONFIG)
  return kc
}

/** A fresh namespace with its default ServiceAccount (the API server refuses Pods before it exists). */
export const freshNamespace = Effect.gen(function* () {
  const core = kubeConfig().makeApiClient(CoreV1Api)
  const name = uniqueName("it")
  yield* Effect.promise(() => core.createNamespace({ body: { metadata: { name } } }))
  yield* Effect.tryPromise(() => core.readNamespacedServiceAccount({ name: "default", namespace: name })).pipe(
    Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("30 seconds")))
  )
  yield* Effect.addFinalizer(() => Effect.promise(() => core.deleteNamespace({ name }).catch(() => undefined)))
  return name
})

/** A bot or schedule as the0's API publishes it and writes it (docs/contracts.md, "Event payloads"), with `config` merged in. */
export const apiDocument = (id: string, config: Record<string, unknown> = {}, type = "realtime") => ({
  id,
  config: { name: `bot-${id}`, type, version: "1.0.0", symbol: "BTC/USD", customBotId: "cb", ...config },
  custom: {
    config: {
      name: `bot-${id}`,
      runtime: "python3.11",
      type,
      version: "1.0.0",
      entrypoints: { bot: "main.py", query: "query.py" }
    },
    createdAt: "2026-11-26T09:00:00.000Z",
    updatedAt: "2026-11-26T09:00:00.000Z",
    filePath: `user-1/${id}/1.0.0.zip`,
    version: "1.0.0"
  }
})

/** The body of the API's `the0.bot.*` / `the0.bot-schedule.*` event for `apiDocument`. */
export const apiPayload = (id: string, config: Record<string, unknown> = {}, type = "realtime"): string =>
  JSON.stringify(apiDocument(id, config, type))

/** Both collections and ingest's records emptied, so a test starts from a known store. */
export const clearStore = Effect.promise(async () => {
  const client = await MongoClient.connect(env.MONGO_URI)
  try {
    await client.db("bot_runner").collection("bots").deleteMany({})
    await client.db("bot_runner").collection("runtime_ingest_log").deleteMany({})
    await client.db("bot_scheduler").collection("bot_schedules").deleteMany({})
  } finally {
    await client.close()
  }
})

export const backends = (): App.Backends =>
  Layer.mergeAll(
    LiveKubeApi.layer({ kubeconfig: env.KUBECONFIG, qps: 100, burst: 200 }),
    MongoBotStore.layer({ uri: env.MONGO_URI, setting: "MONGO_URI" }),
    NatsEventBus.layer({ servers: env.NATS_URL, prefetch: ControllerSettings.defaults.ingestConcurrency }),
    MinioObjectStore.layerFromEnv
  )

export interface Running {
  readonly stop: Effect.Effect<void>
  readonly healthPort: number
  readonly queryPort: number
}

let nextPort = 18600

/** Starts a controller replica in `namespace`; `stop` shuts it down as SIGTERM would. */
export const startController = (
  namespace: string,
  identity: string,
  overrides: Partial<ControllerSettings.ControllerSettings> = {}
) =>
  Effect.gen(function* () {
    const healthPort = nextPort++
    const queryPort = nextPort++
    const settings: ControllerSettings.ControllerSettings = {
      ...ControllerSettings.defaults,
      manifest: { ...ControllerSettings.defaults.manifest, namespace, minioEndpoint: env.MINIO_ENDPOINT },
      leaderElection: {
        ...ControllerSettings.defaults.leaderElection,
        identity,
        leaseDuration: "6 seconds",
        renewDeadline: "4 seconds",
        retryPeriod: "1 second"
      },
      ownedMinioCredentials: { accessKey: env.MINIO_ACCESS_KEY, secretKey: env.MINIO_SECRET_KEY },
      ...overrides
    }
    const app: App.AppSettings = {
      settings,
      query: { ...QuerySettings.defaults, port: queryPort, host: "127.0.0.1", manifest: settings.manifest },
      healthPort
    }
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(App.layer(app).pipe(Layer.provide(backends())), scope)
    const running: Running = { stop: Scope.close(scope, Exit.void), healthPort, queryPort }
    return running
  })

export const httpText = (url: string) =>
  Effect.promise(async () => {
    const res = await fetch(url).catch(() => undefined)
    return res === undefined ? { status: 0, body: "" } : { status: res.status, body: await res.text() }
  })

export const withNats = <A>(f: (nc: Awaited<ReturnType<typeof connect>>) => Promise<A>) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: env.NATS_URL })
    try {
      return await f(nc)
    } finally {
      await nc.close()
    }
  })

export const publish = (subject: string, body: string) =>
  withNats(async (nc) => {
    nc.publish(subject, body)
    await nc.flush()
  })

export const podsOf = (namespace: string) =>
  Effect.promise(() => kubeConfig().makeApiClient(CoreV1Api).listNamespacedPod({ namespace })).pipe(
    Effect.map((l) => l.items)
  )

/** Polls `check` until it holds (50 ms steps), failing with its last failure after `millis`. */
export const until = <A>(check: Effect.Effect<A, unknown>, millis = 10_000) =>
  Effect.retry(check, Schedule.spaced("50 millis").pipe(Schedule.upTo(`${millis} millis`)))

/** No THE0_EVENTS stream (and so no durable consumer with a backlog from another test). */
export const dropEventsStream = withNats(async (nc) => {
  const jsm = await jetstreamManager(nc)
  await jsm.streams.delete("THE0_EVENTS").catch(() => false)
})

/** The THE0_EVENTS stream the0's API publishes into, made afresh: events are durable and redelivered. */
export const freshEventsStream = Effect.andThen(
  dropEventsStream,
  withNats(async (nc) => {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
  })
)
