import { Effect, Schedule } from "effect"

/**
 * Retries `check` until it succeeds, for assertions on servers that converge asynchronously (a real API
 * server's garbage collector, a NATS redelivery). Fails with the last failure after `timeoutMillis`. Runs on
 * the live clock, so use it from `it.live` tests.
 */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, timeoutMillis = 10_000): Effect.Effect<A, E, R> =>
  Effect.retry(check, Schedule.spaced("50 millis").pipe(Schedule.upTo(`${timeoutMillis} millis`)))

export const uniqueSuffix = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
