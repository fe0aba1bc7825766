/**
 * The live EventBus against the testbed's nats-server (JetStream enabled): the EventBus contract, then what the
 * controller needs from the connection: surviving a server restart (core and durable), replaying what the API
 * published while the controller was stopped, and not failing on a server that is down at start. Streams made
 * here are deleted at the end through a separate client.
 */
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import {
  Chunk,
  ConfigProvider,
  Context,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Ref,
  Schedule,
  type Scope,
  Stream
} from "effect"
import * as NatsEventBus from "../../../src/layers/live/NatsEventBus.ts"
import { type ConnectionState, EventBus, type EventBusService, type Message } from "../../../src/services/EventBus.ts"
import { eventBusContract } from "../../contracts/EventBusContract.ts"
import { requireEnv } from "../testbed/env.ts"

const env = requireEnv("NATS_URL")
const testbedScript = fileURLToPath(new URL("../../../scripts/testbed/testbed", import.meta.url))

const encoder = new TextEncoder()
const bytes = (text: string): Uint8Array => encoder.encode(text)
const text = (message: Message): string => new TextDecoder().decode(message.data)

const unique = () => randomUUID().replaceAll("-", "").slice(0, 12)

/** A plain client beside the bus: the API's JetStream publishes, and cleanup. */
const rawClient = Effect.acquireRelease(
  Effect.tryPromise(() => connect({ servers: env.NATS_URL, name: "the0-test-raw" })),
  (nc) => Effect.promise(() => nc.close())
)

/** Deletes the streams when the scope closes (a missing one is fine). */
const deleteStreamsAtEnd = (names: Effect.Effect<Iterable<string>>) =>
  Effect.addFinalizer(() =>
    Effect.scoped(
      Effect.gen(function* () {
        const jsm = yield* Effect.flatMap(rawClient, (nc) => Effect.tryPromise(() => jetstreamManager(nc)))
        for (const name of yield* names) {
          yield* Effect.tryPromise(() => jsm.streams.delete(name)).pipe(Effect.ignore)
        }
      })
    ).pipe(Effect.ignore)
  )

/** The live bus, deleting every stream it was asked to ensure when the layer is released. */
const cleaning = (live: Layer.Layer<EventBus, unknown>): Layer.Layer<EventBus, unknown> =>
  Layer.scoped(
    EventBus,
    Effect.gen(function* () {
      const streams = yield* Ref.make<ReadonlySet<string>>(new Set())
      yield* deleteStreamsAtEnd(Ref.get(streams))
      const bus = yield* EventBus
      return {
        ...bus,
        ensureStream: (config) =>
          Effect.zipRight(
            Ref.update(streams, (s) => new Set(s).add(config.name)),
            bus.ensureStream(config)
          )
      } satisfies EventBusService
    })
  ).pipe(Layer.provide(live))

const live = NatsEventBus.layer({ servers: env.NATS_URL, name: "the0-test" })

describe("contract", () => {
  eventBusContract("NATS (testbed)", cleaning(live))
})

/** Runs the testbed script (`stop nats`, `start nats`). */
const testbed = (...args: ReadonlyArray<string>) =>
  Effect.tryPromise(() => promisify(execFile)(testbedScript, [...args], { timeout: 60_000 }))

/** Stops the server, runs `whileDown`, and starts it again, also when `whileDown` fails. */
const withServerStopped = <A, E, R>(whileDown: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    testbed("stop", "nats"),
    () => whileDown,
    () => testbed("start", "nats").pipe(Effect.orDie)
  )

/** Reads until `done` holds (at most `seconds`) and returns the last reading, for the test to assert on. */
const until = <A, E, R>(read: Effect.Effect<A, E, R>, done: (a: A) => boolean, seconds = 10) =>
  read.pipe(
    Effect.repeat({ until: done, schedule: Schedule.spaced("20 millis") }),
    Effect.timeout(`${seconds} seconds`),
    Effect.ignore,
    Effect.zipRight(read)
  )

