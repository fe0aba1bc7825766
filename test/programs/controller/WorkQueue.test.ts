import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Option, TestClock } from "effect"
import * as fc from "fast-check"
import * as WorkQueue from "../../../src/programs/controller/WorkQueue.ts"

const settle = Effect.repeatN(Effect.yieldNow(), 100)

const noJitter: WorkQueue.WorkQueueOptions = { workers: 4, baseDelay: "1 second", maxDelay: "5 minutes", jitter: 0 }

describe("WorkQueue", () => {
  it.scoped("a key added many times while waiting is processed once", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make(noJitter)
      const seen: Array<string> = []
      for (let i = 0; i < 5; i++) yield* queue.add("a")
      yield* queue.add("b")
      expect(yield* queue.depth).toBe(2)
      yield* queue.run((key) => Effect.sync(() => seen.push(key)).pipe(Effect.as(Option.none())))
      yield* settle
      expect(seen.sort()).toEqual(["a", "b"])
      expect(yield* queue.depth).toBe(0)
    })
  )

  it.scoped("a key is never processed by two workers at once; an add during processing runs it again after", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make(noJitter)
      const gate = yield* Deferred.make<void>()
      let running = 0
      let maxRunning = 0
      let passes = 0
      yield* queue.run(() =>
        Effect.gen(function* () {
          running++
          maxRunning = Math.max(maxRunning, running)
          passes++
          if (passes === 1) yield* Deferred.await(gate)
          running--
          return Option.none()
        })
      )
      yield* queue.add("k")
      yield* settle
      yield* queue.add("k")
      yield* queue.add("k")
      yield* settle
      expect(passes).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      expect(passes).toBe(2)
      expect(maxRunning).toBe(1)
    })
  )

  it.scoped("failures retry with exponential backoff capped at the maximum, and success resets it", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make({ ...noJitter, maxDelay: "8 seconds" })
      const attempts: Array<number> = []
      let failUntil = 6
      yield* queue.run(() =>
        Effect.gen(function* () {
          attempts.push(yield* Effect.clockWith((c) => Effect.succeed(c.unsafeCurrentTimeMillis())))
          if (attempts.length < failUntil) return yield* Effect.fail("boom")
          return Option.none()
        })
      )
      yield* queue.add("k")
      for (let i = 0; i < 40; i++) {
        yield* settle
        yield* TestClock.adjust("1 second")
      }
      const gaps = attempts.slice(1).map((t, i) => (t - (attempts[i] ?? 0)) / 1000)
      expect(gaps).toEqual([1, 2, 4, 8, 8])
      expect(queue.failures("k")).toBe(0)
      failUntil = 0
    })
  )

  it.scoped("a handler that dies is retried like a failure", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make(noJitter)
      let passes = 0
      yield* queue.run(() =>
        Effect.suspend(() => (++passes === 1 ? Effect.die("defect") : Effect.succeed(Option.none())))
      )
      yield* queue.add("k")
      yield* settle
      expect(queue.failures("k")).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(passes).toBe(2)
    })
  )

  it.scoped("a requeue-after asks for another pass after the delay", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make(noJitter)
      let passes = 0
      yield* queue.run(() => Effect.sync(() => (++passes === 1 ? Option.some(Duration.seconds(10)) : Option.none())))
      yield* queue.add("k")
      yield* settle
      yield* TestClock.adjust("9 seconds")
      yield* settle
      expect(passes).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(passes).toBe(2)
    })
  )

  it.effect.prop(
    "backoff doubles per consecutive failure and never exceeds the cap",
    [fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 600_000 })],
    ([attempt, baseMs, capMs]) =>
      Effect.sync(() => {
        const options = { ...noJitter, baseDelay: Duration.millis(baseMs), maxDelay: Duration.millis(capMs) }
        const delay = WorkQueue.backoffMillis(options, attempt)
        expect(delay).toBeLessThanOrEqual(capMs)
        expect(delay).toBe(Math.min(baseMs * 2 ** (attempt - 1), capMs))
        if (attempt > 1) expect(delay).toBeGreaterThanOrEqual(WorkQueue.backoffMillis(options, attempt - 1))
      })
  )

  it.effect.prop(
    "a jittered retry waits backoff × (1 + random × jitter), never more than the cap, and runs exactly then",
    [
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 7 }),
      fc.double({ min: 0.01, max: 1, noNaN: true })
    ],
    ([random, randoms, jitter]) =>
      Effect.scoped(
        Effect.gen(function* () {
          const failures = 7
          const retried: Array<{ readonly attempt: number; readonly delay: number }> = []
          const queue = yield* WorkQueue.make(
            { workers: 1, baseDelay: "1 second", maxDelay: "8 seconds", jitter },
            { retried: (_key, attempt, delay) => retried.push({ attempt, delay }) }
          )
          let passes = 0
          yield* queue.run(() => (++passes <= failures ? Effect.fail("boom") : Effect.succeed(Option.none())))
          yield* queue.add("k")
          yield* settle
          for (let i = 0; i < failures; i++) {
            const { attempt, delay } = retried[i] ?? { attempt: 0, delay: Number.NaN }
            expect(attempt).toBe(i + 1)
            const backoff = Math.min(1000 * 2 ** i, 8000)
            const r = [random, ...randoms][i % (randoms.length + 1)] ?? 0
            expect(delay).toBe(Math.min(backoff * (1 + r * jitter), 8000))
            // from the fourth retry the doubling is at the cap: every stretch is cut back to it
            expect(delay).toBeLessThanOrEqual(8000)
            const wait = Math.round(delay)
            yield* TestClock.adjust(wait - 1)
            yield* settle
            expect(passes).toBe(i + 1)
            yield* TestClock.adjust(1)
            yield* settle
            expect(passes).toBe(i + 2)
          }
          expect(retried.length).toBe(failures)
        })
      ).pipe(Effect.withRandomFixed([random, ...randoms])),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect.prop(
    "any sequence of adds is processed exactly once per distinct key once the queue drains",
    [fc.array(fc.constantFrom("a", "b", "c", "d", "e"), { maxLength: 60 })],
    ([keys]) =>
      Effect.scoped(
        Effect.gen(function* () {
          const queue = yield* WorkQueue.make(noJitter)
          const counts = new Map<string, number>()
          for (const key of keys) yield* queue.add(key)
          const fiber = yield* Effect.fork(
            queue.run((key) =>
              Effect.sync(() => counts.set(key, (counts.get(key) ?? 0) + 1)).pipe(Effect.as(Option.none()))
            )
          )
          yield* Fiber.join(fiber)
          yield* settle
          expect([...counts.keys()].sort()).toEqual([...new Set(keys)].sort())
          expect([...counts.values()].every((n) => n === 1)).toBe(true)
        })
      )
  )
})
