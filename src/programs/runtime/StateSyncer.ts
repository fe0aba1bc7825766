/**
 * Uploads the state directory when its content changed (docs/contracts.md, "Sync"). The hash is remembered only after a
 * successful upload, so a failed one is retried at the next trigger; an empty or missing directory is never
 * uploaded; nothing is uploaded while the last restore had failed, so a bot that could not get its state does not
 * overwrite the stored one.
 */
import { Duration, Effect, Ref } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { DeadlineExceeded } from "./Deadline.ts"
import { stateHash } from "./StateArchive.ts"
import { restoreFailed, type StateLocation, uploadState } from "./StateTransfer.ts"

export const stateUploadDeadline = Duration.seconds(180)

export interface StateSyncer {
  /** Uploads if the state changed; true if it uploaded. */
  readonly sync: Effect.Effect<boolean, never, ObjectStore>
}

export const makeStateSyncer = (
  location: StateLocation,
  options?: { readonly uploadDeadline?: Duration.Duration }
): Effect.Effect<StateSyncer> =>
  Effect.gen(function* () {
    const lastHash = yield* Ref.make("")
    const deadline = options?.uploadDeadline ?? stateUploadDeadline
    const sync = Effect.gen(function* () {
      const hash = yield* stateHash(location.statePath)
      if (hash === "" || hash === (yield* Ref.get(lastHash))) return false
      if (yield* restoreFailed(location.statePath)) {
        yield* Effect.logWarning("State restore failed earlier: not uploading over the stored state")
        return false
      }
      const result = yield* uploadState(location).pipe(
        Effect.timeoutFail({
          duration: deadline,
          onTimeout: () => new DeadlineExceeded({ detail: `state upload exceeded ${Duration.format(deadline)}` })
        })
      )
      if (result._tag === "Skipped") return false
      yield* Ref.set(lastHash, hash)
      yield* Effect.logInfo(`State synced successfully (${result.bytes} bytes)`)
      return true
    }).pipe(Effect.catchAll((error) => Effect.as(Effect.logWarning(`Failed to sync state: ${error.message}`), false)))
    return { sync }
  })
