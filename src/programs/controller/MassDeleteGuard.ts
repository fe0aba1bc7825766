/**
 * The mass-delete guard (docs/operations.md, "Mass deletion refused"): a resync that finds the documents of more than
 * the threshold of the managed objects gone holds every orphan deletion back, and says so once per resync (a
 * Warning Event on the leader's Lease, a metric, an error log), until a resync finds fewer or the operator
 * restarts with `--allow-mass-delete`.
 */
import { Effect } from "effect"
import { massDeleteThreshold } from "../../domain/MassDelete.ts"
import type { MetricsService } from "../Metrics.ts"
import * as ControllerEvents from "./ControllerEvents.ts"
import type { EventRecorder } from "./EventRecorder.ts"

export interface MassDeleteGuardOptions {
  readonly controller: string
  readonly kind: "Pod" | "CronJob"
  readonly collectionName: string
  readonly namespace: string
  readonly leaseName: string
  /** `--allow-mass-delete`: never refuse. */
  readonly allow: boolean
}

export interface MassDeleteGuard {
  /** Whether the last resync refused: orphan deletions are held back meanwhile. */
  readonly blocked: () => boolean
  /** A resync found `absent` of the `observed` keys' documents gone: refuses or lifts the refusal. */
  readonly check: (absent: number, observed: number) => Effect.Effect<void>
}

export const make = (
  options: MassDeleteGuardOptions,
  events: EventRecorder,
  metrics: MetricsService
): MassDeleteGuard => {
  let blocked = false
  const labels = { controller: options.controller }
  const refuse = (absent: number, observed: number) =>
    Effect.suspend(() => {
      metrics.massDeleteRefusals.inc(labels)
      return Effect.andThen(
        events.record(
          ControllerEvents.massDeletionRefused(
            ControllerEvents.reference("Lease", options.namespace, options.leaseName),
            options.kind,
            options.collectionName,
            absent,
            observed
          )
        ),
        Effect.logError(
          `refusing to delete ${absent} of ${observed} managed ${options.kind}s whose documents are gone from ${options.collectionName}; ` +
            "check the database, or restart with --allow-mass-delete to proceed"
        )
      )
    })
  return {
    blocked: () => blocked,
    check: (absent, observed) =>
      Effect.suspend(() => {
        const refused = !options.allow && absent > massDeleteThreshold(observed)
        return Effect.andThen(refused ? refuse(absent, observed) : Effect.void, () => {
          blocked = refused
          metrics.massDeleteBlocked.set(labels, refused ? 1 : 0)
        })
      })
  }
}
