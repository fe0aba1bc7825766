/**
 * Events from the durable consumer, applied so that the store ends as if every bot's events had been applied in
 * publish order, whatever the delivery order, redeliveries, replicas or crashes (docs/architecture.md, "Event
 * ingest"). Per bot, ingest keeps a record (the ingest log): the document as it was before the events it keeps, and
 * every event of the bot the stream may still deliver, by stream sequence. An event is added to the record
 * (a delivery already in it changes nothing), the record is written over the revision it was read at (two
 * replicas serialise there), and the document is set to the fold of the record's events over its base. After the
 * document write the record is read again: a newer revision means another replica wrote meanwhile, and the fold is
 * written again from it, so the last document write always reflects the latest record. A crash between the writes
 * leaves the message unacked; its redelivery finds the event in the record and writes the document again.
 *
 * Events older than the stream keeps (`retentionMillis` after they were received) are folded into the base, and a
 * record expires that long after its last event: a delete's tombstone is kept exactly as long as an older event of
 * the same bot could still arrive.
 */
import { Clock, Effect, Option } from "effect"
import type { BotEvent, EventKind, EventTarget } from "../../domain/BotEvent.ts"
import { decodeBotEvent, parseSubject } from "../../domain/BotEvent.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import {
  BotStore,
  type BotStoreError,
  type DocumentCollection,
  type IngestedEvent,
  type IngestRecord
} from "../../services/BotStore.ts"
import { type Applied, type Outcome, UnknownSubject } from "./ApplyEvent.ts"
import { eventFields, type Folded, fold, type Raw } from "./EventFold.ts"

export const recordKey = (target: EventTarget, id: string): string => `${target}:${id}`

const same = (a: Raw, b: Raw): boolean => JSON.stringify(a) === JSON.stringify(b)

/** What this event did, from the fold without it and with it. */
const outcomeOf = (kind: EventKind, before: Folded, after: Folded): Outcome => {
  if (kind === "deleted") return !before.exists ? "absent" : after.exists ? "superseded" : "deleted"
  if (!after.exists) return "superseded"
  if (!before.exists) return "inserted"
  if (same(before.document, after.document)) return kind === "created" ? "exists" : "unchanged"
  return "updated"
}

/** The document before ingest first saw the key: what the store holds (an undecodable one counts as present). */
const baseOf = <A extends { readonly id: string }>(collection: DocumentCollection<A>, id: string) =>
  collection.get(id).pipe(
    Effect.map((found) => Option.getOrNull(Option.map(found, (doc): Raw => doc))),
    Effect.catchTag("DocumentDecodeError", () => Effect.succeed<Raw | null>({ id }))
  )

/** Sets the document to what the events fold to. */
const writeDocument = <A extends { readonly id: string }>(
  collection: DocumentCollection<A>,
  id: string,
  folded: Folded
): Effect.Effect<void, BotStoreError> => {
  if (!folded.exists) return Effect.asVoid(collection.remove(id))
  if (folded.fresh) return collection.replace(id, folded.document)
  if (Object.keys(folded.set).length === 0) return Effect.void
  return Effect.asVoid(collection.upsert(id, folded.set as Omit<Partial<A>, "id">))
}

export const applyOrdered = (
  subject: string,
  body: Uint8Array,
  sequence: number,
  retentionMillis: number
): Effect.Effect<Applied, BotStoreError | DocumentDecodeError | UnknownSubject, BotStore> =>
  Effect.gen(function* () {
    const route = parseSubject(subject)
    if (route === undefined) return yield* Effect.fail(new UnknownSubject({ subject }))
    const event: BotEvent = yield* decodeBotEvent(subject, body)
    const store = yield* BotStore
    const collection: DocumentCollection<{ readonly id: string }> =
      route.target === "bot" ? store.bots : store.schedules
    const key = recordKey(route.target, event.id)

    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const stored = yield* store.ingestLog.get(key)
      const current: IngestRecord = Option.isSome(stored)
        ? stored.value
        : {
            key,
            revision: 0,
            base: yield* baseOf(collection, event.id),
            foldedThrough: 0,
            events: [],
            expiresAt: 0
          }
      const known = sequence <= current.foldedThrough || current.events.some((e) => e.sequence === sequence)
      const incoming: IngestedEvent = { sequence, kind: route.kind, receivedAt: now, ...eventFields(event) }
      const events = known ? current.events : [...current.events, incoming]
      const expired = events.filter((e) => e.receivedAt < now - retentionMillis)
      const kept = events.filter((e) => e.receivedAt >= now - retentionMillis)
      const base = expired.length === 0 ? current.base : baseAfter(route.target, event.id, current.base, expired)
      const next: IngestRecord = {
        key,
        revision: current.revision + 1,
        base,
        foldedThrough: Math.max(current.foldedThrough, ...expired.map((e) => e.sequence)),
        events: kept,
        expiresAt: Math.max(current.expiresAt, now + retentionMillis)
      }
      const changed = !known || expired.length > 0
      if (changed && !(yield* store.ingestLog.put(next, Option.isSome(stored) ? current.revision : undefined))) continue
      const written = changed ? next : current
      const after = fold(route.target, event.id, written.base, written.events)
      yield* writeDocument(collection, event.id, after)
      const latest = yield* store.ingestLog.get(key)
      if (Option.isSome(latest) && latest.value.revision !== written.revision) continue
      const before = fold(
        route.target,
        event.id,
        written.base,
        written.events.filter((e) => e.sequence !== sequence)
      )
      return {
        target: route.target,
        kind: route.kind,
        id: event.id,
        outcome: known ? "duplicate" : outcomeOf(route.kind, before, after)
      }
    }
  })

/** The document the expired events leave, as the new base. */
const baseAfter = (target: EventTarget, id: string, base: Raw | null, expired: ReadonlyArray<IngestedEvent>) => {
  const folded = fold(target, id, base, expired)
  return folded.exists ? folded.document : null
}
