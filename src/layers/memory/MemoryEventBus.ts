/**
 * An in-memory EventBus that behaves like NATS core plus JetStream, for tests, benchmarks and the embedded mode.
 *
 * Core: subjects are `.`-separated tokens, `*` matches one token and `>` one or more trailing tokens; a subscription
 * sees only messages published after it started; each queue group (by name) gets a message once, handed to one of
 * its members at random, as NATS does. JetStream: a stream stores every message published to its subjects, numbered from 1; a durable
 * consumer keeps its position and its unacked (pending) messages between runs, redelivers a message when its ack wait
 * runs out or when it is nak'ed, and shares its messages among concurrent runs.
 *
 * Faults come through `MemoryEventBusControl`: while disconnected, publish and the JetStream calls fail, core messages
 * published by other clients are lost to this client's subscriptions (streams still store them), and durable
 * deliveries pause; a closed connection fails every running stream and never comes back.
 */
import { Chunk, Clock, Context, Deferred, Effect, Layer, Option, Queue, Ref, Stream } from "effect"
import {
  type ConnectionState,
  type ConsumerConfig,
  type DurableMessage,
  EventBus,
  EventBusError,
  type EventBusService,
  type Message,
  type StreamConfig,
  type StreamInfo
} from "../../services/EventBus.ts"
import {
  claim,
  consumerPosition,
  error,
  initial,
  offline,
  overlaps,
  route,
  type State,
  tokens,
  validName,
  validSubject,
  withDurable
} from "./MemoryEventBusState.ts"

export const defaultAckWaitMillis = 30_000

export interface MemoryEventBusControlService {
  /** Loses the connection: state `reconnecting` until `reconnect`. */
  readonly disconnect: Effect.Effect<void>
  readonly reconnect: Effect.Effect<void>
  /** Closes the connection for good (what NATS does when reconnect attempts run out). */
  readonly close: Effect.Effect<void>
  /** Publishes as another client (e.g. the API) would: succeeds whatever this client's connection state is. */
  readonly publishAsPeer: (subject: string, data: Uint8Array) => Effect.Effect<void, EventBusError>
}

export class MemoryEventBusControl extends Context.Tag("the0/MemoryEventBusControl")<
  MemoryEventBusControl,
  MemoryEventBusControlService
>() {}

