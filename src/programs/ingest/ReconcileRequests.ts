/**
 * Reconcile requests between replicas: a replica that applied an event but does not lead publishes the key on
 * `the0.runtime.reconcile`, and the leader reconciles it at once instead of at its next resync. A subscription that
 * fails is logged and made again after a backoff (`resubscribe`).
 */
import { Effect, Schedule, Schema, type Scope, Stream } from "effect"
import type { EventTarget } from "../../domain/BotEvent.ts"
import { EventBus, type EventBusError } from "../../services/EventBus.ts"

export const subject = "the0.runtime.reconcile"

const Request = Schema.parseJson(
  Schema.Struct({ target: Schema.Literal("bot", "schedule"), id: Schema.NonEmptyString })
)
const encode = Schema.encodeSync(Request)
const decode = Schema.decodeUnknownOption(Request)

/** After a failed subscription: 100 ms, doubling up to 30 s, each stretched or shrunk by up to a fifth (jitter). */
export const resubscribe = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("30 seconds")),
  Schedule.jittered
)

export const publish = (target: EventTarget, id: string): Effect.Effect<void, EventBusError, EventBus> =>
  Effect.flatMap(EventBus, (bus) => bus.publish(subject, new TextEncoder().encode(encode({ target, id }))))

/** Hands every request received to `handle` until the scope closes; malformed requests are ignored. */
export const serve = (
  handle: (target: EventTarget, id: string) => Effect.Effect<void>
): Effect.Effect<void, never, EventBus | Scope.Scope> =>
  Effect.flatMap(EventBus, (bus) =>
    bus.subscribe(subject).pipe(
      Stream.runForEach((message) => {
        const request = decode(new TextDecoder().decode(message.data))
        return request._tag === "Some" ? handle(request.value.target, request.value.id) : Effect.void
      }),
      Effect.tapError((e) =>
        Effect.logWarning(`reconcile requests: subscription failed, subscribing again: ${e.message}`)
      ),
      Effect.retry(resubscribe),
      Effect.forkScoped,
      Effect.asVoid
    )
  )
