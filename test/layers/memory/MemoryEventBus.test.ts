import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Option, Queue, Stream, TestClock } from "effect"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { type DurableMessage, EventBus, type Message } from "../../../src/services/EventBus.ts"
import { eventBusContract } from "../../contracts/EventBusContract.ts"

eventBusContract("memory", MemoryEventBus.layer)

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (message: Message): string => new TextDecoder().decode(message.data)

/** Lets forked fibers run until they block (everything in the memory bus is synchronous). */
const letForkedFibersRun = Effect.repeatN(Effect.yieldNow(), 20)

/** Runs `stream` in the test's scope, each element into a queue the test takes from. */
const into = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<A>()
    yield* Effect.forkScoped(Stream.runForEach(stream, (a) => Queue.offer(queue, a)))
    yield* letForkedFibersRun
    return queue
  })

const setup = Effect.gen(function* () {
  const bus = yield* EventBus
  const control = yield* MemoryEventBus.MemoryEventBusControl
  yield* bus.ensureStream({ name: "EVENTS", subjects: ["the0.>"] })
  return { bus, control }
})

const nothingMore = <A>(queue: Queue.Queue<A>) =>
  Effect.gen(function* () {
    yield* letForkedFibersRun
    expect(yield* Queue.poll(queue)).toEqual(Option.none())
  })