export const makeWithControl: Effect.Effect<{
  readonly bus: EventBusService
  readonly control: MemoryEventBusControlService
}> = Effect.gen(function* () {
  const state = yield* Ref.make(initial)
  /** Completed (and replaced) whenever a waiting durable consumer may have something new to claim. */
  const wake = yield* Ref.make(yield* Deferred.make<void>())
  const closed = yield* Deferred.make<never, EventBusError>()

  const signal = Deferred.make<void>().pipe(
    Effect.flatMap((next) => Ref.getAndSet(wake, next)),
    Effect.flatMap((previous) => Deferred.succeed(previous, undefined))
  )

  /** Applies `f` atomically: it returns the result and the new state, or an error and leaves the state alone. */
  const transact = <A>(f: (s: State) => EventBusError | readonly [A, State]): Effect.Effect<A, EventBusError> =>
    Effect.flatten(
      Ref.modify(state, (s): readonly [Effect.Effect<A, EventBusError>, State] => {
        const result = f(s)
        return result instanceof EventBusError ? [Effect.fail(result), s] : [Effect.succeed(result[0]), result[1]]
      })
    )

  const publishFrom = (asPeer: boolean) => (subject: string, data: Uint8Array) =>
    Effect.gen(function* () {
      if (!validSubject(subject, false)) return yield* error("publish", `invalid subject "${subject}"`)
      const message: Message = { subject, data: data.slice() }
      const [targets, stored] = yield* transact((s) => {
        const failure = asPeer ? undefined : offline(s, "publish")
        if (failure !== undefined) return failure
        const [targets, next, stored] = route(s, message, s.connection === "connected", (n) =>
          Math.floor(Math.random() * n)
        )
        return [[targets, stored] as const, next]
      })
      yield* Effect.forEach(targets, (t) => Queue.offer(t.inbox, { subject, data: message.data.slice() }), {
        discard: true
      })
      if (stored) yield* signal
    })

  const untilClosed = <A>(stream: Stream.Stream<A, EventBusError>) =>
    Stream.interruptWhen(stream, Deferred.await(closed))

  const subscribe = (subject: string, options?: { readonly queue?: string }): Stream.Stream<Message, EventBusError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        if (!validSubject(subject, true)) return yield* error("subscribe", `invalid subject "${subject}"`)
        const inbox = yield* Queue.unbounded<Message>()
        yield* Effect.acquireRelease(
          transact((s) =>
            s.connection === "closed"
              ? error("subscribe", "connection closed")
              : [
                  s.nextId,
                  {
                    ...s,
                    nextId: s.nextId + 1,
                    subscribers: [
                      ...s.subscribers,
                      { id: s.nextId, pattern: tokens(subject), queue: options?.queue, inbox }
                    ]
                  }
                ]
          ),
          (id) => Ref.update(state, (s) => ({ ...s, subscribers: s.subscribers.filter((sub) => sub.id !== id) }))
        )
        return untilClosed(Stream.fromQueue(inbox))
      })
    )

  const ensureStream = (config: StreamConfig) =>
    transact((s) => {
      const failure = offline(s, "ensureStream")
      if (failure !== undefined) return failure
      if (!validName(config.name)) return error("ensureStream", `invalid stream name "${config.name}"`)
      const subjects = config.subjects.length > 0 ? config.subjects : [config.name]
      const invalid = subjects.find((subject) => !validSubject(subject, true))
      if (invalid !== undefined) return error("ensureStream", `invalid subject "${invalid}"`)
      for (const [name, other] of s.streams) {
        const clash =
          name !== config.name && other.subjects.find((a) => subjects.some((b) => overlaps(tokens(a), tokens(b))))
        if (clash) return error("ensureStream", `subjects of ${config.name} overlap ${clash} of stream ${name}`)
      }
      const log = s.streams.get(config.name)?.log ?? Chunk.empty()
      const maxAgeMillis = config.maxAgeMillis ?? 0
      return [undefined, { ...s, streams: new Map(s.streams).set(config.name, { subjects, log, maxAgeMillis }) }]
    })

  const streamInfo = (name: string) =>
    transact((s) => {
      const found = Option.map(
        Option.fromNullable(s.streams.get(name)),
        ({ subjects, log, maxAgeMillis }): StreamInfo => ({
          name,
          subjects,
          lastSequence: Chunk.size(log),
          maxAgeMillis
        })
      )
      return offline(s, "streamInfo") ?? [found, s]
    })

  const consumerState = (stream: string, durable: string) =>
    transact((s) => {
      const found = Option.map(Option.fromNullable(s.durables.get(`${stream}.${durable}`)), (d) =>
        consumerPosition(s, d)
      )
      return offline(s, "consumerState") ?? [found, s]
    })

  const settle = (key: string, sequence: number, operation: "ack" | "nak", delayMillis: number | undefined) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* transact((s) => {
        const failure = offline(s, operation)
        if (failure !== undefined) return failure
        const durable = s.durables.get(key)
        const pending = durable?.pending.get(sequence)
        if (durable === undefined || pending === undefined) return [undefined, s]
        const next = new Map(durable.pending)
        if (operation === "ack") next.delete(sequence)
        else next.set(sequence, { ...pending, due: now + (delayMillis ?? 0) })
        return [undefined, withDurable(s, key, { ...durable, pending: next })]
      })
      yield* signal
    })

  const next = (key: string): Effect.Effect<DurableMessage> =>
    Effect.gen(function* () {
      for (;;) {
        const woken = yield* Ref.get(wake)
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* Ref.modify(state, (s) => claim(s, key, now))
        if (claimed._tag === "Deliver") {
          const { message, deliveries } = claimed
          return {
            subject: message.subject,
            data: message.data.slice(),
            sequence: message.sequence,
            deliveryCount: deliveries,
            ack: settle(key, message.sequence, "ack", undefined),
            nak: (delayMillis?: number) => settle(key, message.sequence, "nak", delayMillis)
          }
        }
        const wait = Deferred.await(woken)
        yield* claimed.due === undefined ? wait : Effect.race(wait, Effect.sleep(claimed.due - now))
      }
    })

  const consume = (config: ConsumerConfig): Stream.Stream<DurableMessage, EventBusError> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const key = `${config.stream}.${config.durable}`
        yield* transact((s) => {
          const failure = offline(s, "consume")
          if (failure !== undefined) return failure
          if (!validName(config.durable)) return error("consume", `invalid durable name "${config.durable}"`)
          const stream = s.streams.get(config.stream)
          if (stream === undefined) return error("consume", `stream ${config.stream} not found`)
          const filter = config.filterSubjects ?? []
          const stray = filter.find(
            (f) => !validSubject(f, true) || !stream.subjects.some((p) => overlaps(tokens(p), tokens(f)))
          )
          if (stray !== undefined)
            return error("consume", `filter subject "${stray}" is not in stream ${config.stream}`)
          const previous = s.durables.get(key)
          return [
            undefined,
            withDurable(s, key, {
              stream: config.stream,
              filter: filter.map(tokens),
              ackWaitMillis: config.ackWaitMillis ?? defaultAckWaitMillis,
              cursor: previous?.cursor ?? (config.deliverFrom === "new" ? Chunk.size(stream.log) : 0),
              pending: previous?.pending ?? new Map()
            })
          ]
        })
        return untilClosed(Stream.repeatEffect(next(key)))
      })
    )

  const setConnection = (connection: ConnectionState) =>
    Ref.update(state, (s) => (s.connection === "closed" ? s : { ...s, connection }))

  const bus: EventBusService = {
    publish: publishFrom(false),
    subscribe,
    ensureStream,
    streamInfo,
    consumerState,
    consume,
    connectionState: Effect.map(Ref.get(state), (s) => s.connection)
  }
  const control: MemoryEventBusControlService = {
    disconnect: setConnection("reconnecting"),
    reconnect: Effect.zipRight(setConnection("connected"), signal),
    close: Ref.update(state, (s): State => ({ ...s, connection: "closed" })).pipe(
      Effect.zipRight(Deferred.fail(closed, error("connection", "closed"))),
      Effect.asVoid
    ),
    publishAsPeer: publishFrom(true)
  }
  return { bus, control }
})

export const make: Effect.Effect<EventBusService> = Effect.map(makeWithControl, ({ bus }) => bus)

export const layer: Layer.Layer<EventBus> = Layer.effect(EventBus, make)

export const layerWithControl: Layer.Layer<EventBus | MemoryEventBusControl> = Layer.effectContext(
  Effect.map(makeWithControl, ({ bus, control }) =>
    Context.make(EventBus, bus).pipe(Context.add(MemoryEventBusControl, control))
  )
)
