/**
 * Runs an in-Pod command to its own end and exits with its code. The command gets a stop request on SIGTERM or
 * SIGINT instead of being interrupted: it forwards the signal to its child, waits for it, runs the final sync, and
 * only then answers; the process then exits with that code.
 */
import { Deferred, Effect, Fiber } from "effect"
import * as SlogLogger from "../runtime/SlogLogger.ts"

/**
 * A signal that arrives while the CLI is still loading must not be lost: as PID 1 it would be ignored for good.
 * For the in-Pod commands we record it from the moment this module loads.
 */
const early = { stopRequested: false }
if (["execute", "daemon"].includes(process.argv[2] ?? "")) {
  const record = () => {
    early.stopRequested = true
  }
  process.on("SIGTERM", record)
  process.on("SIGINT", record)
}

export const runToExit = <R>(
  program: (stopRequested: Effect.Effect<void>) => Effect.Effect<number, never, R>
): Effect.Effect<void, never, R> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      const stop = yield* Deferred.make<void>()
      const request = () => Deferred.unsafeDone(stop, Effect.void)
      // The in-Pod commands own their signals: NodeRuntime's handler would interrupt the main fiber and exit 0
      // before the bot has stopped and the final sync has run.
      process.removeAllListeners("SIGTERM")
      process.removeAllListeners("SIGINT")
      process.on("SIGTERM", request)
      process.on("SIGINT", request)
      if (early.stopRequested) request()
      const fiber = yield* Effect.fork(Effect.interruptible(program(Deferred.await(stop))))
      const code = yield* Fiber.join(fiber)
      return yield* exit(code)
    })
  ).pipe(Effect.provide(SlogLogger.layer()))

const exit = (code: number): Effect.Effect<never> =>
  Effect.async<never>(() => {
    process.stdout.write("", () => process.exit(code))
  })
