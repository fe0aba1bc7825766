/**
 * The0's semantics of the lifecycle events (docs/contracts.md, "What events do"), as a pure fold over one bot's events in publish
 * order (docs/architecture.md, "Event ingest"): `created` never overwrites an existing document, `updated` sets
 * config and custom (inserting when missing), `deleted` removes. Schedules also get `next_execution_time`,
 * recomputed when the cron expression changes, from the time the event was received, so that folding the same
 * events again gives the same document.
 */
import { Either } from "effect"
import { cronExpression, type JsonObject } from "../../domain/Bot.ts"
import type { EventTarget } from "../../domain/BotEvent.ts"
import type { IngestedEvent } from "../../services/BotStore.ts"
import { nextExecutionTime } from "../manifests/Cron.ts"

export type Raw = Readonly<Record<string, unknown>>

export interface Folded {
  readonly exists: boolean
  /** The document was (re)created by one of the events, so it is written whole. */
  readonly fresh: boolean
  /** The document after the events (when it exists). */
  readonly document: Raw
  /** The fields the events set on a document that existed before them (when not fresh). */
  readonly set: Raw
}

/** What an event sets: config and custom, when it carries them. */
export const eventFields = (event: { readonly config?: unknown; readonly custom?: unknown }): Raw => ({
  ...(event.config === undefined ? {} : { config: event.config }),
  ...(event.custom === undefined ? {} : { custom: event.custom })
})

/** For a schedule whose cron expression the fields change (or set first), its next execution time from `at`. */
export const scheduleTime = (previous: Raw | undefined, fields: Raw, at: Date): Raw => {
  const cron = cronExpression(fields as { config?: JsonObject })
  if (cron === undefined) return {}
  if (previous !== undefined && cronExpression(previous as { config?: JsonObject }) === cron) return {}
  return Either.match(nextExecutionTime(cron, at), {
    onLeft: () => ({}),
    onRight: (next) => ({ next_execution_time: next })
  })
}

export const fold = (
  target: EventTarget,
  id: string,
  base: Raw | null,
  events: ReadonlyArray<IngestedEvent>
): Folded => {
  let state: Folded =
    base === null
      ? { exists: false, fresh: false, document: {}, set: {} }
      : { exists: true, fresh: false, document: base, set: {} }
  for (const event of [...events].sort((a, b) => a.sequence - b.sequence)) {
    const fields = eventFields(event)
    const at = new Date(event.receivedAt)
    if (event.kind === "deleted") state = { exists: false, fresh: false, document: {}, set: {} }
    else if (!state.exists) {
      const time = target === "schedule" ? scheduleTime(undefined, fields, at) : {}
      state = { exists: true, fresh: true, document: { id, ...fields, ...time }, set: {} }
    } else if (event.kind === "updated") {
      const changed = { ...fields, ...(target === "schedule" ? scheduleTime(state.document, fields, at) : {}) }
      state = { ...state, document: { ...state.document, ...changed }, set: { ...state.set, ...changed } }
    }
  }
  return state
}
