/**
 * The work queue continues the trace of whoever queued a key (docs/operations.md, "Tracing"): each pass runs in a
 * `reconcile` span whose parent is the span of the key's first add since its last pass, with the wait as an
 * attribute; a key queued outside any span starts a trace of its own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock, type Tracer } from "effect"
import * as WorkQueue from "../../../src/programs/controller/WorkQueue.ts"

const settle = Effect.repeatN(Effect.yieldNow(), 100)

const options: WorkQueue.WorkQueueOptions = { workers: 1, baseDelay: "1 second", maxDelay: "5 minutes", jitter: 0 }

interface Pass {
  readonly key: string
  readonly span: Tracer.Span
}

/** Runs `effect` in a span named `name` and returns that span. */
const inSpan = (name: string, effect: Effect.Effect<void>) =>
  Effect.zipRight(effect, Effect.orDie(Effect.currentSpan)).pipe(Effect.withSpan(name))

describe("WorkQueue traces", () => {
  it.scoped("a pass is a reconcile span under the span of the key's first add; its wait is an attribute", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make(options)
      const passes: Array<Pass> = []
      const first = yield* inSpan("first", queue.add("a"))
      yield* queue.add("a").pipe(Effect.withSpan("second"))
      yield* queue.add("b")
      yield* TestClock.adjust("25 millis")
      yield* queue.run((key) =>
        Effect.orDie(Effect.currentSpan).pipe(
          Effect.map((span) => {
            passes.push({ key, span })
            return Option.none()
          })
        )
      )
      yield* settle
      const a = passes.find((p) => p.key === "a")?.span
      expect(a?.name).toBe("reconcile")
      expect(Option.map(a?.parent ?? Option.none(), (p) => p.spanId)).toEqual(Option.some(first.spanId))
      expect(a?.traceId).toBe(first.traceId)
      expect(a?.attributes.get("key")).toBe("a")
      expect(a?.attributes.get("queue.wait_ms")).toBe(25)
      const b = passes.find((p) => p.key === "b")?.span
      expect(b?.name).toBe("reconcile")
      expect(Option.isNone(b?.parent ?? Option.some(first))).toBe(true)
      expect(b?.traceId).not.toBe(first.traceId)

      // once processed, the next add's span is the parent of the next pass
      const later = yield* inSpan("later", queue.add("a"))
      yield* settle
      const again = passes.filter((p) => p.key === "a")[1]?.span
      expect(Option.map(again?.parent ?? Option.none(), (p) => (p._tag === "Span" ? p.name : p.spanId))).toEqual(
        Option.some("later")
      )
      expect(again?.traceId).toBe(later.traceId)
    })
  )
})
