/**
 * Events from the durable consumer, applied so that the store ends as if every bot's events had been applied in
 * publish order, whatever the delivery order, redeliveries, replicas or crashes (docs/architecture.md, "Event
 * ingest").
 *
 * Per bot, ingest keeps a record: the document as it was before the events it keeps, and every event of the bot the
 * stream may still deliver, by stream sequence. While the document exists the record is a field of it
 * (`the0_runtime_ingest`), so applying an event to a bot is one write; once a delete removes it, the record is kept
 * as a tombstone in the ingest log, for as long as an older event of the bot could still arrive.
 *
 * Applying an event: read both places and take every event either holds, add this one (a delivery already there
 * changes nothing), fold them over the base with the0's semantics, and write the result where it belongs, over the
 * revision read there (a writer that came first makes us read again). Then look at the other place again: if it
 * changed since it was read, another replica wrote there meanwhile, so read and write again. Of two replicas racing,
 * the second to look always sees the first, and every write carries every event read from both places, so no event
 * is lost. A crash leaves the message unacked and its redelivery completes the work.
 */
import { Clock, Effect, Option } from "effect"
import type { BotEvent, EventKind, EventTarget } from "../../domain/BotEvent.ts"
import { decodeBotEvent, parseSubject } from "../../domain/BotEvent.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import {
  BotStore,
  type BotStoreError,
  type BotStoreService,
  type DocumentCollection,
  type IngestedEvent,
  type IngestRecord,
  ingestField
} from "../../services/BotStore.ts"
import { type Applied, type Outcome, UnknownSubject } from "./ApplyEvent.ts"
import { eventFields, type Folded, fold, type Raw } from "./EventFold.ts"

export const recordKey = (target: EventTarget, id: string): string => `${target}:${id}`

type Collection = DocumentCollection<{ readonly id: string }>

const same = (a: Raw, b: Raw): boolean => JSON.stringify(a) === JSON.stringify(b)

/** What this event did, from the fold without it and with it. */
const outcomeOf = (kind: EventKind, before: Folded, after: Folded): Outcome => {
  if (kind === "deleted") return !before.exists ? "absent" : after.exists ? "superseded" : "deleted"
  if (!after.exists) return "superseded"
  if (!before.exists) return "inserted"
  if (same(before.document, after.document)) return kind === "created" ? "exists" : "unchanged"
  return "updated"
}

const emptyRecord = (key: string): IngestRecord => ({
  key,
  revision: 0,
  base: null,
  foldedThrough: 0,
  events: [],
  expiresAt: 0
})

const recordIn = (document: Raw): IngestRecord | undefined => {
  const record = document[ingestField]
  return typeof record === "object" && record !== null ? (record as IngestRecord) : undefined
}

const withoutRecord = (document: Raw): Raw => {
  const { [ingestField]: _, ...rest } = document
  return rest
}

/** Both places as read: the document (with its record) and the tombstone, each with the revision to write over. */
interface Read {
  readonly document: Option.Option<Raw>
  readonly documentRevision: number | undefined
  readonly tombstone: Option.Option<IngestRecord>
  /** Every event either place holds, over the document's base (or the tombstone's when there is no document). */
  readonly record: IngestRecord
}

const read = (collection: Collection, store: BotStoreService, key: string, id: string) =>
  Effect.gen(function* () {
    const document = yield* collection.getRaw(id)
    const tombstone = yield* store.ingestLog.get(key)
    const inDocument = Option.flatMap(document, (d) => Option.fromNullable(recordIn(d)))
    const primary = Option.match(document, {
      onNone: () => Option.getOrElse(tombstone, () => emptyRecord(key)),
      onSome: (d) => Option.getOrElse(inDocument, () => ({ ...emptyRecord(key), base: withoutRecord(d) }))
    })
    // a document written by someone else (no record) is the truth from then on; older tombstones do not apply to it
    const other = Option.isSome(inDocument) ? Option.getOrUndefined(tombstone) : undefined
    const record: IngestRecord = {
      ...primary,
      revision: Math.max(primary.revision, other?.revision ?? 0),
      events: [
        ...primary.events,
        ...(other?.events ?? []).filter(
          (e) => e.sequence > primary.foldedThrough && !primary.events.some((p) => p.sequence === e.sequence)
        )
      ]
    }
    return {
      document,
      documentRevision: Option.getOrUndefined(Option.map(inDocument, (r) => r.revision)),
      tombstone,
      record
    } satisfies Read
  })

