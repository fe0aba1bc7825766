/**
 * The QueryServer's limits the0 lacks (docs/contracts.md, "The :9477 API", "Scheduled queries"): a cap on ephemeral query Jobs in flight
 * on this replica (one more is refused with 429 at once, never queued), the request body size (413), and
 * bearer-token auth, compared in constant time.
 */
import { timingSafeEqual } from "node:crypto"
import { Data, Effect } from "effect"

/** 429: every ephemeral-Job slot is taken. */
export class TooManyQueryJobs extends Data.TaggedError("TooManyQueryJobs")<{ readonly limit: number }> {
  override get message(): string {
    return `too many queries in flight: ${this.limit} ephemeral query Jobs are already running on this replica; retry later`
  }
}

export interface JobSlots {
  /** Runs `effect` holding one slot (released after its finalizers), or fails at once when none is free. */
  readonly withSlot: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TooManyQueryJobs, R>
  readonly inFlight: () => number
}

export const makeJobSlots = (limit: number, onChange: (inFlight: number) => void = () => {}): JobSlots => {
  let inFlight = 0
  const take = Effect.suspend(() => {
    if (inFlight >= limit) return Effect.fail(new TooManyQueryJobs({ limit }))
    inFlight++
    onChange(inFlight)
    return Effect.void
  })
  const give = Effect.sync(() => {
    inFlight--
    onChange(inFlight)
  })
  return {
    withSlot: (effect) =>
      Effect.acquireUseRelease(
        take,
        () => effect,
        () => give
      ),
    inFlight: () => inFlight
  }
}

const encoder = new TextEncoder()

/** Whether an `Authorization` header carries the expected bearer token (constant-time comparison). */
export const bearerMatches = (header: string | undefined, token: string): boolean => {
  if (header === undefined) return false
  const match = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(header)
  if (match?.[1] === undefined) return false
  const given = encoder.encode(match[1])
  const expected = encoder.encode(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** The size a request declares in `Content-Length`, if it declares one. */
export const declaredLength = (header: string | undefined): number | undefined => {
  if (header === undefined || !/^\s*\d+\s*$/.test(header)) return undefined
  return Number(header)
}
