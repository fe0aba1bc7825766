/**
 * The fake cluster's fault injector and call counter on their own: latency, which calls a fault fails and how
 * often, what clearing forgets, and that every guarded call counts, failed or not.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, TestClock } from "effect"
import { CallCounts } from "../../../src/layers/memory/MemoryKubeCalls.ts"
import { FaultInjector } from "../../../src/layers/memory/MemoryKubeFaults.ts"

const code = (result: Either.Either<void, { readonly _tag: string }>) =>
  Either.isLeft(result) && "code" in result.left ? result.left.code : "ok"

describe("FaultInjector", () => {
  it.effect("a fault fails the next `times` calls of its verb, of its kind or of any kind when it names none", () =>
    Effect.gen(function* () {
      const faults = new FaultInjector()
      faults.failNext({ verb: "create", kind: "Pod", times: 2, code: 503 })
      faults.failNext({ verb: "delete", times: 1, code: 500, reason: "Boom" })
      const call = (verb: "create" | "delete" | "get", kind: "Pod" | "CronJob") =>
        Effect.either(faults.before(verb, kind))
      expect(code(yield* call("create", "CronJob"))).toBe("ok")
      expect(code(yield* call("get", "Pod"))).toBe("ok")
      expect([code(yield* call("create", "Pod")), code(yield* call("create", "Pod"))]).toEqual([503, 503])
      expect(code(yield* call("create", "Pod"))).toBe("ok")
      const deleted = yield* call("delete", "CronJob")
      expect(Either.isLeft(deleted) && deleted.left).toMatchObject({ code: 500, reason: "Boom", kind: "CronJob" })
      expect(code(yield* call("delete", "CronJob"))).toBe("ok")
    })
  )

  it.effect("a fault without a reason carries the code's usual one", () =>
    Effect.gen(function* () {
      const faults = new FaultInjector()
      faults.failNext({ verb: "get", times: 1, code: 429 })
      const result = yield* Effect.either(faults.before("get", "Pod"))
      expect(Either.isLeft(result) && result.left).toMatchObject({ reason: "TooManyRequests" })
    })
  )

  it.effect("latency delays every call on the clock; clearing forgets it and every pending fault", () =>
    Effect.gen(function* () {
      const faults = new FaultInjector()
      faults.setLatency(250)
      faults.failNext({ verb: "list", times: 5, code: 500 })
      const slow = yield* Effect.fork(Effect.either(faults.before("list", "Pod")))
      yield* TestClock.adjust("249 millis")
      expect(slow.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(code(yield* Fiber.join(slow))).toBe(500)
      faults.clear()
      expect(code(yield* Effect.either(faults.before("list", "Pod")))).toBe("ok")
    })
  )
})

describe("CallCounts", () => {
  it("counts by verb, every verb listed, zero included, until reset", () => {
    const calls = new CallCounts()
    calls.count("get")
    calls.count("get")
    calls.count("watch")
    const counted = calls.snapshot()
    expect(counted).toEqual({
      get: 2,
      list: 0,
      create: 0,
      update: 0,
      patchStatus: 0,
      delete: 0,
      watch: 1,
      podLogs: 0,
      createEvent: 0,
      patchEventSeries: 0
    })
    calls.count("get")
    expect(counted.get).toBe(2)
    calls.reset()
    expect(calls.snapshot().get).toBe(0)
  })
})
