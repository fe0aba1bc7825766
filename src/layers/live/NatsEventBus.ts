/**
 * The EventBus port over NATS: core publish and (queue) subscriptions through `@nats-io/transport-node`, streams
 * and durable pull consumers with explicit acks through `@nats-io/jetstream` (docs/contracts.md, "NATS subjects").
 *
 * The connection is what the0's is not (docs/contracts.md, "NATS subjects"): it reconnects forever, with a backoff that grows with the
 * length of the outage (250 ms up to 5 s, with jitter), pings every 20 s so a half-open socket is noticed within a
 * minute, and a server that is down at start delays the layer (retrying, interruptibly) instead of failing the
 * process. Its state (`connected`, `reconnecting`, `closed`) follows the client's status events and is what
 * `connectionState` reports, for health and metrics.
 *
 * Semantics follow the in-memory bus: while not connected, `publish`, the JetStream calls and acks fail at once
 * (core messages are at-most-once; the caller decides); subscriptions and durable consumers survive a reconnect
 * (the client re-subscribes and re-pulls) and fail with `EventBusError` when they cannot go on (connection closed,
 * consumer or stream deleted), never ending silently. A durable consumer is pulled one message at a time by
 * default, so a message is handed out only when the caller asks for it and its ack wait starts then.
 *
 * Its parts: `NatsConfig` (settings), `NatsCalls` (the client as Effects), `NatsDurableConsumer` (JetStream
 * durable consumption).
 */
import {
  JetStreamApiCodes,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager
} from "@nats-io/jetstream"
import { connect, type NatsConnection, type Status, type Subscription } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Option, Ref, Schedule, type Scope, Stream } from "effect"
import {
  type ConnectionState,
  type ConsumerState,
  EventBus,
  EventBusError,
  type EventBusService,
  type Message,
  type StreamConfig,
  type StreamInfo
} from "../../services/EventBus.ts"
import {
  call,
  fail,
  failure,
  fromIterator,
  isApiError,
  requestTimeoutMillis,
  sameSubjects,
  streamNotFound,
  validSubject
} from "./NatsCalls.ts"
import { configFromEnv, type NatsConfig, type NatsConfigError, parseServers } from "./NatsConfig.ts"
import { makeConsume } from "./NatsDurableConsumer.ts"

export { configFromEnv, type NatsConfig, NatsConfigError, parseServers } from "./NatsConfig.ts"

/** How long shutdown waits for the connection to drain before closing it. */
const drainDeadline = Duration.seconds(5)

/**
 * The reconnect delay: half the time the connection has been down so far, between 250 ms and 5 s, plus up to 50%
 * jitter. Called by the client's dial loop (also between attempts), reset on reconnect.
 */
const reconnectBackoff = () => {
  let since: number | undefined
  return {
    delay: (): number => {
      const now = Date.now()
      since ??= now
      const base = Math.min(5_000, Math.max(250, (now - since) / 2))
      return Math.round(base * (1 + Math.random() / 2))
    },
    reset: (): void => {
      since = undefined
    }
  }
}

/** Between attempts of the first connection: 250 ms doubling up to 5 s, jittered. */
const firstConnectSchedule = Schedule.exponential("250 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 seconds"))
)

