/**
 * The NATS → store sync (docs/architecture.md, "Event ingest"; docs/contracts.md, "NATS subjects"): the six lifecycle subjects,
 * then the key is handed to its controller at once. With the JetStream stream THE0_EVENTS present, a durable
 * consumer delivers what was published while we were away, each event is applied in its bot's publish order
 * (OrderedApply.ts) and acked only once applied. A new durable starts at the stream's first message when the store
 * is empty (a fresh install: the history is the truth) and at its head when the store already holds documents (a
 * migration from the0's runtime, whose store already reflects the history). Until the durable's ack floor reaches
 * the head the stream had at start, ingest is catching up and the controllers do not act (see Manager).
 * Without the stream: core queue subscriptions in group `runtime`, applied as they come, nothing to catch up.
 * A failing write is retried with backoff, never dropped; an event that can never apply (bad JSON, no id) is
 * reported and let go. Ingest runs on every replica; a replica that is not the leader tells the leader through a
 * reconcile request on `the0.runtime.reconcile` (see Manager).
 *
 * Each event is an `ingest.event` span, its store write (with the retries of transient failures) an `ingest.apply`
 * span in it, and the reconcile of its key continues the trace (docs/operations.md, "Tracing").
 */
import { Clock, Deferred, Effect, Option, Schedule, type Scope, Stream } from "effect"
import { botSubjects, type EventTarget, eventsStream, queueGroup, scheduleSubjects } from "../../domain/BotEvent.ts"
import { BotStore } from "../../services/BotStore.ts"
import { EventBus } from "../../services/EventBus.ts"
import { Metrics } from "../Metrics.ts"
import * as Tracing from "../Tracing.ts"
import { type Applied, applyEvent, type Written } from "./ApplyEvent.ts"
import { applyOrdered } from "./OrderedApply.ts"

export const durableName = "the0-runtime"
export const subjects: ReadonlyArray<string> = [...botSubjects, ...scheduleSubjects]

/** Hands an applied key to its controller, with the document ingest wrote when it knows it. */
export type Notify = (target: EventTarget, id: string, written?: Written) => Effect.Effect<void>

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

/** How long ingest keeps an event's record past its receipt: the stream's max age and a day, 30 days for none. */
export const retentionOf = (maxAgeMillis: number): number =>
  maxAgeMillis > 0 ? maxAgeMillis + 86_400_000 : 30 * 86_400_000

export interface Ingest {
  /** True once the backlog the stream held at start is applied (at once without a stream). */
  readonly caughtUp: Effect.Effect<boolean>
  readonly awaitCaughtUp: Effect.Effect<void>
}

