/**
 * What one bot lifecycle event does to the store when it comes without a stream sequence (core NATS, no
 * JetStream stream): the0's semantics (EventFold.ts) applied to the document as it is. Events from the durable
 * consumer go through OrderedApply.ts instead.
 */
import { Clock, Data, Effect, Option } from "effect"
import { type BotEvent, decodeBotEvent, type EventKind, type EventTarget, parseSubject } from "../../domain/BotEvent.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import { BotStore, type BotStoreError, type DocumentCollection } from "../../services/BotStore.ts"
import { eventFields, scheduleTime } from "./EventFold.ts"

export class UnknownSubject extends Data.TaggedError("UnknownSubject")<{ readonly subject: string }> {
  override get message(): string {
    return `not a bot lifecycle subject: ${this.subject}`
  }
}

/** What an event did; `duplicate`: delivered before; `superseded`: a later event of the same bot already decided. */
export type Outcome =
  | "inserted"
  | "updated"
  | "unchanged"
  | "exists"
  | "deleted"
  | "absent"
  | "duplicate"
  | "superseded"

/**
 * The document ingest left in the store (null: none), and the highest stream sequence folded into it: the version a
 * controller keeps so that a notification overtaken by a later one is not taken for the newer document.
 */
export interface Written {
  readonly document: Readonly<Record<string, unknown>> | null
  readonly version: number
}

export interface Applied {
  readonly target: EventTarget
  readonly kind: EventKind
  readonly id: string
  readonly outcome: Outcome
  /** Set by ordered ingest (OrderedApply.ts): the controller need not read the document back. */
  readonly written?: Written
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
        ? yield* write(store.bots, route.kind, event, () => Effect.succeed(eventFields(event)))
        : yield* write(store.schedules, route.kind, event, (previous) =>
            Effect.succeed({
              ...eventFields(event),
              ...scheduleTime(Option.getOrUndefined(previous), eventFields(event), now)
            })
          )
    return { target: route.target, kind: route.kind, id: event.id, outcome }
  })
