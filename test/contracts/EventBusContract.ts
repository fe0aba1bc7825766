/**
 * The EventBus contract: what every implementation (the in-memory bus, the live client against a NATS server with
 * JetStream) must do. Uses only the port. Subjects, streams, durables and queue groups are unique per test, nothing
 * assumes an empty server, and real-time waits are short and bounded, so it can run against a shared server.
 */
import { randomUUID } from "node:crypto"
import { afterAll, describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  Effect,
  Either,
  Fiber,
  type Layer,
  ManagedRuntime,
  Option,
  Ref,
  Schedule,
  type Scope,
  Stream
} from "effect"
import { type DurableMessage, EventBus, type Message } from "../../src/services/EventBus.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (text: string): Uint8Array => encoder.encode(text)
const text = (message: Message): string => decoder.decode(message.data)

/** What a durable delivery says, for assertions. */
const delivery = (m: DurableMessage) => ({
  subject: m.subject,
  data: text(m),
  sequence: m.sequence,
  deliveryCount: m.deliveryCount
})

/** Unique names for one test: a subject prefix, a stream, a durable, a queue group. */
const names = () => {
  const id = randomUUID().replaceAll("-", "").slice(0, 12)
  return { base: `contract.${id}`, stream: `CONTRACT_${id}`, durable: `durable_${id}`, queue: `queue_${id}` }
}

/** Time for a subscription or consumer started in a forked fiber to be registered with the server. */
const settle = Effect.sleep("100 millis")

/** How long to watch for messages that must not come. */
const quiet = Effect.sleep("200 millis")

/** Runs `stream` in the background until the test's scope closes; the result reads what it has emitted so far. */
const record = <A, E>(
  stream: Stream.Stream<A, E>
): Effect.Effect<Effect.Effect<ReadonlyArray<A>>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<A>>([])
    yield* Effect.forkScoped(Stream.runForEach(stream, (a) => Ref.update(seen, (as) => [...as, a])))
    return Ref.get(seen)
  })

/** Reads until `done` holds (for at most 5 seconds) and returns the last reading, for the test to assert on. */
const until = <A>(read: Effect.Effect<A>, done: (a: A) => boolean): Effect.Effect<A> =>
  read.pipe(
    Effect.repeat({ until: done, schedule: Schedule.spaced("20 millis") }),
    Effect.timeout("5 seconds"),
    Effect.ignore,
    Effect.zipRight(read)
  )

const atLeast =
  (n: number) =>
  <A>(as: ReadonlyArray<A>): boolean =>
    as.length >= n

const total = (groups: ReadonlyArray<ReadonlyArray<unknown>>): number => groups.reduce((n, g) => n + g.length, 0)

const byNumber = (a: string, b: string): number => Number(a) - Number(b)

