/**
 * One driver call as an Effect: its rejection (or a hang past the deadline) as `BotStoreError`, and transient
 * failures (network errors, server selection, retryable labels and codes) retried with capped exponential backoff
 * for a bounded time.
 */
import { Clock, Duration, Effect, Schedule } from "effect"
import { MongoError, MongoNetworkError, MongoServerSelectionError } from "mongodb"
import { BotStoreError } from "../../services/BotStore.ts"
import type { Settings } from "./MongoConfig.ts"

/** Server error codes the retryable-reads/writes specifications treat as transient. */
const transientCodes = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  134 // ReadConcernMajorityNotAvailableYet
])

const transientLabels = [
  "RetryableWriteError",
  "RetryableError",
  "SystemOverloadedError",
  "ResetPool",
  "PoolRequestedRetry",
  "TransientTransactionError"
]

/** A failure worth retrying: the network, server selection, or a server saying "try again". */
export const isTransient = (error: unknown): boolean => {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true
  if (!(error instanceof MongoError)) return false
  if (transientLabels.some((label) => error.hasErrorLabel(label))) return true
  return typeof error.code === "number" && transientCodes.has(error.code)
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = cause instanceof MongoError && cause.code !== undefined ? ` (code ${String(cause.code)})` : ""
    return `${cause.name}: ${cause.message}${code}`
  }
  return String(cause)
}

/** Capped exponential backoff with jitter: 100 ms, 200 ms, ... at most 2 s apart. */
const backoff = Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("2 seconds")), Schedule.jittered)

/** The collection a call is about (for errors) and the settings that bound it. */
export interface Target {
  readonly collection: string
  readonly settings: Settings
}

/** One attempt of a driver call: its rejection (or a hang past the deadline) becomes a BotStoreError. */
export const attempt = <A>(
  target: Target,
  operation: string,
  run: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, BotStoreError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new BotStoreError({ operation, collection: target.collection, detail: describe(cause), cause })
  }).pipe(
    Effect.timeoutFail({
      duration: target.settings.operationTimeout,
      onTimeout: () =>
        new BotStoreError({
          operation,
          collection: target.collection,
          detail: `no answer within ${Duration.format(target.settings.operationTimeout)}`
        })
    })
  )

/**
 * Retries transient failures of `effect` with backoff while less than `retryFor` has passed since it started (so an
 * outage is reported after about `retryFor`, whatever the driver's own timeouts); then the last failure is the result.
 */
export const retryTransient = <A, R>(
  target: Target,
  effect: Effect.Effect<A, BotStoreError, R>
): Effect.Effect<A, BotStoreError, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) =>
    Effect.retry(effect, {
      schedule: backoff,
      while: (error) =>
        isTransient(error.cause)
          ? Effect.map(Clock.currentTimeMillis, (now) => now - start < Duration.toMillis(target.settings.retryFor))
          : Effect.succeed(false)
    })
  )
