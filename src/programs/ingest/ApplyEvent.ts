/**
 * What one bot lifecycle event does to the store (controller spec §3.4), the0's semantics: `created` never
 * overwrites an existing document, `updated` sets config and custom (inserting when missing), `deleted` removes.
 * Schedules also get `next_execution_time`, recomputed when the cron expression changes.
 */
import { Clock, Data, Effect, Either, Option } from "effect"
import { type BotSchedule, cronExpression } from "../../domain/Bot.ts"
import { type BotEvent, decodeBotEvent, type EventKind, type EventTarget, parseSubject } from "../../domain/BotEvent.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import { BotStore, type BotStoreError, type DocumentCollection } from "../../services/BotStore.ts"
import { nextExecutionTime } from "../manifests/Cron.ts"

export class UnknownSubject extends Data.TaggedError("UnknownSubject")<{ readonly subject: string }> {
  override get message(): string {
    return `not a bot lifecycle subject: ${this.subject}`
  }
}

export type Outcome = "inserted" | "updated" | "unchanged" | "exists" | "deleted" | "absent"

export interface Applied {
  readonly target: EventTarget
  readonly kind: EventKind
  readonly id: string
  readonly outcome: Outcome
}

const fields = (event: BotEvent) => ({
  ...(event.config === undefined ? {} : { config: event.config }),
  ...(event.custom === undefined ? {} : { custom: event.custom })
})

const scheduleFields = (event: BotEvent, previous: Option.Option<BotSchedule>, now: Date) => {
  const cron = cronExpression(event)
  const unchanged = Option.isSome(previous) && cronExpression(previous.value) === cron
  if (cron === undefined || unchanged) return fields(event)
  return Either.match(nextExecutionTime(cron, now), {
    onLeft: () => fields(event),
    onRight: (next) => ({ ...fields(event), next_execution_time: next })
  })
}

const write = <A extends { readonly id: string }>(
  collection: DocumentCollection<A>,
  kind: EventKind,
  event: BotEvent,
  extra: (previous: Option.Option<A>) => Effect.Effect<Omit<Partial<A>, "id">, BotStoreError | DocumentDecodeError>
): Effect.Effect<Outcome, BotStoreError | DocumentDecodeError> => {
  if (kind === "deleted") return Effect.map(collection.remove(event.id), (removed) => (removed ? "deleted" : "absent"))
  return Effect.gen(function* () {
    const previous = yield* collection
      .get(event.id)
      .pipe(Effect.catchTag("DocumentDecodeError", () => Effect.succeed(Option.none<A>())))
    if (kind === "created" && Option.isSome(previous)) return "exists" as const
    return yield* collection.upsert(event.id, yield* extra(previous))
  })
}

/** Decodes the event on `subject` and applies it to the store. */
export const applyEvent = (
  subject: string,
  body: Uint8Array
): Effect.Effect<Applied, BotStoreError | DocumentDecodeError | UnknownSubject, BotStore> =>
  Effect.gen(function* () {
    const route = parseSubject(subject)
    if (route === undefined) return yield* Effect.fail(new UnknownSubject({ subject }))
    const event = yield* decodeBotEvent(subject, body)
    const store = yield* BotStore
    const now = new Date(yield* Clock.currentTimeMillis)
    const outcome =
      route.target === "bot"
        ? yield* write(store.bots, route.kind, event, () => Effect.succeed(fields(event)))
        : yield* write(store.schedules, route.kind, event, (previous) =>
            Effect.succeed(scheduleFields(event, previous, now))
          )
    return { target: route.target, kind: route.kind, id: event.id, outcome }
  })
