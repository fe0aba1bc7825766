/**
 * The migration from the0's controller (docs/architecture.md, "Fingerprint"): the live objects it made (no document
 * hash), as the informer sees them, counted in a gauge and told in the log at start and at every resync until none
 * is left.
 */
import { Effect } from "effect"
import type { Owned } from "./Plan.ts"
import { madeByThe0 } from "./Plan.ts"

export interface MigrationProgressOptions {
  readonly kind: "Pod" | "CronJob"
  readonly onChange: "recreate" | "update"
  readonly rollLimit: number
}

export interface MigrationProgress {
  /** An object as last seen (`gone`: deleted). */
  readonly track: (object: Owned, gone: boolean) => void
  /** Logs how many are left, or once that the migration is over. */
  readonly report: Effect.Effect<void>
}

export const make = (options: MigrationProgressOptions, left: (count: number) => void): MigrationProgress => {
  const awaiting = new Set<string>()
  let migrating = false
  return {
    track: (object, gone) => {
      if (!gone && object.metadata.deletionTimestamp === undefined && madeByThe0(object))
        awaiting.add(object.metadata.name)
      else awaiting.delete(object.metadata.name)
      left(awaiting.size)
    },
    report: Effect.suspend(() => {
      const count = awaiting.size
      const wasMigrating = migrating
      migrating = count > 0
      if (count > 0)
        return Effect.logInfo(
          options.onChange === "recreate"
            ? `migrating ${count} ${options.kind}s made by the0, ${options.rollLimit} at a time`
            : `updating ${count} ${options.kind}s made by the0 in place`
        )
      return wasMigrating ? Effect.logInfo(`every ${options.kind} made by the0 has been migrated`) : Effect.void
    })
  }
}
