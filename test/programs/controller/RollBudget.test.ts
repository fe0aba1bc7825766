/** The roll budget: how many keys roll at once, who waits, when a slot frees. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { Pod, PodPhase } from "../../../src/domain/Kube.ts"
import { Annotation } from "../../../src/domain/Labels.ts"
import { botPods, scheduleCronJobs } from "../../../src/programs/controller/OwnedKinds.ts"
import { type Action, type Owned, present, withoutObject } from "../../../src/programs/controller/Plan.ts"
import * as RollBudget from "../../../src/programs/controller/RollBudget.ts"
import { bot, schedule, settings } from "./ControllerEnv.ts"

const remove = (reason: "template" | "migration" | "changed" | "terminal" | "orphan"): Action<Owned> => ({
  _tag: "Delete",
  name: "bot-x",
  uid: "u",
  reason
})

describe("RollBudget", () => {
  it("allows `limit` keys to roll at once; a key that holds a slot may go on", () => {
    const budget = RollBudget.make(2)
    budget.take("a", [remove("template")])
    expect(budget.allowed("b")).toBe(true)
    budget.take("b", [remove("migration")])
    expect(budget.allowed("c")).toBe(false)
    expect(budget.allowed("a")).toBe(true)
    expect([...budget.rolling()].sort()).toEqual(["a", "b"])
  })

  it("only a deletion for a template change or a migration takes a slot", () => {
    const budget = RollBudget.make(1)
    budget.take("a", [remove("changed"), remove("terminal"), remove("orphan"), { _tag: "Wait", reason: "roll-limit" }])
    expect(budget.rolling()).toEqual([])
    expect(budget.allowed("b")).toBe(true)
  })

  it("a roll that is over frees the slot and hands back every waiting key; one not over keeps it", () => {
    const budget = RollBudget.make(1)
    budget.take("a", [remove("template")])
    budget.wait("b")
    budget.wait("c")
    expect(budget.settle("a", () => false)).toEqual([])
    expect(budget.allowed("b")).toBe(false)
    expect([...budget.settle("a", () => true)].sort()).toEqual(["b", "c"])
    expect(budget.allowed("b")).toBe(true)
    expect(budget.settle("a", () => true)).toEqual([])
  })

  it("a key that does not roll frees nothing and hands back no one", () => {
    const budget = RollBudget.make(1)
    budget.take("a", [remove("template")])
    budget.wait("b")
    expect(budget.settle("z", () => true)).toEqual([])
    expect(budget.rolling()).toEqual(["a"])
  })

  it("forgets the keys no longer kept, rolling or waiting", () => {
    const budget = RollBudget.make(1)
    budget.take("gone", [remove("template")])
    budget.wait("gone-too")
    budget.wait("kept")
    budget.prune((id) => id === "kept")
    expect(budget.rolling()).toEqual([])
    budget.take("x", [remove("template")])
    expect(budget.settle("x", () => true)).toEqual(["kept"])
  })
})

describe("rollOver", () => {
  const pod = Either.getOrThrow(botPods.build(settings.manifest, bot("r1")))
  const desired = withoutObject(present(pod, Annotation.configHash))
  const inPhase = (phase: PodPhase): Pod => ({ ...pod, status: { phase } })

  it("is over once a Pod with the desired fingerprint runs, not while it is Pending", () => {
    expect(RollBudget.rollOver(desired, [inPhase("Pending")], Annotation.configHash)).toBe(false)
    expect(RollBudget.rollOver(desired, [inPhase("Running")], Annotation.configHash)).toBe(true)
  })

  it("a running Pod of another fingerprint, or one being deleted, does not end it", () => {
    const other: Pod = {
      ...inPhase("Running"),
      metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, [Annotation.configHash]: "0" } }
    }
    const deleting: Pod = {
      ...inPhase("Running"),
      metadata: { ...pod.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" }
    }
    expect(RollBudget.rollOver(desired, [other, deleting], Annotation.configHash)).toBe(false)
  })

  it("is over when the key wants nothing, or nothing can be built", () => {
    expect(RollBudget.rollOver({ _tag: "Absent" }, [inPhase("Pending")], Annotation.configHash)).toBe(true)
    expect(RollBudget.rollOver({ _tag: "Unknown", reason: "x" }, [], Annotation.configHash)).toBe(true)
  })

  it("a CronJob with the desired fingerprint ends it at once (it has no phase)", () => {
    const cronJob = Either.getOrThrow(scheduleCronJobs.build(settings.manifest, schedule("s1")))
    const wanted = present(cronJob, Annotation.scheduleHash)
    expect(RollBudget.rollOver(wanted, [cronJob], Annotation.scheduleHash)).toBe(true)
  })
})
