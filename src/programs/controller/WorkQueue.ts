/**
 * A keyed work queue in the manner of client-go's: a key waiting is queued once however often it is added, a
 * key is never processed by two workers at once (an add during processing queues it again afterwards), and a
 * failed key is retried with per-key exponential backoff with jitter.
 *
 * Each pass of a key runs in a `reconcile` span (docs/operations.md, "Tracing") whose parent is the span the first
 * `add` of the key since its last pass was made in (an event's ingest span, say), so one trace goes from the event
 * to the API calls of its reconcile; the time the key waited is its `queue.wait_ms` attribute.
 */
import { Cause, Context, Duration, Effect, FiberMap, Option, Queue, Random, type Scope, Tracer } from "effect"
import * as Tracing from "../Tracing.ts"

export interface WorkQueueOptions {
  readonly workers: number
  /** First retry delay; doubles per consecutive failure of the key. */
  readonly baseDelay: Duration.DurationInput
  readonly maxDelay: Duration.DurationInput
  /** Each retry delay is stretched by a random factor in [1, 1 + jitter), capped at maxDelay. */
  readonly jitter: number
}

export const defaultOptions: WorkQueueOptions = {
  workers: 4,
  baseDelay: "1 second",
  maxDelay: "5 minutes",
  jitter: 0.2
}

/** Observers for metrics; each is called synchronously and must be cheap. */
export interface WorkQueueHooks {
  readonly depth?: (depth: number) => void
  /** Time a key waited between being queued and a worker taking it. */
  readonly waited?: (millis: number) => void
  readonly retried?: (key: string, attempt: number, delayMillis: number) => void
  readonly processed?: (key: string, millis: number, outcome: "ok" | "error") => void
}

/** What a handler asks for after a successful pass: nothing, or another pass after a delay. */
export type Requeue = Option.Option<Duration.DurationInput>

export interface WorkQueue {
  readonly add: (key: string) => Effect.Effect<void>
  readonly addAfter: (key: string, delay: Duration.DurationInput) => Effect.Effect<void>
  /** Consecutive failures of the key since its last success. */
  readonly failures: (key: string) => number
  readonly depth: Effect.Effect<number>
  /** Runs the workers until the scope closes. A failing or dying handler retries the key with backoff. */
  readonly run: <E, R>(
    handler: (key: string) => Effect.Effect<Requeue, E, R>
  ) => Effect.Effect<void, never, R | Scope.Scope>
}

/** The backoff delay of the nth consecutive failure (n ≥ 1), before jitter. */
export const backoffMillis = (options: WorkQueueOptions, attempt: number): number =>
  Math.min(Duration.toMillis(options.baseDelay) * 2 ** Math.max(0, attempt - 1), Duration.toMillis(options.maxDelay))

export const make = (options: WorkQueueOptions = defaultOptions, hooks: WorkQueueHooks = {}) =>
  Effect.gen(function* () {
    const ready = yield* Queue.unbounded<string>()
    const delayed = yield* FiberMap.make<string>()
    const dirty = new Set<string>()
    const processing = new Set<string>()
    const queuedAt = new Map<string, number>()
    const failureCounts = new Map<string, number>()
    /** The span of the first add of each waiting key that was added inside one. */
    const addedIn = new Map<string, Tracer.AnySpan>()

    const enqueue = (key: string, now: number) => {
      queuedAt.set(key, now)
      Queue.unsafeOffer(ready, key)
      hooks.depth?.(dirty.size)
    }

    const add = (key: string): Effect.Effect<void> =>
      Effect.clockWith((clock) =>
        Effect.contextWith((context: Context.Context<never>) => {
          if (dirty.has(key)) return
          dirty.add(key)
          const span = Context.getOption(context, Tracer.ParentSpan)
          if (Option.isSome(span)) addedIn.set(key, span.value)
          if (!processing.has(key)) enqueue(key, clock.unsafeCurrentTimeMillis())
        })
      )

    const addAfter = (key: string, delay: Duration.DurationInput): Effect.Effect<void> =>
      Duration.toMillis(delay) <= 0
        ? add(key)
        : FiberMap.run(delayed, key, Effect.andThen(Effect.sleep(delay), add(key))).pipe(Effect.asVoid)

    const retry = (key: string) =>
      Effect.gen(function* () {
        const attempt = (failureCounts.get(key) ?? 0) + 1
        failureCounts.set(key, attempt)
        const base = backoffMillis(options, attempt)
        const stretched = Math.min(
          base * (1 + (yield* Random.next) * options.jitter),
          Duration.toMillis(options.maxDelay)
        )
        hooks.retried?.(key, attempt, stretched)
        yield* addAfter(key, Duration.millis(Math.round(stretched)))
      })

    const worker = <E, R>(handler: (key: string) => Effect.Effect<Requeue, E, R>) =>
      Effect.gen(function* () {
        const key = yield* Queue.take(ready)
        const started = yield* Effect.clockWith((clock) => Effect.succeed(clock.unsafeCurrentTimeMillis()))
        const waited = started - (queuedAt.get(key) ?? started)
        hooks.waited?.(waited)
        const parent = addedIn.get(key)
        addedIn.delete(key)
        queuedAt.delete(key)
        dirty.delete(key)
        processing.add(key)
        hooks.depth?.(dirty.size)
        const pass = Effect.suspend(() => handler(key)).pipe(
          Effect.tapErrorCause((cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.void
              : Effect.logWarning("reconcile failed; retrying with backoff").pipe(
                  Effect.annotateLogs({ key, cause: Cause.pretty(cause) })
                )
          ),
          Tracing.span("reconcile", {
            ...(parent === undefined ? { root: true } : { parent }),
            attributes: { key, "queue.wait_ms": waited }
          })
        )
        const exit = yield* Effect.exit(pass).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              processing.delete(key)
              if (!dirty.has(key)) {
                dirty.add(key)
                enqueue(key, started)
              }
            })
          )
        )
        const finished = yield* Effect.clockWith((clock) => Effect.succeed(clock.unsafeCurrentTimeMillis()))
        processing.delete(key)
        if (dirty.has(key)) enqueue(key, finished)
        if (exit._tag === "Failure") {
          hooks.processed?.(key, finished - started, "error")
          yield* retry(key)
        } else {
          hooks.processed?.(key, finished - started, "ok")
          failureCounts.delete(key)
          if (Option.isSome(exit.value)) yield* addAfter(key, exit.value.value)
        }
      }).pipe(Effect.forever)

    const queue: WorkQueue = {
      add,
      addAfter,
      failures: (key) => failureCounts.get(key) ?? 0,
      depth: Effect.sync(() => dirty.size),
      run: (handler) =>
        Effect.forEach(Array.from({ length: options.workers }), () => Effect.forkScoped(worker(handler)), {
          discard: true
        })
    }
    return queue
  })
