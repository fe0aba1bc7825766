/** The manager composed as in production, on the memory layers: events in, Pods and CronJobs out, one leader. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Scope, SubscriptionRef, TestClock } from "effect"
import { Subject } from "../../../src/domain/BotEvent.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryEventBusControl } from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as Manager from "../../../src/programs/controller/Manager.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { EventBus } from "../../../src/services/EventBus.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot, cronJobs, ns, podNames, pods, settings, settle, world } from "./ControllerEnv.ts"

const env = Layer.merge(world(), MemoryEventBus.layerWithControl)

/** The API's payload (controller spec §3.3). */
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