/** Runs `stream` in the background until the scope closes; the result reads what it has emitted so far. */
const record = <A, E>(
  stream: Stream.Stream<A, E>
): Effect.Effect<Effect.Effect<ReadonlyArray<A>>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<A>>([])
    yield* Effect.forkScoped(Stream.runForEach(stream, (a) => Ref.update(seen, (as) => [...as, a])))
    return Ref.get(seen)
  })

/** The distinct successive values of `connectionState`, sampled every 5 ms. */
const stateHistory = (bus: EventBusService) =>
  Effect.gen(function* () {
    const history = yield* Ref.make<ReadonlyArray<string>>([])
    yield* bus.connectionState.pipe(
      Effect.flatMap((s) => Ref.update(history, (h) => (h.at(-1) === s ? h : [...h, s]))),
      Effect.repeat(Schedule.spaced("5 millis")),
      Effect.forkScoped
    )
    return Ref.get(history)
  })

const settle = Effect.sleep("100 millis")

const is =
  (state: ConnectionState) =>
  (s: ConnectionState): boolean =>
    s === state

describe("NatsEventBus", () => {
  it.scopedLive(
    "a core queue subscription survives a server restart: what is published once it is back arrives",
    () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const subject = `restart.${unique()}.bot.created`
        const history = yield* stateHistory(bus)
        const seen = yield* record(bus.subscribe(subject, { queue: "runtime" }).pipe(Stream.map(text)))
        yield* settle
        yield* bus.publish(subject, bytes("before"))
        yield* until(seen, (s) => s.length >= 1)

        yield* withServerStopped(
          Effect.gen(function* () {
            expect(yield* until(bus.connectionState, is("reconnecting"))).toBe("reconnecting")
            const refused = yield* Effect.flip(bus.publish(subject, bytes("while down")))
            expect(refused.message).toContain("not connected")
          })
        )
        expect(yield* until(bus.connectionState, is("connected"), 20)).toBe("connected")
        yield* bus.publish(subject, bytes("after"))
        expect(yield* until(seen, (s) => s.length >= 2)).toEqual(["before", "after"])
        expect(yield* history).toEqual(["connected", "reconnecting", "connected"])
      }).pipe(Effect.provide(live)),
    60_000
  )

  it.scopedLive(
    "a running durable consumer goes on after a server restart, with no message lost",
    () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const id = unique()
        const stream = `RESTART_${id}`
        yield* deleteStreamsAtEnd(Effect.succeed([stream]))
        yield* bus.ensureStream({ name: stream, subjects: [`restart.${id}.>`] })
        const seen = yield* record(
          bus.consume({ stream, durable: "the0-runtime", ackWaitMillis: 60_000 }).pipe(
            Stream.tap((m) => m.ack),
            Stream.map((m) => [m.sequence, text(m), m.deliveryCount] as const)
          )
        )
        yield* bus.publish(`restart.${id}.bot.created`, bytes("before"))
        yield* until(seen, (s) => s.length >= 1)

        yield* withServerStopped(until(bus.connectionState, is("reconnecting")))
        expect(yield* until(bus.connectionState, is("connected"), 20)).toBe("connected")
        yield* bus.publish(`restart.${id}.bot.updated`, bytes("after"))
        expect(yield* until(seen, (s) => s.length >= 2, 20)).toEqual([
          [1, "before", 1],
          [2, "after", 1]
        ])
      }).pipe(Effect.provide(live)),
    60_000
  )

  it.scopedLive("applies what the API published into the stream while the controller was stopped", () =>
    Effect.gen(function* () {
      const id = unique()
      const stream = `STOPPED_${id}`
      const subjects = [`stopped.${id}.bot.*`, `stopped.${id}.bot-schedule.*`]
      const consumer = { stream, durable: "the0-runtime", filterSubjects: subjects, ackWaitMillis: 60_000 }
      yield* deleteStreamsAtEnd(Effect.succeed([stream]))

      /** One run of the controller: its own connection, taking `n` events and acking them. */
      const controllerRun = (n: number) =>
        Effect.gen(function* () {
          const bus = yield* EventBus
          yield* bus.ensureStream({ name: stream, subjects })
          const got = yield* bus.consume(consumer).pipe(
            Stream.tap((m) => m.ack),
            Stream.take(n),
            Stream.runCollect,
            Effect.timeout("10 seconds")
          )
          return Chunk.toReadonlyArray(got).map((m) => [
            m.subject.slice(`stopped.${id}.`.length),
            text(m),
            m.deliveryCount
          ])
        }).pipe(Effect.provide(live))

      const nc = yield* rawClient
      const api = jetstream(nc)
      const apiPublish = (subject: string, data: string) =>
        Effect.tryPromise(() => api.publish(`stopped.${id}.${subject}`, data))

      yield* Effect.tryPromise(() => jetstreamManager(nc)).pipe(
        Effect.flatMap((jsm) => Effect.tryPromise(() => jsm.streams.add({ name: stream, subjects })))
      )
      yield* apiPublish("bot.created", "1")
      expect(yield* controllerRun(1)).toEqual([["bot.created", "1", 1]])
      // The controller is stopped (its connection closed); the API goes on publishing.
      yield* apiPublish("bot.updated", "2")
      yield* apiPublish("bot-schedule.created", "3")
      yield* apiPublish("bot.deleted", "4")
      expect(yield* controllerRun(3)).toEqual([
        ["bot.updated", "2", 1],
        ["bot-schedule.created", "3", 1],
        ["bot.deleted", "4", 1]
      ])
    })
  )

  it.scopedLive(
    "connects once a server that was down at start comes up",
    () =>
      Effect.gen(function* () {
        const building = yield* withServerStopped(
          Effect.gen(function* () {
            const fiber = yield* Effect.forkScoped(Layer.build(live))
            yield* Effect.sleep("1 second")
            expect(fiber.unsafePoll()).toBeNull()
            return fiber
          })
        )
        const context = yield* Fiber.join(building).pipe(Effect.timeout("20 seconds"))
        const bus = Context.get(context, EventBus)
        expect(yield* bus.connectionState).toBe("connected")
        const subject = `late.${unique()}.bot.created`
        const seen = yield* record(bus.subscribe(subject).pipe(Stream.map(text)))
        yield* settle
        yield* bus.publish(subject, bytes("hello"))
        expect(yield* until(seen, (s) => s.length >= 1)).toEqual(["hello"])
      }),
    60_000
  )

  it.scopedLive("keeps an existing stream's settings when it adds subjects", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus
      const id = unique()
      const stream = `SETTINGS_${id}`
      yield* deleteStreamsAtEnd(Effect.succeed([stream]))
      const jsm = yield* Effect.flatMap(rawClient, (nc) => Effect.tryPromise(() => jetstreamManager(nc)))
      // As the API creates THE0_EVENTS: limits retention, file storage, seven days.
      const sevenDays = 7 * 24 * 3600 * 1_000_000_000
      yield* Effect.tryPromise(() =>
        jsm.streams.add({
          name: stream,
          subjects: [`settings.${id}.bot.*`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          max_age: sevenDays
        })
      )
      yield* bus.ensureStream({ name: stream, subjects: [`settings.${id}.bot.*`, `settings.${id}.bot-schedule.*`] })
      const info = yield* Effect.tryPromise(() => jsm.streams.info(stream))
      expect(info.config).toMatchObject({
        subjects: [`settings.${id}.bot.*`, `settings.${id}.bot-schedule.*`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: sevenDays
      })
    }).pipe(Effect.provide(live))
  )

  it.scopedLive("a durable's filter subjects and ack wait follow the latest consume; its position is kept", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus
      const id = unique()
      const stream = `FILTER_${id}`
      yield* deleteStreamsAtEnd(Effect.succeed([stream]))
      yield* bus.ensureStream({ name: stream, subjects: [`filter.${id}.>`] })
      const run = (filterSubjects: ReadonlyArray<string>, ackWaitMillis: number, n: number) =>
        bus.consume({ stream, durable: "the0-runtime", filterSubjects, ackWaitMillis }).pipe(
          Stream.tap((m) => m.ack),
          Stream.map((m) => `${m.sequence}:${text(m)}`),
          Stream.take(n),
          Stream.runCollect,
          Effect.timeout("10 seconds"),
          Effect.map(Chunk.toReadonlyArray)
        )
      for (const [suffix, data] of [
        ["bot.created", "a"],
        ["bot-schedule.created", "b"],
        ["bot.updated", "c"]
      ] as const) {
        yield* bus.publish(`filter.${id}.${suffix}`, bytes(data))
      }
      expect(yield* run([`filter.${id}.bot.*`], 30_000, 1)).toEqual(["1:a"])
      yield* bus.publish(`filter.${id}.bot-schedule.updated`, bytes("d"))
      // The position is kept: the wider filter goes on from the last delivered message, so b (skipped by nothing
      // yet) comes first, as with the memory bus.
      expect(yield* run([`filter.${id}.bot.*`, `filter.${id}.bot-schedule.*`], 60_000, 2)).toEqual(["2:b", "3:c"])
      const jsm = yield* Effect.flatMap(rawClient, (nc) => Effect.tryPromise(() => jetstreamManager(nc)))
      const info = yield* Effect.tryPromise(() => jsm.consumers.info(stream, "the0-runtime"))
      expect(info.config.ack_wait).toBe(60_000 * 1_000_000)
      expect(info.config.filter_subjects).toEqual([`filter.${id}.bot.*`, `filter.${id}.bot-schedule.*`])
      yield* bus.publish(`filter.${id}.other`, bytes("e"))
      expect(yield* run([], 60_000, 2)).toEqual(["4:d", "5:e"])
    }).pipe(Effect.provide(live))
  )

  it.scopedLive("does not fail while the server is unreachable at start, and stops promptly", () =>
    Effect.gen(function* () {
      const building = yield* Effect.fork(
        Effect.scoped(Layer.build(NatsEventBus.layer({ servers: "nats://127.0.0.1:1" })))
      )
      yield* Effect.sleep("1500 millis")
      expect(building.unsafePoll()).toBeNull()
      const stopped = yield* Fiber.interrupt(building).pipe(Effect.timeout("2 seconds"))
      expect(Exit.isInterrupted(stopped)).toBe(true)
    })
  )

  it.effect("reads NATS_URL and names it when it is missing or invalid", () =>
    Effect.gen(function* () {
      const fromEnv = (env: Record<string, string>) =>
        Effect.withConfigProvider(NatsEventBus.configFromEnv, ConfigProvider.fromMap(new Map(Object.entries(env))))
      expect(yield* fromEnv({ NATS_URL: "nats://nats:4222", NATS_NAME: "ctl" })).toEqual({
        servers: "nats://nats:4222",
        name: "ctl"
      })
      expect((yield* fromEnv({ NATS_URL: "a:4222, tls://b:4222" })).servers).toBe("a:4222, tls://b:4222")
      for (const [value, expected] of [
        [undefined, "NATS_URL is required"],
        ["", "NATS_URL is required"],
        ["http://nats:4222", 'NATS_URL "http://nats:4222" is not a valid NATS URL'],
        ["nats://", "NATS_URL"],
        ["nats://nats:99999", "NATS_URL"]
      ] as const) {
        const result = yield* Effect.either(fromEnv(value === undefined ? {} : { NATS_URL: value }))
        expect(Either.isLeft(result) && result.left.message).toContain(expected)
      }
    })
  )
})
