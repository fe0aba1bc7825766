/** The manager composed as in production, on the memory layers: events in, Pods and CronJobs out, one leader. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Scope, Stream, SubscriptionRef, TestClock } from "effect"
import { Subject } from "../../../src/domain/BotEvent.ts"
import { MemoryBotStore } from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryEventBusControl } from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as Manager from "../../../src/programs/controller/Manager.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { EventBus } from "../../../src/services/EventBus.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot, cronJobs, ns, podNames, pods, putBot, settings, settle, world } from "./ControllerEnv.ts"

const env = Layer.merge(world(), MemoryEventBus.layerWithControl)

/** The API's payload (docs/contracts.md, "Event payloads"). */
const payload = (id: string, config: Record<string, unknown> = {}, type = "realtime") => {
  const doc = bot(id, config)
  return new TextEncoder().encode(
    JSON.stringify({
      id,
      config: { name: `bot-${id}`, type, version: "1.0.0", ...doc.config, customBotId: "cb-1" },
      custom: {
        config: { ...doc.custom?.config, type },
        createdAt: "2026-11-26T09:00:00.000Z",
        updatedAt: "2026-11-26T09:00:00.000Z",
        filePath: doc.custom?.filePath,
        version: "1.0.0"
      }
    })
  )
}

const publish = (subject: string, body: Uint8Array) =>
  Effect.flatMap(MemoryEventBusControl, (control) => control.publishAsPeer(subject, body))

const withIdentity = (identity: string) => ({
  ...settings,
  leaderElection: { ...settings.leaderElection, identity }
})

