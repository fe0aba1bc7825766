/**
 * A client-side rate limit for API requests: `qps` tokens per second, at most `burst` saved up; a request
 * waits (on the Effect clock) for its token instead of being refused. Waiters are served in order.
 */
import { Clock, Effect } from "effect"

export interface TokenBucket {
  readonly take: Effect.Effect<void>
}

export const make = (qps: number, burst: number): Effect.Effect<TokenBucket> =>
  Effect.gen(function* () {
    const lock = yield* Effect.makeSemaphore(1)
    let tokens = burst
    let last = yield* Clock.currentTimeMillis
    const take = lock.withPermits(1)(
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        tokens = Math.min(burst, tokens + ((now - last) / 1000) * qps)
        last = now
        if (tokens >= 1) {
          tokens -= 1
          return
        }
        const waitMillis = Math.ceil(((1 - tokens) / qps) * 1000)
        yield* Effect.sleep(`${waitMillis} millis`)
        last = yield* Clock.currentTimeMillis
        tokens = 0
      })
    )
    return { take: qps > 0 ? take : Effect.void }
  })
