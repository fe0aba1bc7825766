import { Data } from "effect"

/** The sync runner could not start (missing storage settings). */
export class SyncInitError extends Data.TaggedError("SyncInitError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}