export const make = (config: NatsConfig): Effect.Effect<EventBusService, NatsConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const servers = yield* parseServers(config.servers, "NATS servers")
    const prefetch = Math.max(1, Math.floor(config.prefetch ?? 1))
    const backoff = reconnectBackoff()

    // The status iterator is taken as soon as the connection exists, so that no status event is missed.
    const connectOnce = Effect.tryPromise({
      try: () =>
        connect({
          servers: [...servers],
          ...(config.name === undefined ? {} : { name: config.name }),
          maxReconnectAttempts: -1,
          // By default two authentication failures in a row close the connection for good; we keep trying.
          ignoreAuthErrorAbort: true,
          reconnectDelayHandler: backoff.delay,
          pingInterval: 20_000,
          maxPingOut: 3,
          timeout: requestTimeoutMillis
        }).then((nc) => ({ nc, statuses: nc.status() })),
      catch: failure("connect")
    })

    /** Drains (bounded), then closes; both are no-ops on a closed connection. */
    const shutdown = (nc: NatsConnection) =>
      Effect.gen(function* () {
        if (nc.isClosed()) return
        // Finalizers are uninterruptible: the promise is made interruptible so that the deadline can cut it.
        yield* call("drain", () => nc.drain()).pipe(
          Effect.interruptible,
          Effect.timeoutFail({
            duration: drainDeadline,
            onTimeout: () => new EventBusError({ operation: "drain", detail: "timed out" })
          }),
          Effect.catchAll((e) => Effect.logDebug(`NATS drain: ${e.message}; closing`))
        )
        yield* call("close", () => nc.close()).pipe(Effect.interruptible, Effect.timeout(drainDeadline), Effect.ignore)
      })

    // Each attempt is acquired uninterruptibly (a connection that is being set up is closed, never leaked); the
    // waits between attempts are interruptible, so shutting down while the server is unreachable is prompt.
    const { nc, statuses } = yield* Effect.acquireRelease(connectOnce, ({ nc }) => shutdown(nc)).pipe(
      Effect.tapError((e) => Effect.logWarning(`NATS ${servers.join(",")} unreachable, retrying: ${e.message}`)),
      Effect.retry(firstConnectSchedule),
      Effect.orDie // the schedule never ends
    )
    backoff.reset()
    yield* Effect.logInfo(`NATS connected to ${nc.getServer()}`)

    const state = yield* Ref.make<ConnectionState>("connected")
    const setState = (next: ConnectionState) => Ref.update(state, (s) => (s === "closed" ? s : next))

    const onStatus = (status: Status): Effect.Effect<void> => {
      switch (status.type) {
        case "disconnect":
          return Effect.zipRight(setState("reconnecting"), Effect.logWarning(`NATS disconnected from ${status.server}`))
        case "reconnecting":
          return setState("reconnecting")
        case "reconnect":
          return Effect.sync(backoff.reset).pipe(
            Effect.zipRight(setState("connected")),
            Effect.zipRight(Effect.logInfo(`NATS reconnected to ${status.server}`))
          )
        case "staleConnection":
          return Effect.logWarning("NATS connection stale (pings unanswered); reconnecting")
        case "ldm":
          return Effect.logInfo(`NATS server ${status.server} entering lame duck mode`)
        case "error":
          return Effect.logWarning(`NATS error: ${status.error.message}`)
        case "slowConsumer":
          return Effect.logWarning(`NATS slow consumer on ${status.sub.getSubject()}: ${status.pending} pending`)
        case "close":
          return Ref.set(state, "closed")
        default:
          return Effect.void
      }
    }
    yield* fromIterator(statuses, failure("status")).pipe(
      Stream.runForEach(onStatus),
      Effect.ignore,
      Effect.zipRight(call("closed", () => nc.closed()).pipe(Effect.ignore)),
      Effect.zipRight(Ref.set(state, "closed")),
      Effect.forkScoped
    )

    const js: JetStreamClient = jetstream(nc, { timeout: requestTimeoutMillis })
    const jsm: JetStreamManager = yield* call("jetstream", () =>
      jetstreamManager(nc, { timeout: requestTimeoutMillis, checkAPI: false })
    ).pipe(Effect.orDie)

    /** Fails at once unless connected, as the in-memory bus does (a request would wait for its timeout). */
    const online = (operation: string) =>
      Effect.flatMap(Ref.get(state), (s) => (s === "connected" ? Effect.void : fail(operation, `not connected (${s})`)))
    const notClosed = (operation: string) =>
      Effect.flatMap(Ref.get(state), (s) => (s === "closed" ? fail(operation, "connection closed") : Effect.void))

    const publish = (subject: string, data: Uint8Array) =>
      validSubject(subject, false)
        ? Effect.zipRight(
            online("publish"),
            Effect.try({ try: () => nc.publish(subject, data), catch: failure("publish") })
          )
        : fail("publish", `invalid subject "${subject}"`)

    const subscribe = (subject: string, options?: { readonly queue?: string }): Stream.Stream<Message, EventBusError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          if (!validSubject(subject, true)) return yield* fail("subscribe", `invalid subject "${subject}"`)
          yield* notClosed("subscribe")
          const sub: Subscription = yield* Effect.acquireRelease(
            Effect.try({
              try: () => nc.subscribe(subject, options?.queue === undefined ? {} : { queue: options.queue }),
              catch: failure("subscribe")
            }),
            (s) => Effect.try(() => s.unsubscribe()).pipe(Effect.ignore)
          )
          // As the0 does after subscribing: a round trip, so the server has the subscription before we go on.
          // While disconnected the client re-subscribes on reconnect, so there is nothing to wait for.
          yield* call("subscribe", () => nc.flush()).pipe(
            Effect.timeout(Duration.millis(requestTimeoutMillis)),
            Effect.ignore,
            Effect.whenEffect(Effect.map(Ref.get(state), (s) => s === "connected"))
          )
          const ended = call("subscribe", () => sub.closed).pipe(
            Effect.flatMap((error) =>
              fail(
                "subscribe",
                `subscription to ${subject} ended: ${error === undefined ? "connection closed" : error.message}`
              )
            )
          )
          return fromIterator(sub, failure("subscribe")).pipe(
            Stream.map((m): Message => ({ subject: m.subject, data: m.data })),
            Stream.concat(Stream.fromEffect(ended))
          )
        })
      )

    const ensureStream = (config: StreamConfig) =>
      Effect.gen(function* () {
        yield* online("ensureStream")
        const subjects = config.subjects.length > 0 ? [...config.subjects] : [config.name]
        const invalid = subjects.find((s) => !validSubject(s, true))
        if (invalid !== undefined) return yield* fail("ensureStream", `invalid subject "${invalid}"`)
        const existing = yield* call("ensureStream", () => jsm.streams.info(config.name)).pipe(
          Effect.asSome,
          Effect.catchIf(streamNotFound, () => Effect.succeedNone)
        )
        if (Option.isNone(existing)) {
          const maxAge = config.maxAgeMillis === undefined ? {} : { max_age: config.maxAgeMillis * 1_000_000 }
          yield* call("ensureStream", () => jsm.streams.add({ name: config.name, subjects, ...maxAge }))
          yield* Effect.logInfo(`JetStream stream ${config.name} created on ${subjects.join(", ")}`)
        } else if (!sameSubjects(existing.value.config.subjects ?? [], subjects)) {
          // update() merges into the current configuration: retention, storage, max age... are kept.
          yield* call("ensureStream", () => jsm.streams.update(config.name, { subjects }))
          yield* Effect.logInfo(`JetStream stream ${config.name} now on ${subjects.join(", ")}`)
        }
      })

    const streamInfo = (name: string) =>
      Effect.zipRight(
        online("streamInfo"),
        call("streamInfo", () => jsm.streams.info(name)).pipe(
          Effect.map((info) =>
            Option.some<StreamInfo>({
              name,
              subjects: info.config.subjects ?? [],
              lastSequence: info.state.last_seq,
              maxAgeMillis: Math.floor(info.config.max_age / 1_000_000)
            })
          ),
          Effect.catchIf(streamNotFound, () => Effect.succeedNone)
        )
      )

    const consumerState = (stream: string, durable: string) =>
      Effect.zipRight(
        online("consumerState"),
        call("consumerState", () => jsm.consumers.info(stream, durable)).pipe(
          Effect.map((info) =>
            Option.some<ConsumerState>({ ackFloor: info.ack_floor.stream_seq, pending: info.num_pending })
          ),
          Effect.catchIf(
            (e) => isApiError(e, JetStreamApiCodes.ConsumerNotFound) || streamNotFound(e),
            () => Effect.succeedNone
          )
        )
      )

    const consume = makeConsume({ js, jsm, prefetch, online })

    return {
      publish,
      subscribe,
      ensureStream,
      streamInfo,
      consumerState,
      consume,
      connectionState: Ref.get(state)
    } satisfies EventBusService
  })

export const layer = (config: NatsConfig): Layer.Layer<EventBus, NatsConfigError> =>
  Layer.scoped(EventBus, make(config))

/** The bus configured from the environment (`NATS_URL`), failing with a message naming it when missing or invalid. */
export const layerFromEnv: Layer.Layer<EventBus, NatsConfigError> = Layer.scoped(
  EventBus,
  Effect.flatMap(configFromEnv, make)
)
