/**
 * Runs an in-Pod command to its own end and exits with its code. The command gets a stop request on SIGTERM or
 * SIGINT instead of being interrupted: it forwards the signal to its child, waits for it, runs the final sync, and
 * only then answers. (NodeRuntime's own signal handler asks to interrupt the main fiber; that request waits behind
 * this uninterruptible region, which ends with `process.exit`.)
 */
import { Deferred, Effect, Fiber, Option } from "effect"
import { underReaper } from "../runtime/Pid1.ts"

export const runToExit = <R>(
  program: (stopRequested: Effect.Effect<void>) => Effect.Effect<number, never, R>
): Effect.Effect<void, never, R> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      const reaped = yield* underReaper
      if (Option.isSome(reaped)) return yield* exit(reaped.value)
      const stop = yield* Deferred.make<void>()
      const request = () => Deferred.unsafeDone(stop, Effect.void)
      process.on("SIGTERM", request)
      process.on("SIGINT", request)
      const fiber = yield* Effect.fork(Effect.interruptible(program(Deferred.await(stop))))
      const code = yield* Fiber.join(fiber)
      process.off("SIGTERM", request)
      process.off("SIGINT", request)
      return yield* exit(code)
    })
  )

const exit = (code: number): Effect.Effect<never> =>
  Effect.async<never>(() => {
    process.stdout.write("", () => process.exit(code))
  })
