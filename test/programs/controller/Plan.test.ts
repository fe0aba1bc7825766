/** The reconcile rules for one key, on objects built as we build them and as the0's controller did. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { CronJob, Pod } from "../../../src/domain/Kube.ts"
import { Annotation } from "../../../src/domain/Labels.ts"
import { botPods, scheduleCronJobs } from "../../../src/programs/controller/OwnedKinds.ts"
import {
  type Desired,
  type Owned,
  type PlanInput,
  plan,
  present,
  withoutObject
} from "../../../src/programs/controller/Plan.ts"
import { bot, schedule, settings } from "./ControllerEnv.ts"

const desiredPod = Either.getOrThrow(botPods.build(settings.manifest, bot("p1", { risk: 1 })))
const desiredCronJob = Either.getOrThrow(scheduleCronJobs.build(settings.manifest, schedule("s1")))

const withAnnotations = <O extends Owned>(object: O, annotations: Record<string, string | undefined>): O => {
  const merged = { ...object.metadata.annotations, ...annotations }
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key]
  return { ...object, metadata: { ...object.metadata, uid: "uid-1", resourceVersion: "7", annotations: merged } }
}

/** Ours, running the desired object. */
const current = withAnnotations(desiredPod, {})
/** Ours, same document, older template (a new image since). */
const olderTemplate = withAnnotations(desiredPod, { [Annotation.configHash]: "0123456789abcdef" })
/** Ours, built from an older version of the document. */
const olderDocument = withAnnotations(desiredPod, {
  [Annotation.configHash]: "0123456789abcdef",
  [Annotation.documentHash]: "fedcba9876543210"
})
/** What the0's controller made for the same bot: the same labels, its own config hash, no document hash. */
const madeByThe0 = withAnnotations(desiredPod, {
  [Annotation.configHash]: "5d41402abc4b2a76b9719d911017c592",
  [Annotation.documentHash]: undefined
})

const failed = (pod: Pod): Pod => ({ ...pod, status: { phase: "Failed", reason: "Evicted" } })
const terminating = (pod: Pod): Pod => ({
  ...pod,
  metadata: { ...pod.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" }
})

const podInput = (observed: ReadonlyArray<Pod>, rollAllowed: boolean): PlanInput<Pod> => ({
  desired: present(desiredPod, Annotation.configHash),
  observed,
  onChange: "recreate",
  fingerprintAnnotation: Annotation.configHash,
  orphanDeletesAllowed: true,
  rollAllowed
})

const remove = (reason: string) => ({ _tag: "Delete", name: "bot-p1", uid: "uid-1", reason })
const rollLimit = { _tag: "Wait", reason: "roll-limit" }

describe("plan: Pods made by the0's controller", () => {
  it("the object built for a bot carries the document hash, so ours are told from the0's", () => {
    expect(desiredPod.metadata.annotations?.[Annotation.documentHash]).toMatch(/^[0-9a-f]{16}$/)
    expect(madeByThe0.metadata.annotations?.[Annotation.documentHash]).toBeUndefined()
  })

  it("is replaced for migration while the roll budget allows", () => {
    expect(plan(podInput([madeByThe0], true))).toEqual([remove("migration")])
  })

  it("waits for the roll limit when the budget is spent", () => {
    expect(plan(podInput([madeByThe0], false))).toEqual([rollLimit])
  })

  it("is replaced at once when it has terminated, whatever the budget", () => {
    expect(plan(podInput([failed(madeByThe0)], false))).toEqual([remove("terminal")])
  })

  it("once deleted, nothing is created before it is gone", () => {
    expect(plan(podInput([terminating(madeByThe0)], true))).toEqual([{ _tag: "Wait", reason: "terminating" }])
    expect(plan(podInput([], false))).toEqual([{ _tag: "Create", object: desiredPod }])
  })

  it("a CronJob made by the0 is updated in place at once, with the document hash, never held by the budget", () => {
    const cronJobByThe0 = withAnnotations(desiredCronJob, {
      [Annotation.scheduleHash]: "5d41402abc4b2a76b9719d911017c592",
      [Annotation.documentHash]: undefined
    })
    const actions = plan<CronJob>({
      desired: present(desiredCronJob, Annotation.scheduleHash),
      observed: [cronJobByThe0],
      onChange: "update",
      fingerprintAnnotation: Annotation.scheduleHash,
      orphanDeletesAllowed: true,
      rollAllowed: false
    })
    expect(actions).toEqual([
      { _tag: "Update", object: { ...desiredCronJob, metadata: { ...desiredCronJob.metadata, resourceVersion: "7" } } }
    ])
  })
})

describe("plan: our own Pods", () => {
  it("a running Pod that matches is kept", () => {
    expect(plan(podInput([current], false))).toEqual([])
  })

  it("a template-only change is replaced within the budget and waits beyond it", () => {
    expect(plan(podInput([olderTemplate], true))).toEqual([remove("template")])
    expect(plan(podInput([olderTemplate], false))).toEqual([rollLimit])
  })

  it("a change of the bot is replaced at once, whatever the budget", () => {
    expect(plan(podInput([olderDocument], false))).toEqual([remove("changed")])
  })

  it("a terminated Pod of an older template is replaced at once, whatever the budget", () => {
    expect(plan(podInput([failed(olderTemplate)], false))).toEqual([remove("terminal")])
  })
})

describe("plan: from the hashes alone (the object not held)", () => {
  const atRest = (observed: ReadonlyArray<Pod>, rollAllowed = true): PlanInput<Pod> => ({
    ...podInput(observed, rollAllowed),
    desired: withoutObject(present(desiredPod, Annotation.configHash))
  })

  it("keeps, replaces and paces as with the object", () => {
    expect(plan(atRest([current]))).toEqual([])
    expect(plan(atRest([olderTemplate]))).toEqual([remove("template")])
    expect(plan(atRest([olderTemplate], false))).toEqual([rollLimit])
    expect(plan(atRest([olderDocument], false))).toEqual([remove("changed")])
    expect(plan(atRest([failed(current)]))).toEqual([remove("terminal")])
  })

  it("asks for a Read where it must send the object: a missing Pod, a CronJob to update", () => {
    expect(plan(atRest([]))).toEqual([{ _tag: "Read" }])
    expect(plan(atRest([terminating(current)]))).toEqual([{ _tag: "Wait", reason: "terminating" }])
    const olderCronJob = withAnnotations(desiredCronJob, { [Annotation.scheduleHash]: "0123456789abcdef" })
    const cronJobInput = (desired: Desired<CronJob>): PlanInput<CronJob> => ({
      desired,
      observed: [olderCronJob],
      onChange: "update",
      fingerprintAnnotation: Annotation.scheduleHash,
      orphanDeletesAllowed: true,
      rollAllowed: true
    })
    const wanted = present(desiredCronJob, Annotation.scheduleHash)
    expect(plan(cronJobInput(withoutObject(wanted)))).toEqual([{ _tag: "Read" }])
    expect(plan(cronJobInput(wanted))).toMatchObject([{ _tag: "Update" }])
  })
})
