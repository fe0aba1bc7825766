/** The mass-delete guard: the threshold, the override, and what a refusal says (Event, metrics, log). */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { EventInput } from "../../../src/programs/controller/EventRecorder.ts"
import * as MassDeleteGuard from "../../../src/programs/controller/MassDeleteGuard.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { captureLogs } from "./ControllerEnv.ts"

const options: MassDeleteGuard.MassDeleteGuardOptions = {
  controller: "bot",
  kind: "Pod",
  collectionName: "bot_runner.bots",
  namespace: "the0",
  leaseName: "the0-runtime",
  allow: false
}

const guarded = (allow = false) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const recorded: Array<EventInput> = []
    const guard = MassDeleteGuard.make(
      { ...options, allow },
      { record: (event) => Effect.sync(() => recorded.push(event)) },
      metrics
    )
    const metric = (name: string) => Effect.promise(() => metrics.registry.getSingleMetricAsString(name))
    return { guard, recorded, metric }
  })

describe("MassDeleteGuard", () => {
  it.effect("more than half of the managed objects (at least 10) is refused; that many is not", () =>
    Effect.gen(function* () {
      const { guard } = yield* guarded()
      yield* guard.check(15, 31)
      expect(guard.blocked()).toBe(false)
      yield* guard.check(16, 31)
      expect(guard.blocked()).toBe(true)
      yield* guard.check(10, 12)
      expect(guard.blocked()).toBe(false)
      yield* guard.check(11, 12)
      expect(guard.blocked()).toBe(true)
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("a refusal is a Warning on the Lease, counted, logged, and the blocked gauge is 1 until lifted", () =>
    Effect.gen(function* () {
      const { guard, recorded, metric } = yield* guarded()
      const lines: Array<string> = []
      yield* guard.check(20, 20).pipe(Effect.provide(captureLogs(lines)))
      expect(recorded).toEqual([
        expect.objectContaining({
          type: "Warning",
          reason: "MassDeletionRefused",
          regarding: expect.objectContaining({ kind: "Lease", name: "the0-runtime", namespace: "the0" }),
          note: expect.stringContaining("Refusing to delete 20 of 20 managed Pods")
        })
      ])
      expect(lines).toEqual([expect.stringContaining("refusing to delete 20 of 20 managed Pods")])
      expect(yield* metric("the0_mass_delete_refusals_total")).toContain(
        'the0_mass_delete_refusals_total{controller="bot"} 1'
      )
      expect(yield* metric("the0_mass_delete_blocked")).toContain('the0_mass_delete_blocked{controller="bot"} 1')
      yield* guard.check(0, 20)
      expect(guard.blocked()).toBe(false)
      expect(recorded).toHaveLength(1)
      expect(yield* metric("the0_mass_delete_blocked")).toContain('the0_mass_delete_blocked{controller="bot"} 0')
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("with the override nothing is refused", () =>
    Effect.gen(function* () {
      const { guard, recorded } = yield* guarded(true)
      yield* guard.check(20, 20)
      expect(guard.blocked()).toBe(false)
      expect(recorded).toEqual([])
    }).pipe(Effect.provide(Metrics.layer))
  )
})
