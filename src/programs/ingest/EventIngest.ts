/**
 * The NATS → store sync (controller spec §3): the six lifecycle subjects, applied in order, then the key is
 * handed to its controller at once. With the JetStream stream THE0_EVENTS present, a durable consumer replays
 * what was published while we were away and a message is acked only once applied; without it, core queue
 * subscriptions in group `runtime`. A failing write is retried with backoff, never dropped; an event that can
 * never apply (bad JSON, no id) is reported and let go. Ingest runs on every replica; a replica that is not the
 * leader tells the leader through a reconcile request on `the0.runtime.reconcile` (see Manager).
 */
import { Effect, Option, Schedule, type Scope, Stream } from "effect"
import { botSubjects, type EventTarget, eventsStream, queueGroup, scheduleSubjects } from "../../domain/BotEvent.ts"
import type { BotStore } from "../../services/BotStore.ts"
import { EventBus } from "../../services/EventBus.ts"
import { Metrics } from "../Metrics.ts"
import { type Applied, applyEvent } from "./ApplyEvent.ts"

export const durableName = "the0-runtime"
export const subjects: ReadonlyArray<string> = [...botSubjects, ...scheduleSubjects]

export type Notify = (target: EventTarget, id: string) => Effect.Effect<void>

/**
 * How long a delivered event may stay unacked. Short, because an event handed to a replica that then dies waits
 * this long before it is redelivered to another; in-place retries stay well inside it.
 */
export const ackWaitMillis = 8_000

/** How long a durable delivery may be retried in place before it is nak'ed for redelivery. */
const inPlaceRetry = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.upTo("4 seconds")
)
const foreverRetry = Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))

export const run = (notify: Notify): Effect.Effect<void, never, EventBus | BotStore | Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const metrics = yield* Metrics

    /** Applies one event; `retry` bounds the retries of transient store failures. */
    const handle = (subject: string, data: Uint8Array, retry: Schedule.Schedule<unknown, unknown>) =>
      applyEvent(subject, data).pipe(
        Effect.retry({ schedule: retry, while: (e) => e._tag === "BotStoreError" }),
        Effect.tap((applied: Applied) =>
          Effect.sync(() => metrics.events.inc({ subject, outcome: applied.outcome })).pipe(
            Effect.andThen(notify(applied.target, applied.id)),
            Effect.andThen(Effect.logDebug(`${subject} ${applied.id}: ${applied.outcome}`))
          )
        ),
        Effect.map(() => "applied" as const),
        Effect.catchTags({
          DocumentDecodeError: (e) =>
            Effect.as(
              Effect.sync(() => metrics.events.inc({ subject, outcome: "rejected" })).pipe(
                Effect.andThen(Effect.logWarning(`rejected event: ${e.message}`))
              ),
              "rejected" as const
            ),
          UnknownSubject: (e) => Effect.as(Effect.logWarning(e.message), "rejected" as const)
        })
      )

    const durable = bus
      .consume({ stream: eventsStream, durable: durableName, filterSubjects: subjects, ackWaitMillis: ackWaitMillis })
      .pipe(
        Stream.runForEach((message) =>
          handle(message.subject, message.data, inPlaceRetry).pipe(
            Effect.matchEffect({
              onSuccess: () => message.ack,
              onFailure: (error) =>
                Effect.sync(() => metrics.events.inc({ subject: message.subject, outcome: "retry" })).pipe(
                  Effect.andThen(Effect.logWarning(`event not applied yet, will be redelivered: ${error.message}`)),
                  Effect.andThen(message.nak(5_000))
                )
            })
          )
        )
      )

    const core = Stream.mergeAll(
      subjects.map((subject) => bus.subscribe(subject, { queue: queueGroup })),
      { concurrency: "unbounded" }
    ).pipe(Stream.runForEach((message) => Effect.ignore(handle(message.subject, message.data, foreverRetry))))

    const consume = Effect.gen(function* () {
      const stream = yield* bus.streamInfo(eventsStream)
      if (Option.isSome(stream)) {
        yield* Effect.logInfo(`consuming JetStream stream ${eventsStream} with durable consumer ${durableName}`)
        return yield* durable
      }
      yield* Effect.logWarning(
        `JetStream stream ${eventsStream} not found; using core subscriptions (queue group ${queueGroup})`
      )
      return yield* core
    })

    yield* consume.pipe(
      Effect.tapError((e) => Effect.logWarning(`event ingest interrupted, reconnecting: ${e.message}`)),
      Effect.retry(foreverRetry),
      Effect.forkScoped
    )
  })
