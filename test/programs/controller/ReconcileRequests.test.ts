/**
 * Two replicas on one event bus: events are shared among them (queue group), so the replica that does not lead
 * applies some; each reaches the leader as a reconcile request and is reconciled at once, not at its resync.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream, SubscriptionRef } from "effect"
import { Subject } from "../../../src/domain/BotEvent.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryEventBusControl } from "../../../src/layers/memory/MemoryEventBus.ts"
import * as Manager from "../../../src/programs/controller/Manager.ts"
import * as ReconcileRequests from "../../../src/programs/ingest/ReconcileRequests.ts"
import { EventBus } from "../../../src/services/EventBus.ts"
import { createdPayload, podNames, settings, settle, world } from "./ControllerEnv.ts"

const env = Layer.merge(world(), MemoryEventBus.layerWithControl)

/** A replica; its resync is an hour away, so only events and reconcile requests can create a Pod here. */
const replica = (identity: string) =>
  Manager.make({
    ...settings,
    resyncInterval: "1 hour",
    leaderElection: { ...settings.leaderElection, identity }
  })

describe("reconcile requests", () => {
  it.scoped("bots whose events the follower applied get their Pods from the leader at once, long before a resync", () =>
    Effect.gen(function* () {
      const leader = yield* replica("a")
      yield* settle
      const follower = yield* replica("b")
      yield* settle
      expect(yield* SubscriptionRef.get(leader.leader.isLeader)).toBe(true)
      expect(yield* SubscriptionRef.get(follower.leader.isLeader)).toBe(false)
      const requested: Array<string> = []
      yield* (yield* EventBus).subscribe(ReconcileRequests.subject).pipe(
        Stream.runForEach((m) => Effect.sync(() => requested.push(new TextDecoder().decode(m.data)))),
        Effect.forkScoped
      )
      yield* settle

      // each event goes to one replica of the group at random: with 20, the follower applies some (all but surely)
      const ids = Array.from({ length: 20 }, (_, i) => `r${String(i).padStart(2, "0")}`)
      const control = yield* MemoryEventBusControl
      for (const id of ids) yield* control.publishAsPeer(Subject.botCreated, createdPayload(id))
      yield* settle

      expect(yield* podNames).toEqual(ids.map((id) => `bot-${id}`))
      expect(requested.length).toBeGreaterThan(0)
      for (const request of requested) expect(ids.map((id) => JSON.stringify({ target: "bot", id }))).toContain(request)
    }).pipe(Effect.provide(env))
  )
})
