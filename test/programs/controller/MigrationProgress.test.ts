/** The migration from the0's objects: which are left, the gauge, and what the log says until it is over. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { Pod } from "../../../src/domain/Kube.ts"
import { Annotation } from "../../../src/domain/Labels.ts"
import * as MigrationProgress from "../../../src/programs/controller/MigrationProgress.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { bot, captureLogs, settings } from "./ControllerEnv.ts"

const ours = (id: string): Pod => Either.getOrThrow(botPods.build(settings.manifest, bot(id)))
const byThe0 = (id: string): Pod => {
  const pod = ours(id)
  const { [Annotation.documentHash]: _dropped, ...annotations } = pod.metadata.annotations ?? {}
  return { ...pod, metadata: { ...pod.metadata, annotations } }
}

describe("MigrationProgress", () => {
  it.effect("counts the live objects made by the0 and says how many are left, then once that it is over", () =>
    Effect.gen(function* () {
      const counts: Array<number> = []
      const lines: Array<string> = []
      const progress = MigrationProgress.make({ kind: "Pod", onChange: "recreate", rollLimit: 10 }, (n) =>
        counts.push(n)
      )
      const report = progress.report.pipe(Effect.provide(captureLogs(lines)))
      yield* report
      progress.track(byThe0("a"), false)
      progress.track(byThe0("b"), false)
      progress.track(ours("c"), false)
      yield* report
      progress.track(byThe0("a"), true)
      progress.track(ours("b"), false)
      yield* report
      yield* report
      expect(counts).toEqual([1, 2, 2, 1, 0])
      expect(lines).toEqual(["migrating 2 Pods made by the0, 10 at a time", "every Pod made by the0 has been migrated"])
    })
  )

  it.effect("an object being deleted is no longer waiting; CronJobs are updated in place", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const progress = MigrationProgress.make({ kind: "CronJob", onChange: "update", rollLimit: 10 }, () => undefined)
      const pod = byThe0("a")
      progress.track(pod, false)
      yield* progress.report.pipe(Effect.provide(captureLogs(lines)))
      progress.track({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" } }, false)
      yield* progress.report.pipe(Effect.provide(captureLogs(lines)))
      expect(lines).toEqual([
        "updating 1 CronJobs made by the0 in place",
        "every CronJob made by the0 has been migrated"
      ])
    })
  )
})