const tombstoneRevision = (tombstone: Option.Option<IngestRecord>): number | undefined =>
  Option.getOrUndefined(Option.map(tombstone, (t) => t.revision))

/** Whether `stored` already holds exactly these events (nothing to write there). */
const holds = (stored: IngestRecord | undefined, record: IngestRecord): boolean =>
  stored !== undefined &&
  stored.foldedThrough === record.foldedThrough &&
  stored.events.length === record.events.length &&
  record.events.every((e) => stored.events.some((s) => s.sequence === e.sequence))

/**
 * Writes `next` and the document it folds to where they belong; false when another writer came first or wrote the
 * other place meanwhile (read again and retry).
 */
const write = (collection: Collection, store: BotStoreService, id: string, current: Read, next: IngestRecord) =>
  Effect.gen(function* () {
    const folded = fold(targetOf(next.key), id, next.base, next.events)
    if (folded.exists) {
      const document = { ...folded.document, id, [ingestField]: next }
      const written = Option.isSome(current.document)
        ? yield* collection.replaceIf(id, document, current.documentRevision)
        : yield* collection.insertNew(document)
      if (!written) return false
      const tombstone = yield* store.ingestLog.get(next.key)
      return tombstoneRevision(tombstone) === tombstoneRevision(current.tombstone)
    }
    if (!(yield* store.ingestLog.put(next, tombstoneRevision(current.tombstone)))) return false
    // a removal refused because another writer changed the document shows below: the document is still there
    if (Option.isSome(current.document)) yield* collection.removeIf(id, current.documentRevision)
    return Option.isNone(yield* collection.getRaw(id))
  }) satisfies Effect.Effect<boolean, BotStoreError>

const targetOf = (key: string): EventTarget => (key.startsWith("schedule:") ? "schedule" : "bot")

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
    const collection: Collection = route.target === "bot" ? store.bots : store.schedules
    const key = recordKey(route.target, event.id)

    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const current = yield* read(collection, store, key, event.id)
      const { record } = current
      const known = sequence <= record.foldedThrough || record.events.some((e) => e.sequence === sequence)
      const incoming: IngestedEvent = { sequence, kind: route.kind, receivedAt: now, ...eventFields(event) }
      const events = known ? record.events : [...record.events, incoming]
      const expired = events.filter((e) => e.receivedAt < now - retentionMillis)
      const kept = events.filter((e) => e.receivedAt >= now - retentionMillis)
      const next: IngestRecord = {
        key,
        revision: record.revision + 1,
        base: expired.length === 0 ? record.base : baseAfter(route.target, event.id, record.base, expired),
        foldedThrough: Math.max(record.foldedThrough, ...expired.map((e) => e.sequence)),
        events: kept,
        expiresAt: Math.max(record.expiresAt, now + retentionMillis)
      }
      const after = fold(route.target, event.id, next.base, next.events)
      const where = after.exists
        ? Option.flatMap(current.document, (d) => Option.fromNullable(recordIn(d)))
        : Option.isNone(current.document)
          ? current.tombstone
          : Option.none()
      // a delivery already applied, and its result where it belongs: nothing to write
      const settled = expired.length === 0 && holds(Option.getOrUndefined(where), next)
      if (!settled && !(yield* write(collection, store, event.id, current, next))) continue
      const before = fold(
        route.target,
        event.id,
        next.base,
        next.events.filter((e) => e.sequence !== sequence)
      )
      return {
        target: route.target,
        kind: route.kind,
        id: event.id,
        outcome: known ? "duplicate" : outcomeOf(route.kind, before, after),
        written: {
          document: after.exists ? { ...after.document, id: event.id } : null,
          version: Math.max(next.foldedThrough, ...next.events.map((e) => e.sequence))
        }
      }
    }
  })

/** The document the expired events leave, as the new base. */
const baseAfter = (target: EventTarget, id: string, base: Raw | null, expired: ReadonlyArray<IngestedEvent>) => {
  const folded = fold(target, id, base, expired)
  return folded.exists ? folded.document : null
}
