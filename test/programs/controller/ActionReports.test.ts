/** What a controller tells of what it does: which Event each action becomes, what is said once, what is measured. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { DocumentDecodeError } from "../../../src/domain/DocumentDecodeError.ts"
import * as ActionReports from "../../../src/programs/controller/ActionReports.ts"
import type { EventInput } from "../../../src/programs/controller/EventRecorder.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { ManifestError } from "../../../src/programs/manifests/ManifestError.ts"
import { bot, captureLogs, settings } from "./ControllerEnv.ts"

const pod = (uid: string) => {
  const built = Either.getOrThrow(botPods.build(settings.manifest, bot("b1")))
  return { ...built, metadata: { ...built.metadata, uid } }
}

const reporting = Effect.gen(function* () {
  const metrics = yield* Metrics
  const recorded: Array<EventInput> = []
  const reports = ActionReports.make(
    { controller: "bot", kind: "Pod", collectionName: "bot_runner.bots", namespace: "the0", rollLimit: 3 },
    { record: (event) => Effect.sync(() => recorded.push(event)) },
    metrics
  )
  const metric = (name: string) => Effect.promise(() => metrics.registry.getSingleMetricAsString(name))
  const told = () => recorded.map((e) => `${e.reason}: ${e.note}`)
  return { reports, metric, told }
})

const deletion = (reason: "changed" | "terminal" | "orphan" | "template") => ({ name: "bot-b1", uid: "u1", reason })

describe("ActionReports", () => {
  it.effect("the create after a replacing delete is Recreated with its reason and phase; the next is Created", () =>
    Effect.gen(function* () {
      const { reports, told } = yield* reporting
      yield* reports.deleted("b1", deletion("terminal"), { absence: "unlisted", phase: "Failed" })
      yield* reports.created("b1", pod("u2"))
      yield* reports.created("b1", pod("u3"))
      expect(told()).toEqual([
        "TerminalPhase: The Pod ended (phase Failed); deleting it to recreate it",
        "Recreated: Recreated Pod bot-b1 for bot b1: the previous Pod ended (phase Failed)",
        "Created: Created Pod bot-b1 for bot b1"
      ])
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("an orphan deletion forgets an earlier replacement; the absence names the Event", () =>
    Effect.gen(function* () {
      const { reports, told } = yield* reporting
      yield* reports.deleted("b1", deletion("changed"), { absence: "unlisted" })
      yield* reports.deleted("b1", deletion("orphan"), { absence: "disabled" })
      yield* reports.created("b1", pod("u2"))
      expect(told().slice(1)).toEqual([
        "Disabled: bot b1 is disabled; deleting its Pod",
        "Created: Created Pod bot-b1 for bot b1"
      ])
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("an invalid document is said once until its error changes, and again after a create", () =>
    Effect.gen(function* () {
      const { reports, told, metric } = yield* reporting
      const lines: Array<string> = []
      const error = new ManifestError({ botId: "b1", field: "config.x", message: "bad" })
      const invalid = (e: ManifestError) => reports.invalid("b1", e, pod("u1")).pipe(Effect.provide(captureLogs(lines)))
      yield* invalid(error)
      yield* invalid(error)
      yield* invalid(new ManifestError({ botId: "b1", field: "config.x", message: "worse" }))
      yield* reports.created("b1", pod("u2"))
      yield* invalid(error)
      expect(told().filter((t) => t.startsWith("InvalidDocument"))).toHaveLength(3)
      expect(lines).toHaveLength(3)
      expect(yield* metric("the0_skipped_documents_total")).toContain('reason="invalid"} 3')
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("a document that does not decode is counted every time, logged once per error", () =>
    Effect.gen(function* () {
      const { reports, metric } = yield* reporting
      const lines: Array<string> = []
      const error = new DocumentDecodeError({ source: "bot_runner.bots", documentId: "d1", field: "id", detail: "x" })
      for (let i = 0; i < 3; i++) yield* reports.undecodable(error).pipe(Effect.provide(captureLogs(lines)))
      expect(lines).toHaveLength(1)
      expect(yield* metric("the0_skipped_documents_total")).toContain('reason="undecodable"} 3')
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("event-to-object latency runs from the first hand-over not yet acted on to the create", () =>
    Effect.gen(function* () {
      const { reports, metric } = yield* reporting
      reports.handedOver("b1", 0)
      yield* TestClock.adjust("2 seconds")
      reports.handedOver("b1", 2000)
      yield* TestClock.adjust("1 second")
      yield* reports.created("b1", pod("u1"))
      yield* reports.created("b1", pod("u2"))
      const text = yield* metric("the0_event_to_object_seconds")
      expect(text).toContain('the0_event_to_object_seconds_sum{controller="bot"} 3')
      expect(text).toContain('the0_event_to_object_seconds_count{controller="bot"} 1')
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("a change that creates nothing, one handed over before leading, or a key gone is not measured", () =>
    Effect.gen(function* () {
      const { reports, metric } = yield* reporting
      reports.handedOver("a", 0)
      reports.unmeasured("a")
      reports.handedOver("b", 0)
      reports.leading()
      reports.handedOver("c", 0)
      reports.prune((id) => id !== "c")
      for (const id of ["a", "b", "c"]) yield* reports.created(id, pod(id))
      expect(yield* metric("the0_event_to_object_seconds")).not.toContain("_count")
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("a key gone is forgotten: its object's next create is Created, its problem said again", () =>
    Effect.gen(function* () {
      const { reports, told } = yield* reporting
      const error = new ManifestError({ botId: "b1", field: "config.x", message: "bad" })
      yield* reports.deleted("b1", deletion("changed"), { absence: "unlisted" })
      yield* reports.invalid("b1", error, undefined)
      reports.prune(() => false)
      yield* reports.invalid("b1", error, pod("u1"))
      yield* reports.created("b1", pod("u2"))
      expect(told().slice(1)).toEqual([
        "InvalidDocument: Cannot build a Pod from bot b1's document (the running one is kept): config.x: bad",
        "Created: Created Pod bot-b1 for bot b1"
      ])
    }).pipe(Effect.provide(Metrics.layer))
  )
})
