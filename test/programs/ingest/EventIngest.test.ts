/**
 * Event ingest on the memory layers: it catches up with the backlog the stream held at start (and says so only
 * then), an event that cannot be applied is redelivered and never acked, and without the stream it applies core
 * messages as they come.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Option, TestClock } from "effect"
import { eventsStream, Subject } from "../../../src/domain/BotEvent.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryEventBusControl } from "../../../src/layers/memory/MemoryEventBus.ts"
import * as EventIngest from "../../../src/programs/ingest/EventIngest.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { BotStore, BotStoreError, type BotStoreService } from "../../../src/services/BotStore.ts"
import { EventBus } from "../../../src/services/EventBus.ts"

const env = Layer.mergeAll(MemoryBotStore.layer, MemoryEventBus.layerWithControl, Metrics.layer)
const settle = Effect.repeatN(Effect.yieldNow(), 300)
const created = (id: string) => new TextEncoder().encode(JSON.stringify({ id, config: { v: 1 } }))
const publish = (subject: string, body: Uint8Array) =>
  Effect.flatMap(MemoryEventBusControl, (control) => control.publishAsPeer(subject, body))
const stream = Effect.flatMap(EventBus, (bus) =>
  bus.ensureStream({ name: eventsStream, subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
)
const notified: Array<string> = []
/** Versions of the documents handed over with durable events, by key. */
const handedOver = new Map<string, number>()
const notify: EventIngest.Notify = (target, id, written) =>
  Effect.sync(() => {
    notified.push(`${target}:${id}`)
    if (written !== undefined) handedOver.set(`${target}:${id}`, written.version)
  })

/** The store, with every document write of bot `id` failing while `blocked` says so. */
const blocking = (store: BotStoreService, id: string, blocked: () => boolean): BotStoreService => {
  const refuse = Effect.fail(new BotStoreError({ operation: "updateOne", collection: "bots", detail: "blocked" }))
  return {
    ...store,
    bots: {
      ...store.bots,
      insertNew: (document) => (document.id === id && blocked() ? refuse : store.bots.insertNew(document)),
      replaceIf: (target, document, expected) =>
        target === id && blocked() ? refuse : store.bots.replaceIf(target, document, expected)
    }
  }
}

describe("event ingest", () => {
  it.scoped("is caught up only once every message the stream held at start is acked", () =>
    Effect.gen(function* () {
      yield* stream
      for (const id of ["a", "b", "c"]) yield* publish(Subject.botCreated, created(id))
      let blocked = true
      const store = yield* BotStore
      const ingest = yield* EventIngest.run(notify, 1).pipe(
        Effect.provideService(
          BotStore,
          blocking(store, "b", () => blocked)
        )
      )
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust("500 millis")
        yield* settle
      }
      // a and c are applied and acked, b is not: the ack floor stays below the head
      expect(Option.isSome(yield* store.bots.get("c"))).toBe(true)
      expect(Option.isNone(yield* store.bots.get("b"))).toBe(true)
      expect(yield* ingest.caughtUp).toBe(false)
      blocked = false
      for (let i = 0; i < 20 && !(yield* ingest.caughtUp); i++) {
        yield* TestClock.adjust("500 millis")
        yield* settle
      }
      expect(yield* ingest.caughtUp).toBe(true)
      expect(Option.isSome(yield* store.bots.get("b"))).toBe(true)
      // each controller got the document ingest wrote, versioned by its stream sequence
      expect(["a", "b", "c"].map((id) => handedOver.get(`bot:${id}`))).toEqual([1, 2, 3])
    }).pipe(Effect.provide(env))
  )

  it.scoped("an event that cannot be applied is not acked: it is redelivered and applied once the store is back", () =>
    Effect.gen(function* () {
      yield* stream
      const store = yield* BotStore
      const bus = yield* EventBus
      let blocked = true
      yield* EventIngest.run(notify, 1).pipe(
        Effect.provideService(
          BotStore,
          blocking(store, "x", () => blocked)
        )
      )
      yield* settle
      yield* publish(Subject.botCreated, created("x"))
      for (let i = 0; i < 30; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      const position = Option.getOrThrow(yield* bus.consumerState(eventsStream, EventIngest.durableName))
      expect(position.ackFloor).toBe(0)
      expect(Option.isNone(yield* store.bots.get("x"))).toBe(true)
      blocked = false
      for (let i = 0; i < 30 && Option.isNone(yield* store.bots.get("x")); i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      expect(Option.isSome(yield* store.bots.get("x"))).toBe(true)
      yield* settle
      expect(Option.getOrThrow(yield* bus.consumerState(eventsStream, EventIngest.durableName)).ackFloor).toBe(1)
      expect(notified).toContain("bot:x")
    }).pipe(Effect.provide(env))
  )

  it.scoped("applies events of different bots at once, up to its concurrency", () =>
    Effect.gen(function* () {
      yield* stream
      for (const id of ["p1", "p2", "p3", "p4", "p5"]) yield* publish(Subject.botCreated, created(id))
      const store = yield* BotStore
      let inFlight = 0
      let peak = 0
      const release = yield* Deferred.make<void>()
      // every document insert waits until four are in flight at once
      const gated: BotStoreService = {
        ...store,
        bots: {
          ...store.bots,
          insertNew: (document) =>
            Effect.gen(function* () {
              inFlight++
              peak = Math.max(peak, inFlight)
              if (inFlight >= 4) yield* Deferred.succeed(release, undefined)
              yield* Deferred.await(release)
              inFlight--
              return yield* store.bots.insertNew(document)
            })
        }
      }
      const ingest = yield* EventIngest.run(notify, 4).pipe(Effect.provideService(BotStore, gated))
      for (let i = 0; i < 10 && !(yield* ingest.caughtUp); i++) {
        yield* TestClock.adjust("300 millis")
        yield* settle
      }
      expect(yield* ingest.caughtUp).toBe(true)
      expect(peak).toBe(4)
      for (const id of ["p1", "p2", "p3", "p4", "p5"]) expect(Option.isSome(yield* store.bots.get(id))).toBe(true)
    }).pipe(Effect.provide(env))
  )

  it.scoped("without the stream it applies core messages as they come and has nothing to catch up", () =>
    Effect.gen(function* () {
      const ingest = yield* EventIngest.run(notify, 1)
      yield* settle
      expect(yield* ingest.caughtUp).toBe(true)
      yield* publish(Subject.botCreated, created("core1"))
      yield* settle
      expect(Option.isSome(yield* (yield* BotStore).bots.get("core1"))).toBe(true)
    }).pipe(Effect.provide(env))
  )
})
