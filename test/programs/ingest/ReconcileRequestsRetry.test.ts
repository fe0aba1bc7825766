/** A failing reconcile-request subscription is logged and made again with a growing, capped, jittered backoff. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Schedule, Stream, TestClock } from "effect"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import * as ReconcileRequests from "../../../src/programs/ingest/ReconcileRequests.ts"
import { EventBus, EventBusError, type EventBusService } from "../../../src/services/EventBus.ts"
import { captureLogs, settle } from "../controller/ControllerEnv.ts"

const failures = 6

describe("reconcile requests: resubscribing", () => {
  it.scoped("each failure is logged; the delays between attempts grow; requests are handled once it holds", () =>
    Effect.gen(function* () {
      const { bus } = yield* MemoryEventBus.makeWithControl
      const attempts: Array<number> = []
      const failing: EventBusService = {
        ...bus,
        subscribe: (subject, options) =>
          Stream.unwrap(
            Effect.map(Clock.currentTimeMillis, (now) => {
              attempts.push(now)
              return attempts.length <= failures
                ? Stream.fail(new EventBusError({ operation: "subscribe", detail: "connection closed" }))
                : bus.subscribe(subject, options)
            })
          )
      }
      const lines: Array<string> = []
      const handled: Array<string> = []
      yield* ReconcileRequests.serve((target, id) => Effect.sync(() => handled.push(`${target}:${id}`))).pipe(
        Effect.provideService(EventBus, failing),
        Effect.provide(captureLogs(lines))
      )
      for (let i = 0; i < 200 && attempts.length <= failures; i++) {
        yield* settle
        yield* TestClock.adjust("50 millis")
      }
      yield* settle
      expect(attempts.length).toBe(failures + 1)
      const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] ?? 0))
      // 100 ms doubling, each within a fifth either way, rounded up to the 50 ms steps of the clock
      gaps.forEach((gap, i) => {
        expect(gap).toBeGreaterThanOrEqual(100 * 2 ** i * 0.8)
        expect(gap).toBeLessThanOrEqual(100 * 2 ** i * 1.2 + 50)
      })
      expect(lines.filter((l) => l.includes("subscription failed")).length).toBe(failures)

      yield* ReconcileRequests.publish("bot", "b1").pipe(Effect.provideService(EventBus, bus))
      yield* settle
      expect(handled).toEqual(["bot:b1"])
    })
  )

  it.effect("the delay is capped at 30 s, jitter included", () =>
    Effect.gen(function* () {
      const inputs = Array.from({ length: 20 }, () => undefined)
      const delays = yield* Schedule.run(Schedule.delays(ReconcileRequests.resubscribe), 0, inputs)
      const millis = Chunk.toReadonlyArray(delays).map(Duration.toMillis)
      expect(Math.max(...millis)).toBeLessThanOrEqual(30_000 * 1.2)
      expect(millis.at(-1)).toBeGreaterThanOrEqual(30_000 * 0.8)
    })
  )
})