export const run = (
  notify: Notify,
  concurrency: number
): Effect.Effect<Ingest, never, EventBus | BotStore | Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const store = yield* BotStore
    const metrics = yield* Metrics
    const caughtUp = yield* Deferred.make<void>()
    const markCaughtUp = (head: number) =>
      Deferred.succeed(caughtUp, undefined).pipe(
        Effect.tap((first) =>
          first
            ? Effect.andThen(
                Effect.sync(() => metrics.ingestCaughtUp.set(1)),
                Effect.logInfo(`event ingest caught up with ${eventsStream} (sequence ${head})`)
              )
            : Effect.void
        )
      )
    metrics.ingestCaughtUp.set(0)

    /** Applies one event; `retry` bounds the retries of transient store failures. */
    const handle = (
      subject: string,
      data: Uint8Array,
      retry: Schedule.Schedule<unknown, unknown>,
      ordered: { readonly sequence: number; readonly retentionMillis: number } | undefined
    ) =>
      (ordered === undefined
        ? applyEvent(subject, data)
        : applyOrdered(subject, data, ordered.sequence, ordered.retentionMillis)
      ).pipe(
        Effect.tap((applied) => Tracing.annotate({ "bot.id": applied.id, outcome: applied.outcome })),
        Tracing.span("ingest.apply"),
        Effect.retry({ schedule: retry, while: (e) => e._tag === "BotStoreError" }),
        Effect.tap((applied: Applied) =>
          Effect.sync(() => metrics.events.inc({ subject, outcome: applied.outcome })).pipe(
            Effect.andThen(notify(applied.target, applied.id, applied.written)),
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
        }),
        Tracing.span("ingest.event", {
          kind: "consumer",
          attributes: {
            "messaging.destination.name": subject,
            ...(ordered === undefined ? {} : { "messaging.message.sequence": ordered.sequence })
          }
        })
      )

    const durable = (deliverFrom: "all" | "new", retentionMillis: number, head: number) =>
      bus
        .consume({ stream: eventsStream, durable: durableName, filterSubjects: subjects, ackWaitMillis, deliverFrom })
        .pipe(
          Stream.mapEffect(
            (message) =>
              handle(message.subject, message.data, inPlaceRetry, {
                sequence: message.sequence,
                retentionMillis
              }).pipe(
                Effect.matchEffect({
                  onSuccess: () =>
                    message.sequence >= head ? Effect.andThen(message.ack, checkCaughtUp(head)) : message.ack,
                  onFailure: (error) =>
                    Effect.sync(() => metrics.events.inc({ subject: message.subject, outcome: "retry" })).pipe(
                      Effect.andThen(Effect.logWarning(`event not applied yet, will be redelivered: ${error.message}`)),
                      Effect.andThen(message.nak(5_000))
                    )
                })
              ),
            // events of different bots at once; OrderedApply keeps each bot's in publish order
            { concurrency, unordered: true }
          ),
          Stream.runDrain
        )

    const core = Stream.mergeAll(
      subjects.map((subject) => bus.subscribe(subject, { queue: queueGroup })),
      { concurrency: "unbounded" }
    ).pipe(
      Stream.runForEach((message) => Effect.ignore(handle(message.subject, message.data, foreverRetry, undefined)))
    )

    /** Caught up once the durable has acked everything up to `head` (by this replica or another). */
    const checkCaughtUp = (head: number): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        if (yield* Deferred.isDone(caughtUp)) return true
        const position = yield* bus.consumerState(eventsStream, durableName)
        if (Option.isNone(position) || position.value.ackFloor < head) return false
        yield* markCaughtUp(head)
        return true
      }).pipe(Effect.catchAll(() => Effect.succeed(false)))
    /** Asked after each acked message at or past `head`, and every 250 ms for the messages other replicas ack. */
    const catchUp = (head: number) =>
      checkCaughtUp(head).pipe(Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("250 millis") }))

    const consume = Effect.gen(function* () {
      const stream = yield* bus.streamInfo(eventsStream)
      if (Option.isNone(stream)) {
        yield* Effect.logWarning(
          `JetStream stream ${eventsStream} not found; using core subscriptions (queue group ${queueGroup})`
        )
        yield* markCaughtUp(0)
        return yield* core
      }
      const existing = yield* bus.consumerState(eventsStream, durableName)
      const deliverFrom = Option.isSome(existing) ? "all" : yield* firstStart
      const head = stream.value.lastSequence
      yield* Effect.logInfo(
        Option.isSome(existing)
          ? `consuming ${eventsStream} with durable consumer ${durableName} from where it left off (stream at ${head})`
          : deliverFrom === "new"
            ? `new durable consumer ${durableName} on ${eventsStream}: the store already holds documents, so it starts at the stream's head (${head}) instead of replaying history onto them`
            : `new durable consumer ${durableName} on ${eventsStream}: the store is empty, so it replays the stream's ${head} messages before the controllers act`
      )
      const backlog = deliverFrom === "new" ? 0 : head
      if (backlog === 0) yield* markCaughtUp(0)
      else yield* Effect.forkScoped(catchUp(backlog))
      return yield* durable(deliverFrom, retentionOf(stream.value.maxAgeMillis), backlog)
    })

    /** Where a new durable starts: at the head when the store already holds documents. */
    const firstStart = Effect.all([store.bots.listIds, store.schedules.listIds]).pipe(
      Effect.map(([bots, schedules]): "all" | "new" => (bots.size + schedules.size > 0 ? "new" : "all")),
      Effect.retry(foreverRetry),
      Effect.orDie
    )

    /** Records of bots whose events the stream can no longer deliver go, hourly. */
    yield* Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => store.ingestLog.prune(now)),
      Effect.tap((pruned) => (pruned > 0 ? Effect.logDebug(`pruned ${pruned} expired ingest records`) : Effect.void)),
      Effect.catchAll((e) => Effect.logWarning(`pruning the ingest log: ${e.message}`)),
      Effect.repeat(Schedule.spaced("1 hour")),
      Effect.forkScoped
    )

    yield* consume.pipe(
      Effect.tapError((e) => Effect.logWarning(`event ingest interrupted, reconnecting: ${e.message}`)),
      Effect.retry(foreverRetry),
      Effect.forkScoped
    )
    return { caughtUp: Deferred.isDone(caughtUp), awaitCaughtUp: Deferred.await(caughtUp) }
  })
