/**
 * The EventBus port over NATS: core publish and (queue) subscriptions through `@nats-io/transport-node`, streams
 * and durable pull consumers with explicit acks through `@nats-io/jetstream` (controller spec §3).
 *
 * The connection is what the0's is not (spec §3.1): it reconnects forever, with a backoff that grows with the
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
 */
import {
  AckPolicy,
  type ConsumerInfo,
  type ConsumerMessages,
  type ConsumerNotification,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type ConsumerConfig as NatsConsumerConfig
} from "@nats-io/jetstream"
import { connect, type NatsConnection, type Status, type Subscription } from "@nats-io/transport-node"
import { Data, Duration, Effect, Layer, Option, Ref, Schedule, type Scope, Stream } from "effect"
import {
  type ConnectionState,
  type ConsumerConfig,
  type DurableMessage,
  EventBus,
  EventBusError,
  type EventBusService,
  type Message,
  type StreamConfig
} from "../../services/EventBus.ts"

/** A missing or malformed NATS setting; the message names the setting (`NATS_URL is required`). */
export class NatsConfigError extends Data.TaggedError("NatsConfigError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export interface NatsConfig {
  /** One server URL or several separated by commas (`nats://host:4222`, `tls://host:4222` or `host:port`). */
  readonly servers: string
  /** The client name the server shows in its connection list. */
  readonly name?: string
  /**
   * How many messages a durable consumer asks for at a time (default 1: a message is fetched when the caller
   * asks for the next one, so none waits in a buffer while its ack wait runs).
   */
  readonly prefetch?: number
}

/** Timeout of connection attempts, JetStream API calls and acks. */
const requestTimeoutMillis = 5_000
/** How long shutdown waits for the connection to drain before closing it. */
const drainDeadline = Duration.seconds(5)

const schemes = new Set(["nats:", "tls:"])

/** Checks a comma-separated server list; `setting` names it in the message (`NATS_URL`). */
export const parseServers = (
  servers: string,
  setting: string
): Effect.Effect<ReadonlyArray<string>, NatsConfigError> => {
  const bad = (why: string) =>
    Effect.fail(
      new NatsConfigError({ detail: `${setting} ${JSON.stringify(servers)} is not a valid NATS URL: ${why}` })
    )
  const list = servers
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
  if (list.length === 0) return bad("no server")
  for (const server of list) {
    let url: URL
    try {
      url = new URL(server.includes("://") ? server : `nats://${server}`)
    } catch {
      return bad(`cannot parse ${JSON.stringify(server)}`)
    }
    if (!schemes.has(url.protocol)) return bad(`scheme ${url.protocol} is not nats:// or tls://`)
    if (url.hostname === "") return bad(`no host in ${JSON.stringify(server)}`)
    if (url.pathname !== "" && url.pathname !== "/") return bad(`a path in ${JSON.stringify(server)}`)
  }
  return Effect.succeed(list)
}