describe("Manager", () => {
  it.scoped("a the0.bot.created event gives the document and the Pod; updates, disable and delete follow", () =>
    Effect.gen(function* () {
      const manager = yield* Manager.make(withIdentity("m1"))
      yield* settle
      expect(yield* manager.ready).toBe(true)
      yield* publish(Subject.botCreated, payload("e1", { risk: 1 }))
      yield* settle
      const store = yield* BotStore
      expect(Option.isSome(yield* store.bots.get("e1"))).toBe(true)
      expect(yield* podNames).toEqual(["bot-e1"])
      const before = (yield* pods)[0]
      yield* publish(Subject.botUpdated, payload("e1", { risk: 2 }))
      yield* settle
      const after = (yield* pods)[0]
      expect(after?.metadata.uid).not.toBe(before?.metadata.uid)
      yield* publish(Subject.botUpdated, payload("e1", { risk: 2, enabled: false }))
      yield* settle
      expect(yield* podNames).toEqual([])
      yield* publish(Subject.botUpdated, payload("e1", { risk: 3 }))
      yield* settle
      expect(yield* podNames).toEqual(["bot-e1"])
      yield* publish(Subject.botDeleted, new TextEncoder().encode(JSON.stringify({ id: "e1", config: {} })))
      yield* settle
      expect(yield* podNames).toEqual([])
      expect(Option.isNone(yield* store.bots.get("e1"))).toBe(true)
    }).pipe(Effect.provide(env))
  )

  it.scoped("a schedule event gives a CronJob with next_execution_time stored", () =>
    Effect.gen(function* () {
      yield* Manager.make(withIdentity("m1"))
      yield* settle
      yield* publish(Subject.scheduleCreated, payload("sc1", { schedule: "0 9 * * *" }, "scheduled"))
      yield* settle
      expect((yield* cronJobs).map((c) => c.metadata.name)).toEqual(["schedule-sc1"])
      const stored = yield* (yield* BotStore).schedules.get("sc1")
      expect(Option.isSome(stored) && typeof stored.value.next_execution_time).toBe("number")
    }).pipe(Effect.provide(env))
  )

  it.scoped(
    "with the JetStream stream present, events published while no manager ran are applied when one starts",
    () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        yield* bus.ensureStream({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
        yield* publish(Subject.botCreated, payload("late1"))
        yield* publish(Subject.botCreated, payload("late2"))
        yield* Manager.make(withIdentity("m1"))
        yield* settle
        expect(yield* podNames).toEqual(["bot-late1", "bot-late2"])
      }).pipe(Effect.provide(env))
  )

  it.scoped(
    "a first start on an empty store replays the stream before acting: a bot created and deleted there never gets a Pod",
    () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const api = yield* KubeApi
        yield* bus.ensureStream({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
        for (let i = 0; i < 12; i++) {
          yield* publish(Subject.botCreated, payload(`gone${i}`))
          yield* publish(Subject.botUpdated, payload(`gone${i}`, { risk: 2 }))
          yield* publish(Subject.botDeleted, new TextEncoder().encode(JSON.stringify({ id: `gone${i}`, config: {} })))
        }
        yield* publish(Subject.botCreated, payload("live1"))
        yield* publish(Subject.botCreated, payload("live2"))
        const start = yield* api.list("Pod", ns)
        const created: Array<string> = []
        yield* api.watch("Pod", ns, { resourceVersion: start.resourceVersion }).pipe(
          Stream.runForEach((e) =>
            Effect.sync(() => {
              if (e.type === "ADDED") created.push(e.object.metadata.name)
            })
          ),
          Effect.forkScoped
        )
        const manager = yield* Manager.make(withIdentity("m1"))
        const metrics = yield* Metrics
        yield* settle
        expect(yield* podNames).toEqual(["bot-live1", "bot-live2"])
        expect(created.sort()).toEqual(["bot-live1", "bot-live2"])
        expect(yield* manager.ready).toBe(true)
        expect(yield* Effect.promise(() => metrics.registry.getSingleMetricAsString("the0_ingest_caught_up"))).toMatch(
          /the0_ingest_caught_up 1/
        )
      }).pipe(Effect.provide(env))
  )

  it.scoped("while the backlog is not applied, no replica is ready and the controllers do not act", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus
      yield* bus.ensureStream({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
      yield* publish(Subject.botCreated, payload("b1"))
      yield* publish(Subject.botCreated, payload("b2"))
      const store = yield* BotStore
      const storeControl = yield* MemoryBotStore
      const metrics = yield* Metrics
      const caughtUp = Effect.promise(() => metrics.registry.getSingleMetricAsString("the0_ingest_caught_up"))
      // the store fails every write for a while: the backlog cannot be applied
      yield* storeControl.failNext(1_000_000)
      const leader = yield* Manager.make(withIdentity("a"))
      yield* settle
      const follower = yield* Manager.make(withIdentity("b"))
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      expect(yield* SubscriptionRef.get(leader.leader.isLeader)).toBe(true)
      expect([yield* leader.ready, yield* follower.ready]).toEqual([false, false])
      expect(yield* caughtUp).toMatch(/the0_ingest_caught_up 0/)
      expect(yield* podNames).toEqual([])
      yield* storeControl.failNext(0)
      for (let i = 0; i < 10 && !((yield* leader.ready) && (yield* follower.ready)); i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      expect([yield* leader.ready, yield* follower.ready]).toEqual([true, true])
      expect(Option.isSome(yield* store.bots.get("b1"))).toBe(true)
      expect(yield* podNames).toEqual(["bot-b1", "bot-b2"])
    }).pipe(Effect.provide(env))
  )

  it.scoped(
    "a new durable on a store that already holds documents starts at the stream's head: history is not replayed onto them",
    () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const store = yield* BotStore
        yield* bus.ensureStream({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
        // what the0's runtime already applied: the bot exists with its latest config
        yield* publish(Subject.botCreated, payload("old", { risk: 1 }))
        yield* publish(Subject.botUpdated, payload("old", { risk: 9 }))
        yield* publish(Subject.botCreated, payload("removed"))
        yield* publish(Subject.botDeleted, new TextEncoder().encode(JSON.stringify({ id: "removed", config: {} })))
        yield* putBot(bot("old", { risk: 9 }))
        const manager = yield* Manager.make(withIdentity("m1"))
        yield* settle
        expect(yield* manager.ready).toBe(true)
        expect(Option.getOrThrow(yield* store.bots.get("old")).config?.risk).toBe(9)
        expect(Option.isNone(yield* store.bots.get("removed"))).toBe(true)
        // nothing of the history was applied: no event reached the store
        expect(yield* store.ingestLog.get("bot:old")).toEqual(Option.none())
        expect(yield* store.ingestLog.get("bot:removed")).toEqual(Option.none())
        expect(yield* podNames).toEqual(["bot-old"])
        yield* publish(Subject.botUpdated, payload("old", { risk: 10 }))
        yield* settle
        expect(Option.getOrThrow(yield* store.bots.get("old")).config?.risk).toBe(10)
      }).pipe(Effect.provide(env))
  )

  it.scoped(
    "two replicas elect one leader; when it stops, the other takes over within the lease time and converges",
    () =>
      Effect.gen(function* () {
        const scopeA = yield* Scope.make()
        const a = yield* Manager.make(withIdentity("a")).pipe(Scope.extend(scopeA))
        yield* settle
        const b = yield* Manager.make(withIdentity("b"))
        yield* settle
        expect([yield* SubscriptionRef.get(a.leader.isLeader), yield* SubscriptionRef.get(b.leader.isLeader)]).toEqual([
          true,
          false
        ])
        expect(yield* b.ready).toBe(true)
        yield* publish(Subject.botCreated, payload("before-handover"))
        yield* settle
        expect(yield* podNames).toEqual(["bot-before-handover"])
        yield* Scope.close(scopeA, Exit.void)
        yield* publish(Subject.botCreated, payload("after-handover"))
        yield* settle
        for (let i = 0; i < 8 && !(yield* SubscriptionRef.get(b.leader.isLeader)); i++) {
          yield* TestClock.adjust("2 seconds")
          yield* settle
        }
        expect(yield* SubscriptionRef.get(b.leader.isLeader)).toBe(true)
        yield* settle
        expect(yield* podNames).toEqual(["bot-after-handover", "bot-before-handover"])
      }).pipe(Effect.provide(env))
  )

  it.scoped("a replica that loses the lease stops reconciling at once", () =>
    Effect.gen(function* () {
      const manager = yield* Manager.make(withIdentity("solo"))
      yield* settle
      const api = yield* KubeApi
      const lease = yield* api.get("Lease", ns, "the0-runtime-controller")
      yield* api.update("Lease", ns, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "usurper", renewTime: "2099-01-01T00:00:00.000000Z" }
      })
      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust("2 seconds")
        yield* settle
      }
      expect(yield* SubscriptionRef.get(manager.leader.isLeader)).toBe(false)
      yield* (yield* BotStore).bots.upsert("ignored", {
        config: bot("ignored").config ?? {},
        custom: bot("ignored").custom ?? {}
      })
      yield* manager.bots.notify("ignored")
      yield* settle
      expect(yield* podNames).toEqual([])
    }).pipe(Effect.provide(env))
  )

  it.scoped(
    "a leader that cannot write the credentials Secret bot Pods read is not ready, says why, and is once it can",
    () =>
      Effect.gen(function* () {
        const cluster = yield* MemoryCluster
        yield* cluster.failNext({ verb: "create", kind: "Secret", times: 3, code: 403, reason: "Forbidden" })
        const manager = yield* Manager.make({
          ...withIdentity("m-secret"),
          ownedMinioCredentials: { accessKey: "ak", secretKey: "sk" }
        })
        yield* settle
        expect(yield* SubscriptionRef.get(manager.leader.isLeader)).toBe(true)
        expect(yield* manager.ready).toBe(false)
        const metrics = yield* Metrics
        expect((yield* Effect.promise(() => metrics.credentialsSecretWritable.get())).values[0]?.value).toBe(0)
        // the retries back off exponentially from 1 s; the fourth attempt succeeds
        yield* TestClock.adjust("10 seconds")
        yield* settle
        expect(yield* manager.ready).toBe(true)
        expect((yield* Effect.promise(() => metrics.credentialsSecretWritable.get())).values[0]?.value).toBe(1)
        const secret = yield* cluster.direct.get("Secret", ns, settings.manifest.minioSecret.name)
        expect(secret.data?.[settings.manifest.minioSecret.accessKeyKey]).toBe(Buffer.from("ak").toString("base64"))
      }).pipe(Effect.provide(env))
  )
})
