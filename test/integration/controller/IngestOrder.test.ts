/**
 * Ingest on the testbed's NATS JetStream, FerretDB and API server (issue 14): events applied in each bot's publish
 * order through a MongoDB outage, and a fresh controller that catches up with a backlog before it acts. The API
 * server is watched from before anything starts, so a Pod created and deleted again in between is seen too.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { MongoClient } from "mongodb"
import * as LiveKubeApi from "../../../src/layers/live/LiveKubeApi.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { testbed } from "../testbed/env.ts"
import {
  apiPayload,
  clearStore,
  env,
  freshEventsStream,
  freshNamespace,
  podsOf,
  publish,
  startController,
  until,
  withNats
} from "./Harness.ts"

const payload = (id: string, config: Record<string, unknown> = {}) => apiPayload(id, config)
const deleted = (id: string) => JSON.stringify({ id, config: {} })

/** Names of every Pod ADDED in `namespace` from now on, as the API server reports them. */
const watchCreations = (namespace: string) =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const created = new Set<string>()
    const start = yield* api.list("Pod", namespace)
    yield* api.watch("Pod", namespace, { resourceVersion: start.resourceVersion }).pipe(
      Stream.runForEach((e) =>
        Effect.sync(() => {
          if (e.type === "ADDED") created.add(e.object.metadata.name)
        })
      ),
      Effect.forkScoped
    )
    return created
  }).pipe(Effect.provide(LiveKubeApi.layer({ kubeconfig: env.KUBECONFIG, qps: 50, burst: 100 })))

const storedIds = Effect.promise(async () => {
  const client = await MongoClient.connect(env.MONGO_URI)
  try {
    return (await client.db("bot_runner").collection("bots").find({}).toArray()).map((d) => String(d.id)).sort()
  } finally {
    await client.close()
  }
})

const livePodNames = (namespace: string) =>
  Effect.map(podsOf(namespace), (pods) =>
    pods
      .filter((p) => p.metadata?.deletionTimestamp === undefined)
      .map((p) => p.metadata?.name ?? "")
      .sort()
  )

/** The durable has acked everything the stream holds. */
const drained = withNats(async (nc) => {
  const { jetstreamManager } = await import("@nats-io/jetstream")
  const jsm = await jetstreamManager(nc)
  const stream = await jsm.streams.info("THE0_EVENTS")
  const consumer = await jsm.consumers.info("THE0_EVENTS", "the0-runtime")
  return consumer.ack_floor.stream_seq >= stream.state.last_seq
})

describe("ingest order on the testbed", () => {
  it.live(
    "create, update and delete of 20 bots published through a MongoDB outage end with none of them, stored or running",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* freshEventsStream
        const ns = yield* freshNamespace
        const controller = yield* startController(ns, "solo", { resyncInterval: "2 seconds" })
        const ids = Array.from({ length: 20 }, (_, i) => `${ns}-o${i}`)
        for (const id of ids.slice(0, 10)) {
          yield* publish("the0.bot.created", payload(id))
          yield* publish("the0.bot.updated", payload(id, { risk: 2 }))
        }
        yield* Effect.promise(() => testbed("stop", "mongo"))
        for (const id of ids.slice(0, 10)) yield* publish("the0.bot.deleted", deleted(id))
        for (const id of ids.slice(10)) {
          yield* publish("the0.bot.created", payload(id))
          yield* publish("the0.bot.updated", payload(id, { risk: 2 }))
          yield* publish("the0.bot.deleted", deleted(id))
        }
        yield* Effect.sleep("6 seconds")
        yield* Effect.promise(() => testbed("start", "mongo"))
        yield* until(
          Effect.flatMap(drained, (done) => (done ? Effect.void : Effect.fail("backlog not acked"))),
          90_000
        )
        yield* until(
          Effect.flatMap(livePodNames(ns), (names) => (names.length === 0 ? Effect.void : Effect.fail(names))),
          30_000
        )
        expect((yield* storedIds).filter((id) => id.startsWith(ns))).toEqual([])
        yield* controller.stop
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "a fresh controller on a backlog of 50 bots created and deleted and 50 live ones never creates a Pod for a deleted bot",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* freshEventsStream
        const ns = yield* freshNamespace
        const gone = Array.from({ length: 50 }, (_, i) => `${ns}-g${i}`)
        const live = Array.from({ length: 50 }, (_, i) => `${ns}-l${i}`)
        for (let i = 0; i < 50; i++) {
          yield* publish("the0.bot.created", payload(gone[i] as string))
          yield* publish("the0.bot.created", payload(live[i] as string))
          yield* publish("the0.bot.updated", payload(gone[i] as string, { risk: 3 }))
        }
        for (const id of gone) yield* publish("the0.bot.deleted", deleted(id))
        const created = yield* watchCreations(ns)
        const controller = yield* startController(ns, "fresh")
        yield* until(
          Effect.flatMap(livePodNames(ns), (names) => (names.length === 50 ? Effect.void : Effect.fail(names.length))),
          120_000
        )
        yield* Effect.sleep("3 seconds")
        expect([...created].filter((name) => gone.some((id) => name === `bot-${id}`))).toEqual([])
        expect([...created].sort()).toEqual(live.map((id) => `bot-${id}`).sort())
        expect((yield* storedIds).filter((id) => id.startsWith(ns))).toEqual([...live].sort())
        yield* controller.stop
      }).pipe(Effect.scoped),
    240_000
  )
})