describe("MemoryEventBus", () => {
  it.scoped("redelivers an unacked message when the default 30 s ack wait runs out (TestClock)", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup
      yield* bus.publish("the0.bot.created", bytes("x"))
      const deliveries = yield* into(bus.consume({ stream: "EVENTS", durable: "d" }))
      const first = yield* Queue.take(deliveries)
      expect([first.sequence, first.deliveryCount]).toEqual([1, 1])
      yield* TestClock.adjust("29999 millis")
      yield* nothingMore(deliveries)
      yield* TestClock.adjust("1 millis")
      const second = yield* Queue.take(deliveries)
      expect([second.sequence, second.deliveryCount, text(second)]).toEqual([1, 2, "x"])
      yield* second.ack
      yield* TestClock.adjust("1 hour")
      yield* nothingMore(deliveries)
    }).pipe(Effect.provide(MemoryEventBus.layerWithControl))
  )

  it.scoped("redelivers a nak'ed message after exactly its delay (TestClock)", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup
      yield* bus.publish("the0.bot.updated", bytes("x"))
      const deliveries = yield* into(bus.consume({ stream: "EVENTS", durable: "d", ackWaitMillis: 60_000 }))
      yield* (yield* Queue.take(deliveries)).nak(10_000)
      yield* TestClock.adjust("9999 millis")
      yield* nothingMore(deliveries)
      yield* TestClock.adjust("1 millis")
      expect((yield* Queue.take(deliveries)).deliveryCount).toBe(2)
    }).pipe(Effect.provide(MemoryEventBus.layerWithControl))
  )

  it.scoped("keeps a message delivered to a run that ended pending until its ack wait runs out, as NATS does", () =>
    Effect.gen(function* () {
      const { bus } = yield* setup
      yield* bus.publish("the0.bot.created", bytes("a"))
      yield* bus.publish("the0.bot.created", bytes("b"))
      const config = { stream: "EVENTS", durable: "d", ackWaitMillis: 5_000 }
      const firstRun = yield* bus.consume(config).pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.toReadonlyArray(firstRun).map(text)).toEqual(["a"])
      const deliveries = yield* into(bus.consume(config))
      const b: DurableMessage = yield* Queue.take(deliveries)
      expect([text(b), b.deliveryCount]).toEqual(["b", 1])
      yield* b.ack
      yield* nothingMore(deliveries)
      yield* TestClock.adjust("5 seconds")
      const a = yield* Queue.take(deliveries)
      expect([text(a), a.sequence, a.deliveryCount]).toEqual(["a", 1, 2])
    }).pipe(Effect.provide(MemoryEventBus.layerWithControl))
  )

  it.scoped("while disconnected: publish fails, peers' core messages are lost, streams keep them", () =>
    Effect.gen(function* () {
      const { bus, control } = yield* setup
      const core = yield* into(bus.subscribe("the0.bot.*", { queue: "runtime" }))
      const durable = yield* into(bus.consume({ stream: "EVENTS", durable: "ingest" }))
      yield* control.disconnect
      expect(yield* bus.connectionState).toBe("reconnecting")
      const failed = yield* Effect.flip(bus.publish("the0.bot.created", bytes("mine")))
      expect(failed._tag).toBe("EventBusError")
      expect((yield* Effect.flip(bus.streamInfo("EVENTS")))._tag).toBe("EventBusError")
      yield* control.publishAsPeer("the0.bot.created", bytes("from the API"))
      yield* nothingMore(core)
      yield* nothingMore(durable)

      yield* control.reconnect
      expect(yield* bus.connectionState).toBe("connected")
      const resumed = yield* Queue.take(durable)
      expect([text(resumed), resumed.sequence]).toEqual(["from the API", 1])
      yield* bus.publish("the0.bot.updated", bytes("after"))
      expect(text(yield* Queue.take(core))).toBe("after")
      yield* nothingMore(core)
    }).pipe(Effect.provide(MemoryEventBus.layerWithControl))
  )

  it.scoped("an ack while disconnected fails and the message stays pending", () =>
    Effect.gen(function* () {
      const { bus, control } = yield* setup
      yield* bus.publish("the0.bot.created", bytes("x"))
      const deliveries = yield* into(bus.consume({ stream: "EVENTS", durable: "d", ackWaitMillis: 1_000 }))
      const first = yield* Queue.take(deliveries)
      yield* control.disconnect
      expect((yield* Effect.flip(first.ack))._tag).toBe("EventBusError")
      yield* control.reconnect
      yield* TestClock.adjust("1 second")
      expect((yield* Queue.take(deliveries)).deliveryCount).toBe(2)
    }).pipe(Effect.provide(MemoryEventBus.layerWithControl))
  )

  it.scoped("a closed connection fails running streams and stays closed", () =>
    Effect.gen(function* () {
      const { bus, control } = yield* setup
      const subscription = yield* Effect.fork(Stream.runDrain(bus.subscribe("the0.>")))
      const consumer = yield* Effect.fork(Stream.runDrain(bus.consume({ stream: "EVENTS", durable: "d" })))
      yield* letForkedFibersRun
      yield* control.close
      yield* control.reconnect
      expect(yield* bus.connectionState).toBe("closed")
      expect((yield* Effect.flip(subscription.await.pipe(Effect.flatten)))._tag).toBe("EventBusError")
      expect((yield* Effect.flip(consumer.await.pipe(Effect.flatten)))._tag).toBe("EventBusError")
      expect((yield* Effect.flip(bus.publish("the0.bot.created", bytes("x"))))._tag).toBe("EventBusError")
      const late = yield* Effect.either(Stream.runDrain(bus.subscribe("the0.>")))
      expect(Either.isLeft(late)).toBe(true)
    }).pipe(Effect.provide(MemoryEventBus.layerWithControl))
  )

  it.effect("rejects malformed subjects and names", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus
      for (const subject of ["", "the0..bot", "the0.*", "the0.>", "the0 bot"]) {
        expect((yield* Effect.flip(bus.publish(subject, bytes("x"))))._tag).toBe("EventBusError")
      }
      const badPattern = yield* Effect.either(Stream.runDrain(bus.subscribe("the0.>.created")))
      expect(Either.isLeft(badPattern)).toBe(true)
      yield* bus.ensureStream({ name: "S", subjects: ["the0.bot.*"] })
      const outside = bus.consume({ stream: "S", durable: "d", filterSubjects: ["other.>"] })
      expect(Either.isLeft(yield* Effect.either(Stream.runDrain(outside)))).toBe(true)
      const dotted = bus.consume({ stream: "S", durable: "d.e" })
      expect(Either.isLeft(yield* Effect.either(Stream.runDrain(dotted)))).toBe(true)
    }).pipe(Effect.provide(MemoryEventBus.layer))
  )

  it.effect("a stream without subjects captures its own name, as NATS does", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus
      yield* bus.ensureStream({ name: "LOGS", subjects: [] })
      expect(yield* bus.streamInfo("LOGS")).toEqual(
        Option.some({ name: "LOGS", subjects: ["LOGS"], lastSequence: 0, maxAgeMillis: 0 })
      )
    }).pipe(Effect.provide(MemoryEventBus.layer))
  )
})
