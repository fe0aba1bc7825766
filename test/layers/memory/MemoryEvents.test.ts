/** The fake cluster's Events: checked as the API server checks them, and gone an hour after their last write. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { type KubeEvent, microTime } from "../../../src/domain/Kube.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const event = (name: string, patch: Partial<KubeEvent> = {}): KubeEvent => ({
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  metadata: { name },
  eventTime: microTime(0),
  reportingController: "the0.app/runtime",
  reportingInstance: "replica-1",
  action: "Create",
  reason: "Created",
  regarding: { apiVersion: "v1", kind: "Pod", name: "bot-a", namespace: "the0", uid: "u1" },
  note: "Created Pod bot-a for bot a",
  type: "Normal",
  ...patch
})

const names = Effect.flatMap(MemoryCluster, (c) => c.events("the0")).pipe(
  Effect.map((events) => events.map((e) => e.metadata.name))
)

describe("memory Events", () => {
  it.scoped(
    "what the API server refuses is refused: a bad MicroTime, another namespace, a series of 1, a long note",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const tag = (e: KubeEvent) =>
          Effect.map(
            Effect.either(api.createEvent("the0", e)),
            (r) => Either.isLeft(r) && `${r.left._tag} ${r.left.code}`
          )
        expect(yield* tag(event("a.1", { eventTime: new Date(0).toISOString() }))).toBe("KubeError 400")
        expect(yield* tag(event("a.2", { regarding: { kind: "Pod", name: "bot-a", namespace: "other" } }))).toBe(
          "KubeInvalid 422"
        )
        expect(yield* tag(event("a.3", { series: { count: 1, lastObservedTime: microTime(0) } }))).toBe(
          "KubeInvalid 422"
        )
        expect(yield* tag(event("a.4", { note: "x".repeat(1025) }))).toBe("KubeInvalid 422")
        expect(yield* tag(event("a.5", { type: "Error" as "Warning" }))).toBe("KubeInvalid 422")
        expect(yield* tag(event("a.6"))).toBe(false)
        expect(yield* names).toEqual(["a.6"])
      }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("an Event is gone an hour after its last write; a patch keeps it another hour", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.createEvent("the0", event("a.1"))
      yield* api.createEvent("the0", event("a.2"))
      yield* TestClock.adjust("50 minutes")
      yield* api.patchEventSeries("the0", "a.2", { count: 2, lastObservedTime: microTime(50 * 60_000) })
      yield* TestClock.adjust("11 minutes")
      yield* api.createEvent("the0", event("a.3"))
      expect(yield* names).toEqual(["a.2", "a.3"])
      const gone = yield* Effect.either(
        api.patchEventSeries("the0", "a.1", { count: 2, lastObservedTime: microTime(61 * 60_000) })
      )
      expect(Either.isLeft(gone) && gone.left._tag).toBe("KubeNotFound")
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )
})
