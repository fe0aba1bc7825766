/**
 * Reconcile requests between replicas: a replica that applied an event but does not lead publishes the key on
 * `the0.runtime.reconcile`, and the leader reconciles it at once instead of at its next resync. A subscription that
 * fails is logged and made again after a backoff (`resubscribe`). While traces are exported, a request carries the
 * W3C `traceparent` of the span it was published in, so the leader's reconcile stays in the event's trace
 * (docs/operations.md, "Tracing").
 */
import { Effect, FiberRef, Option, Schedule, Schema, type Scope, Stream, Tracer } from "effect"
import type { EventTarget } from "../../domain/BotEvent.ts"
import { EventBus, type EventBusError } from "../../services/EventBus.ts"
import * as Tracing from "../Tracing.ts"

export const subject = "the0.runtime.reconcile"

const Request = Schema.parseJson(
  Schema.Struct({
    target: Schema.Literal("bot", "schedule"),
    id: Schema.NonEmptyString,
    traceparent: Schema.optional(Schema.String)
  })
)

/** `00-<trace id>-<span id>-<flags>`, as W3C Trace Context writes a span's identity. */
const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/

const traceparentOf = (span: Tracer.AnySpan): string | undefined =>
  span.sampled ? `00-${span.traceId}-${span.spanId}-01` : undefined

const remoteParent = (traceparent: string | undefined): Option.Option<Tracer.ExternalSpan> => {
  const match = traceparent === undefined ? null : traceparentPattern.exec(traceparent)
  return match === null
    ? Option.none()
    : Option.some(Tracer.externalSpan({ traceId: match[1] ?? "", spanId: match[2] ?? "" }))
}
const encode = Schema.encodeSync(Request)
const decode = Schema.decodeUnknownOption(Request)

/** After a failed subscription: 100 ms, doubling up to 30 s, each stretched or shrunk by up to a fifth (jitter). */
export const resubscribe = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("30 seconds")),
  Schedule.jittered
)

export const publish = (target: EventTarget, id: string): Effect.Effect<void, EventBusError, EventBus> =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const parent = (yield* FiberRef.get(Tracing.exporting))
      ? yield* Effect.serviceOption(Tracer.ParentSpan)
      : Option.none()
    const traceparent = Option.isSome(parent) ? traceparentOf(parent.value) : undefined
    const request = traceparent === undefined ? { target, id } : { target, id, traceparent }
    yield* bus.publish(subject, new TextEncoder().encode(encode(request)))
  })

/** Hands every request received to `handle` until the scope closes; malformed requests are ignored. */
export const serve = (
  handle: (target: EventTarget, id: string) => Effect.Effect<void>
): Effect.Effect<void, never, EventBus | Scope.Scope> =>
  Effect.flatMap(EventBus, (bus) =>
    bus.subscribe(subject).pipe(
      Stream.runForEach((message) => {
        const request = decode(new TextDecoder().decode(message.data))
        if (Option.isNone(request)) return Effect.void
        const { target, id, traceparent } = request.value
        const handled = handle(target, id)
        return Option.match(remoteParent(traceparent), {
          onNone: () => handled,
          onSome: (parent) =>
            handled.pipe(
              Tracing.span("reconcile.request", { kind: "consumer", attributes: { key: `${target}:${id}` } }),
              Effect.withParentSpan(parent)
            )
        })
      }),
      Effect.tapError((e) =>
        Effect.logWarning(`reconcile requests: subscription failed, subscribing again: ${e.message}`)
      ),
      Effect.retry(resubscribe),
      Effect.forkScoped,
      Effect.asVoid
    )
  )
