/**
 * JetStream durable consumption: the durable created or brought to its configuration (filter, ack wait), pulled
 * `prefetch` messages at a time, each handed out with its ack and nak, and the stream failing with `EventBusError`
 * when the consumer cannot go on (deleted, connection closed), never ending silently.
 */
import {
  AckPolicy,
  type ConsumerInfo,
  type ConsumerMessages,
  type ConsumerNotification,
  DeliverPolicy,
  JetStreamApiCodes,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type ConsumerConfig as NatsConsumerConfig
} from "@nats-io/jetstream"
import { Effect, Option, Stream } from "effect"
import type { ConsumerConfig, DurableMessage, EventBusError } from "../../services/EventBus.ts"
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

const filterOf = (config: Partial<NatsConsumerConfig>): ReadonlyArray<string> =>
  config.filter_subjects ??
  (config.filter_subject === undefined || config.filter_subject === "" ? [] : [config.filter_subject])

const nanos = (millis: number): number => millis * 1_000_000

const defaultAckWaitMillis = 30_000

export interface DurableConsumerDeps {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** How many messages a pull asks for at a time. */
  readonly prefetch: number
  /** Fails at once unless the connection is up. */
  readonly online: (operation: string) => Effect.Effect<void, EventBusError>
}

/** `consume` of the EventBus port over JetStream. */
export const makeConsume = ({
  js,
  jsm,
  prefetch,
  online
}: DurableConsumerDeps): ((config: ConsumerConfig) => Stream.Stream<DurableMessage, EventBusError>) => {
  /** The durable as configured: created (where `deliverFrom` says) when missing, its filter and ack wait updated. */
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
        filter.length === 1 ? { filter_subject: filter[0] ?? "" } : filter.length > 1 ? { filter_subjects: filter } : {}
      if (Option.isNone(existing)) {
        // Concurrent creators send the same configuration, which the server accepts as the same consumer.
        return yield* call(
          "consume",
          (): Promise<ConsumerInfo> =>
            jsm.consumers.add(config.stream, {
              durable_name: config.durable,
              ack_policy: AckPolicy.Explicit,
              deliver_policy: config.deliverFrom === "new" ? DeliverPolicy.New : DeliverPolicy.All,
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

  return consume
}