export const eventBusContract = (name: string, layer: Layer.Layer<EventBus, unknown>) =>
  describe.concurrent(`EventBus contract: ${name}`, () => {
    // The tests run concurrently (their names are unique) on one bus (one connection) and the live clock. Not
    // `layer()` from @effect/vitest: it replaces `it.effect` and `it.scoped` for the rest of the importing file, so
    // that file's own tests would lose TestClock.
    const runtime = ManagedRuntime.make(layer)
    afterAll(() => runtime.dispose())
    const test = (title: string, body: () => Effect.Effect<void, unknown, EventBus | Scope.Scope>) =>
      it.scopedLive(title, () => Effect.flatMap(runtime.runtimeEffect, (rt) => Effect.provide(body(), rt)))

    test("is connected", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        expect(yield* bus.connectionState).toBe("connected")
      }))

    test("matches `*` to exactly one token and `>` to one or more trailing tokens", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base } = names()
        const subjects = (pattern: string) => record(bus.subscribe(pattern).pipe(Stream.map((m) => m.subject)))
        const star = yield* subjects(`${base}.*.created`)
        const tail = yield* subjects(`${base}.>`)
        const botTail = yield* subjects(`${base}.bot.>`)
        const exact = yield* subjects(`${base}.bot.created`)
        yield* settle
        const published = ["", ".bot", ".bot.created", ".bot-schedule.created", ".bot.created.extra", ".bot.deleted"]
        for (const suffix of published) yield* bus.publish(`${base}${suffix}`, bytes(suffix))
        yield* until(tail, atLeast(5))
        yield* quiet
        const got = (read: Effect.Effect<ReadonlyArray<string>>) =>
          Effect.map(read, (all) => all.map((s) => s.slice(base.length)))
        expect(yield* got(star)).toEqual([".bot.created", ".bot-schedule.created"])
        expect(yield* got(tail)).toEqual([
          ".bot",
          ".bot.created",
          ".bot-schedule.created",
          ".bot.created.extra",
          ".bot.deleted"
        ])
        expect(yield* got(botTail)).toEqual([".bot.created", ".bot.created.extra", ".bot.deleted"])
        expect(yield* got(exact)).toEqual([".bot.created"])
      }))

    test("delivers payloads, and only messages published after the subscription started", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base } = names()
        const subject = `${base}.bot.created`
        yield* bus.publish(subject, bytes("before"))
        const seen = yield* record(bus.subscribe(subject))
        yield* settle
        yield* bus.publish(subject, bytes("after"))
        yield* until(seen, atLeast(1))
        yield* quiet
        expect((yield* seen).map((m) => ({ subject: m.subject, data: text(m) }))).toEqual([{ subject, data: "after" }])
      }))

    test("gives each message to one member of each queue group and to every plain subscriber", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, queue } = names()
        const subject = `${base}.bot.updated`
        const data = (options?: { readonly queue: string }) =>
          record(bus.subscribe(subject, options).pipe(Stream.map(text)))
        const groupA = yield* Effect.all([
          data({ queue: `${queue}_a` }),
          data({ queue: `${queue}_a` }),
          data({ queue: `${queue}_a` })
        ])
        const groupB = yield* Effect.all([data({ queue: `${queue}_b` }), data({ queue: `${queue}_b` })])
        const plain = yield* Effect.all([data(), data()])
        yield* settle
        const sent = Array.from({ length: 12 }, (_, i) => String(i))
        for (const s of sent) yield* bus.publish(subject, bytes(s))
        const readAll = (group: ReadonlyArray<Effect.Effect<ReadonlyArray<string>>>) => Effect.all(group)
        yield* until(readAll(groupA), (g) => total(g) >= sent.length)
        yield* until(readAll(groupB), (g) => total(g) >= sent.length)
        yield* until(readAll(plain), (g) => g.every((p) => p.length >= sent.length))
        yield* quiet
        for (const group of [groupA, groupB]) {
          const received = yield* readAll(group)
          expect(received.flat().sort(byNumber)).toEqual(sent)
          for (const member of received) expect([...member].sort(byNumber)).toEqual(member)
        }
        for (const subscriber of yield* readAll(plain)) expect(subscriber).toEqual(sent)
      }))

    test("stops giving a queue member messages once its subscription has ended", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, queue } = names()
        const subject = `${base}.bot.deleted`
        const first = yield* Effect.fork(
          bus.subscribe(subject, { queue }).pipe(Stream.map(text), Stream.take(1), Stream.runCollect)
        )
        const second = yield* record(bus.subscribe(subject, { queue }).pipe(Stream.map(text)))
        yield* settle
        for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(first)); i++) {
          yield* bus.publish(subject, bytes(`before-${i}`))
          yield* Effect.sleep("20 millis")
        }
        const firstGot = Chunk.toReadonlyArray(yield* Fiber.join(first).pipe(Effect.timeout("5 seconds")))
        expect(firstGot).toHaveLength(1)
        yield* settle
        const after = ["after-0", "after-1", "after-2", "after-3", "after-4"]
        for (const s of after) yield* bus.publish(subject, bytes(s))
        const isAfter = (s: string) => s.startsWith("after")
        const got = yield* until(second, (seen) => seen.filter(isAfter).length >= after.length)
        expect(got.filter(isAfter)).toEqual(after)
        expect(got).not.toContain(firstGot[0])
      }))

    test("stores captured messages in the stream, numbered from 1, with no one subscribed", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.bot.*`] })
        expect(yield* bus.streamInfo(stream)).toEqual(
          Option.some({ name: stream, subjects: [`${base}.bot.*`], lastSequence: 0, maxAgeMillis: 0 })
        )
        expect(yield* bus.streamInfo(`${stream}_MISSING`)).toEqual(Option.none())
        yield* bus.publish(`${base}.bot.created`, bytes("a"))
        yield* bus.publish(`${base}.bot-schedule.created`, bytes("not captured"))
        yield* bus.publish(`${base}.bot.updated`, bytes("b"))
        yield* bus.publish(`${base}.bot.deleted`, bytes("c"))
        const seen = yield* record(bus.consume({ stream, durable }).pipe(Stream.tap((m) => m.ack)))
        const first = yield* until(seen, atLeast(3))
        expect(first.map(delivery)).toEqual([
          { subject: `${base}.bot.created`, data: "a", sequence: 1, deliveryCount: 1 },
          { subject: `${base}.bot.updated`, data: "b", sequence: 2, deliveryCount: 1 },
          { subject: `${base}.bot.deleted`, data: "c", sequence: 3, deliveryCount: 1 }
        ])

        const subjects = [`${base}.bot.*`, `${base}.bot-schedule.*`]
        yield* bus.ensureStream({ name: stream, subjects })
        expect(yield* bus.streamInfo(stream)).toEqual(
          Option.some({ name: stream, subjects, lastSequence: 3, maxAgeMillis: 0 })
        )
        yield* bus.publish(`${base}.bot-schedule.updated`, bytes("d"))
        const all = yield* until(seen, atLeast(4))
        yield* quiet
        expect((yield* seen).map(delivery)).toEqual([
          ...first.map(delivery),
          { subject: `${base}.bot-schedule.updated`, data: "d", sequence: 4, deliveryCount: 1 }
        ])
        expect(all).toHaveLength(4)
      }))

    test("refuses a stream whose subjects overlap another stream's, and invalid stream names", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream } = names()
        yield* bus.ensureStream({ name: `${stream}_A`, subjects: [`${base}.a.*`] })
        const literal = yield* Effect.flip(bus.ensureStream({ name: `${stream}_B`, subjects: [`${base}.a.x`] }))
        expect(literal._tag).toBe("EventBusError")
        const wider = yield* Effect.flip(bus.ensureStream({ name: `${stream}_B`, subjects: [`${base}.>`] }))
        expect(wider._tag).toBe("EventBusError")
        expect(yield* bus.streamInfo(`${stream}_B`)).toEqual(Option.none())
        yield* bus.ensureStream({ name: `${stream}_B`, subjects: [`${base}.b.>`, `${base}.a`] })
        expect(yield* bus.streamInfo(`${stream}_B`)).toEqual(
          Option.some({ name: `${stream}_B`, subjects: [`${base}.b.>`, `${base}.a`], lastSequence: 0, maxAgeMillis: 0 })
        )
        const dotted = yield* Effect.flip(bus.ensureStream({ name: `${stream}.C`, subjects: [`${base}.c`] }))
        expect(dotted._tag).toBe("EventBusError")
      }))

    test("resumes a durable where it left off: what was published while no one consumed comes next", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.>`] })
        yield* bus.publish(`${base}.bot.created`, bytes("1"))
        yield* bus.publish(`${base}.bot.updated`, bytes("2"))
        const acked = (d: string) => bus.consume({ stream, durable: d }).pipe(Stream.tap((m) => m.ack))
        const firstRun = yield* acked(durable).pipe(
          Stream.take(2),
          Stream.runCollect,
          Effect.timeout("5 seconds"),
          Effect.map((c) => Chunk.toReadonlyArray(c).map(delivery))
        )
        expect(firstRun.map((d) => [d.sequence, d.data, d.deliveryCount])).toEqual([
          [1, "1", 1],
          [2, "2", 1]
        ])

        yield* bus.publish(`${base}.bot.deleted`, bytes("3"))
        yield* bus.publish(`${base}.bot-schedule.created`, bytes("4"))
        const secondRun = yield* record(acked(durable))
        const fresh = yield* record(acked(`${durable}_fresh`))
        yield* until(secondRun, atLeast(2))
        yield* until(fresh, atLeast(4))
        yield* quiet
        expect((yield* secondRun).map(delivery)).toEqual([
          { subject: `${base}.bot.deleted`, data: "3", sequence: 3, deliveryCount: 1 },
          { subject: `${base}.bot-schedule.created`, data: "4", sequence: 4, deliveryCount: 1 }
        ])
        expect((yield* fresh).map((m) => m.sequence)).toEqual([1, 2, 3, 4])
      }))

    test("reports a durable's ack floor and pending count, and starts a new durable at the head when asked", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.>`], maxAgeMillis: 3_600_000 })
        for (const n of ["1", "2", "3"]) yield* bus.publish(`${base}.bot.created`, bytes(n))
        // a core publish reaches the stream a moment later
        const info = yield* until(Effect.orDie(bus.streamInfo(stream)), (i) =>
          Option.exists(i, (s) => s.lastSequence === 3)
        )
        expect(Option.map(info, (i) => [i.lastSequence, i.maxAgeMillis])).toEqual(Option.some([3, 3_600_000]))
        expect(yield* bus.consumerState(stream, durable)).toEqual(Option.none())
        const held: Array<DurableMessage> = []
        const consumer = yield* Effect.fork(
          bus
            .consume({ stream, durable, ackWaitMillis: 30_000 })
            .pipe(Stream.runForEach((m) => Effect.sync(() => held.push(m))))
        )
        const position = () => Effect.orDie(Effect.map(bus.consumerState(stream, durable), Option.getOrThrow))
        yield* until(
          Effect.sync(() => held.length),
          (n) => n >= 3
        )
        expect((yield* position()).ackFloor).toBe(0)
        yield* (held[0] as DurableMessage).ack
        yield* (held[2] as DurableMessage).ack
        yield* until(position(), (p) => p.ackFloor === 1)
        yield* (held[1] as DurableMessage).ack
        yield* until(position(), (p) => p.ackFloor === 3)
        yield* Fiber.interrupt(consumer)
        yield* bus.publish(`${base}.bot.created`, bytes("4"))
        yield* until(position(), (p) => p.pending === 1)

        const fromHead = yield* record(
          bus.consume({ stream, durable: `${durable}_new`, deliverFrom: "new" }).pipe(Stream.tap((m) => m.ack))
        )
        yield* until(
          Effect.orDie(Effect.map(bus.consumerState(stream, `${durable}_new`), Option.isSome)),
          (exists) => exists
        )
        expect(Option.map(yield* bus.consumerState(stream, `${durable}_new`), (p) => p.ackFloor)).toEqual(
          Option.some(4)
        )
        yield* bus.publish(`${base}.bot.created`, bytes("5"))
        yield* until(fromHead, atLeast(1))
        yield* quiet
        expect((yield* fromHead).map((m) => [m.sequence, text(m)])).toEqual([[5, "5"]])
      }))

    test("redelivers a message that is not acked within the ack wait, then not after it is acked", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.>`] })
        yield* bus.publish(`${base}.bot.created`, bytes("x"))
        const seen = yield* record(
          bus
            .consume({ stream, durable, ackWaitMillis: 300 })
            .pipe(Stream.tap((m) => (m.deliveryCount >= 2 ? m.ack : Effect.void)))
        )
        yield* until(seen, atLeast(2))
        yield* Effect.sleep("500 millis")
        expect((yield* seen).map(delivery)).toEqual([
          { subject: `${base}.bot.created`, data: "x", sequence: 1, deliveryCount: 1 },
          { subject: `${base}.bot.created`, data: "x", sequence: 1, deliveryCount: 2 }
        ])
      }))

    test("redelivers a nak'ed message at once, well before the ack wait", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.>`] })
        yield* bus.publish(`${base}.bot.created`, bytes("a"))
        yield* bus.publish(`${base}.bot.updated`, bytes("b"))
        const seen = yield* record(
          bus
            .consume({ stream, durable, ackWaitMillis: 30_000 })
            .pipe(Stream.tap((m) => (text(m) === "a" && m.deliveryCount === 1 ? m.nak() : m.ack)))
        )
        yield* until(seen, atLeast(3))
        yield* quiet
        const got = (yield* seen).map((m) => `${text(m)}/${m.sequence}/${m.deliveryCount}`)
        expect([...got].sort()).toEqual(["a/1/1", "a/1/2", "b/2/1"])
      }))

    test("redelivers a message nak'ed with a delay after that delay", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.>`] })
        yield* bus.publish(`${base}.bot.created`, bytes("later"))
        const seen = yield* record(
          bus.consume({ stream, durable, ackWaitMillis: 30_000 }).pipe(
            Stream.tap((m) => (m.deliveryCount === 1 ? m.nak(500) : m.ack)),
            Stream.mapEffect((m) =>
              Effect.map(Clock.currentTimeMillis, (at) => ({ at, deliveryCount: m.deliveryCount }))
            )
          )
        )
        const got = yield* until(seen, atLeast(2))
        expect(got.map((d) => d.deliveryCount)).toEqual([1, 2])
        const [first, second] = got
        expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(400)
      }))

    /** Publishes five events to a fresh stream and returns what a new durable with `filterSubjects` is given. */
    const filtered = (filterSubjects: (base: string) => ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.>`] })
        const published = [".bot.created", ".logs.x", ".bot-schedule.updated", ".other", ".bot.deleted"]
        for (const suffix of published) yield* bus.publish(`${base}${suffix}`, bytes(suffix))
        const consumer = bus.consume({ stream, durable, filterSubjects: filterSubjects(base) })
        const seen = yield* record(consumer.pipe(Stream.tap((m) => m.ack)))
        yield* until(seen, atLeast(1))
        yield* quiet
        return (yield* seen).map((m) => [m.sequence, text(m)])
      })

    test("delivers only the filter subject, in stream order", () =>
      Effect.gen(function* () {
        const got = yield* filtered((base) => [`${base}.bot.*`])
        expect(got).toEqual([
          [1, ".bot.created"],
          [5, ".bot.deleted"]
        ])
      }))

    // Several filter subjects on one consumer need NATS 2.10 or later.
    test("delivers the messages of any of several filter subjects, in stream order", () =>
      Effect.gen(function* () {
        const got = yield* filtered((base) => [`${base}.bot.*`, `${base}.bot-schedule.*`])
        expect(got).toEqual([
          [1, ".bot.created"],
          [3, ".bot-schedule.updated"],
          [5, ".bot.deleted"]
        ])
      }))

    test("shares a durable's messages between two concurrent consumers, each message to one", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { base, stream, durable } = names()
        yield* bus.ensureStream({ name: stream, subjects: [`${base}.>`] })
        const consumer = () =>
          record(
            bus.consume({ stream, durable }).pipe(
              Stream.tap((m) => m.ack),
              Stream.map((m) => m.sequence)
            )
          )
        const runs = [yield* consumer(), yield* consumer()]
        yield* settle
        for (let i = 0; i < 20; i++) yield* bus.publish(`${base}.bot.updated`, bytes(String(i)))
        yield* until(Effect.all(runs), (r) => total(r) >= 20)
        yield* quiet
        const got = yield* Effect.all(runs)
        expect(got.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      }))

    test("fails to consume a stream that does not exist", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const { stream, durable } = names()
        const result = yield* bus
          .consume({ stream: `${stream}_MISSING`, durable })
          .pipe(Stream.runDrain, Effect.timeout("5 seconds"), Effect.either)
        expect(Either.isLeft(result) && result.left._tag).toBe("EventBusError")
      }))
  })
