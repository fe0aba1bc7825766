/**
 * Bounded work that must also happen while the caller is being interrupted (final syncs, aborts, temp-object
 * removal, the stop grace of a child). The work runs on a fiber of its own, interruptible and detached from the
 * caller's interruption (Go's fresh `context.WithTimeout(Background, …)`); the caller waits for it or for the
 * deadline, whichever comes first, and the work is interrupted in the background when the deadline wins.
 * (`Effect.timeout` cannot do this inside an uninterruptible finalizer: it would wait for the work, or, with
 * `Effect.interruptible`, let the caller's pending interruption cancel the work at once.)
 */
import { Data, Deferred, type Duration, Effect, type Exit, Fiber, Option } from "effect"

/** Work that did not finish within its deadline; the message says which work and which deadline. */
export class DeadlineExceeded extends Data.TaggedError("DeadlineExceeded")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export const withDeadline = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  deadline: Duration.DurationInput
): Effect.Effect<Option.Option<Exit.Exit<A, E>>, never, R> =>
  Effect.gen(function* () {
    const done = yield* Deferred.make<Option.Option<Exit.Exit<A, E>>>()
    const worker = yield* Effect.forkDaemon(
      Effect.interruptible(Effect.flatMap(Effect.exit(effect), (exit) => Deferred.succeed(done, Option.some(exit))))
    )
    const timer = yield* Effect.forkDaemon(
      Effect.interruptible(Effect.zipRight(Effect.sleep(deadline), Deferred.succeed(done, Option.none())))
    )
    const result = yield* Deferred.await(done).pipe(
      Effect.onInterrupt(() => Effect.zipRight(Fiber.interruptFork(worker), Fiber.interruptFork(timer)))
    )
    yield* Fiber.interruptFork(timer)
    if (Option.isNone(result)) yield* Fiber.interruptFork(worker)
    return result
  })

/** `withDeadline` for cleanup: errors and a missed deadline are logged, never raised. */
export const cleanup = <A, E, R>(
  label: string,
  effect: Effect.Effect<A, E, R>,
  deadline: Duration.DurationInput
): Effect.Effect<void, never, R> =>
  Effect.flatMap(withDeadline(effect, deadline), (result) =>
    Option.isNone(result)
      ? Effect.logWarning(`${label}: deadline exceeded`)
      : result.value._tag === "Failure"
        ? Effect.logWarning(`${label}: failed`, result.value.cause)
        : Effect.void
  )