/** Reads `NATS_URL` (the0's variable) and our `NATS_NAME`; a missing or invalid URL is an error naming it. */
export const configFromEnv = (
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<NatsConfig, NatsConfigError> => {
  const servers = env.NATS_URL ?? ""
  if (servers.trim() === "") return Effect.fail(new NatsConfigError({ detail: "NATS_URL is required" }))
  const name = env.NATS_NAME ?? ""
  return Effect.as(parseServers(servers, "NATS_URL"), { servers, ...(name === "" ? {} : { name }) })
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const failure =
  (operation: string) =>
  (cause: unknown): EventBusError =>
    new EventBusError({ operation, detail: describe(cause), cause })

const fail = (operation: string, detail: string) => Effect.fail(new EventBusError({ operation, detail }))

/** A JetStream API call, its rejection (or synchronous throw, e.g. an invalid name) as `EventBusError`. */
const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, EventBusError> =>
  Effect.tryPromise({ try: f, catch: failure(operation) })

const isApiError = (error: EventBusError, code: number): boolean =>
  error.cause instanceof JetStreamApiError && error.cause.code === code

/** Subjects are `.`-separated non-empty tokens; `*` and `>` are wildcards only as whole tokens, `>` only last. */
const validSubject = (subject: string, wildcards: boolean): boolean =>
  subject
    .split(".")
    .every(
      (token, i, all) =>
        token.length > 0 &&
        !/\s/.test(token) &&
        (wildcards ? token !== ">" || i === all.length - 1 : token !== "*" && token !== ">")
    )

/**
 * Reads an async iterator without ever calling `return()`: the client's iterators are async generators, whose
 * `return()` waits behind a pending `next()` (that is, until the next message). The source is ended by closing
 * it (unsubscribe, stop), which the caller's finalizer does.
 */
const fromIterator = <A>(iterable: AsyncIterable<A>, onError: (cause: unknown) => EventBusError) =>
  Stream.suspend(() => {
    const iterator = iterable[Symbol.asyncIterator]()
    return Stream.repeatEffectOption(
      Effect.tryPromise({ try: () => iterator.next(), catch: (cause) => Option.some(onError(cause)) }).pipe(
        Effect.flatMap((result) => (result.done === true ? Effect.fail(Option.none()) : Effect.succeed(result.value)))
      )
    )
  })

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

const sameSubjects = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  a.length === b.length && a.every((s, i) => s === b[i])

const filterOf = (config: Partial<NatsConsumerConfig>): ReadonlyArray<string> =>
  config.filter_subjects ??
  (config.filter_subject === undefined || config.filter_subject === "" ? [] : [config.filter_subject])

const nanos = (millis: number): number => millis * 1_000_000

const defaultAckWaitMillis = 30_000

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

    const streamNotFound = (e: EventBusError) => isApiError(e, JetStreamApiCodes.StreamNotFound)

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
          yield* call("ensureStream", () => jsm.streams.add({ name: config.name, subjects }))
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
          Effect.map((info) => Option.some<StreamConfig>({ name, subjects: info.config.subjects ?? [] })),
          Effect.catchIf(streamNotFound, () => Effect.succeedNone)
        )
      )

    /** The durable as configured: created (from the stream's start) when missing, its filter and ack wait updated. */
    const ensureConsumer = (config: ConsumerConfig) =>
      Effect.gen(function* () {
        const filter = [...(config.filterSubjects ?? [])]
        const invalid = filter.find((s) => !validSubject(s, true))
        if (invalid !== undefined) return yield* fail("consume", `invalid filter subject "${invalid}"`)
        const ackWait = nanos(config.ackWaitMillis ?? defaultAckWaitMillis)
        const existing = yield* call("consume", () => jsm.consumers.info(config.stream, config.durable)).pipe(
          Effect.asSome,
          Effect.catchIf(
            (e) => isApiError(e, JetStreamApiCodes.ConsumerNotFound),
            () => Effect.succeedNone
          ),
          Effect.catchIf(streamNotFound, () => fail("consume", `stream ${config.stream} not found`))
        )
        const filterConfig =
          filter.length === 1
            ? { filter_subject: filter[0] ?? "" }
            : filter.length > 1
              ? { filter_subjects: filter }
              : {}
        if (Option.isNone(existing)) {
          // Concurrent creators send the same configuration, which the server accepts as the same consumer.
          return yield* call(
            "consume",
            (): Promise<ConsumerInfo> =>
              jsm.consumers.add(config.stream, {
                durable_name: config.durable,
                ack_policy: AckPolicy.Explicit,
                deliver_policy: DeliverPolicy.All,
                ack_wait: ackWait,
                ...filterConfig
              })
          )
        }
        const current = existing.value.config
        if (current.ack_wait === ackWait && sameSubjects(filterOf(current), filter)) return existing.value
        yield* Effect.logInfo(`JetStream consumer ${config.stream}/${config.durable}: updating filter and ack wait`)
        return yield* call("consume", () =>
          jsm.consumers.update(config.stream, config.durable, {
            ack_wait: ackWait,
            filter_subject: "",
            filter_subjects: filter
          })
        )
      })

    const settle = (operation: "ack" | "nak", f: () => Promise<unknown>) =>
      Effect.zipRight(online(operation), call(operation, f))

    const durableMessage = (m: JsMsg): DurableMessage => ({
      subject: m.subject,
      data: m.data,
      sequence: m.seq,
      deliveryCount: m.info.deliveryCount,
      // Confirmed by the server (false means acked before, which is fine); a lost ack fails here.
      ack: settle("ack", () => m.ackAck({ timeout: requestTimeoutMillis })),
      nak: (delayMillis?: number) =>
        settle("nak", async () => {
          m.nak(delayMillis)
        })
    })

    /** Fails on a notification after which the consumer cannot deliver until it is recreated; logs the worrying ones. */
    const watch = (notification: ConsumerNotification): Effect.Effect<void, EventBusError> => {
      switch (notification.type) {
        case "consumer_deleted":
          return fail("consume", `consumer deleted: ${notification.description}`)
        case "heartbeats_missed":
          return Effect.logWarning(`JetStream consumer missed ${notification.count} heartbeats; re-pulling`)
        case "no_responders":
          return Effect.logWarning("JetStream did not answer a pull request (no responders)")
        case "exceeded_limits":
          return Effect.logWarning(`JetStream pull request refused: ${notification.description}`)
        default:
          return Effect.void
      }
    }

    const consume = (config: ConsumerConfig): Stream.Stream<DurableMessage, EventBusError> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          yield* online("consume")
          yield* ensureConsumer(config)
          const consumer = yield* call("consume", () => js.consumers.get(config.stream, config.durable))
          const messages: ConsumerMessages = yield* Effect.acquireRelease(
            call("consume", () => consumer.consume({ max_messages: prefetch, abort_on_missing_resource: true })),
            // stop() unsubscribes at once; close() would also wait for the iterator to be read to its end.
            (ms) => Effect.sync(() => ms.stop())
          )
          const watcher = fromIterator(messages.status(), failure("consume")).pipe(
            Stream.runForEach(watch),
            Effect.zipRight(Effect.never)
          )
          const ended = call("consume", () => messages.closed()).pipe(
            Effect.flatMap((error) =>
              fail(
                "consume",
                `consumer ${config.stream}/${config.durable} stopped: ${error === undefined ? "connection closed" : error.message}`
              )
            )
          )
          return fromIterator(messages, failure("consume")).pipe(
            Stream.map(durableMessage),
            Stream.concat(Stream.fromEffect(ended)),
            Stream.interruptWhen(watcher)
          )
        })
      )

    return {
      publish,
      subscribe,
      ensureStream,
      streamInfo,
      consume,
      connectionState: Ref.get(state)
    } satisfies EventBusService
  })

export const layer = (config: NatsConfig): Layer.Layer<EventBus, NatsConfigError> =>
  Layer.scoped(EventBus, make(config))

/** The bus configured from `process.env` (`NATS_URL`), failing with a message naming it when missing or invalid. */
export const layerFromEnv: Layer.Layer<EventBus, NatsConfigError> = Layer.scoped(
  EventBus,
  Effect.flatMap(
    Effect.suspend(() => configFromEnv(process.env)),
    make
  )
)
