import { Context, Data, type Effect, type Either, type Option, type Stream } from "effect"
import type { Bot, BotSchedule } from "../domain/Bot.ts"
import type { DocumentDecodeError } from "../domain/DocumentDecodeError.ts"

/** The store could not be read or written (unreachable, timed out, refused). Never means "no documents". */
export class BotStoreError extends Data.TaggedError("BotStoreError")<{
  readonly operation: string
  readonly collection: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.operation} on ${this.collection}: ${this.detail}`
  }
}

/** What an upsert did. */
export type UpsertOutcome = "inserted" | "updated" | "unchanged"

/** One collection of bot documents keyed by their string `id` (not `_id`). */
export interface DocumentCollection<A extends { readonly id: string }> {
  /**
   * Every enabled document (only boolean `false` at `config.enabled` disables: docs/contracts.md, "Enabled documents"), each
   * decoded on its own: a document that does not decode is a `Left` naming it and its field, never a failure of
   * the whole read. The stream fails only when the store itself fails, and then it never looks like an empty
   * result.
   */
  readonly listEnabled: Stream.Stream<Either.Either<A, DocumentDecodeError>, BotStoreError>
  /**
   * The id of every document, enabled or not and whether it decodes or not (a document whose `id` is not a
   * string is left out: no object key can name it). Fails when the store fails, never with a partial set.
   */
  readonly listIds: Effect.Effect<ReadonlySet<string>, BotStoreError>
  /** The document with this id, enabled or not. */
  readonly get: (id: string) => Effect.Effect<Option.Option<A>, BotStoreError | DocumentDecodeError>
  /**
   * Inserts the document with its id as the store's own key (`_id`); false when a document with that key exists.
   * For callers that have just read that no document with this id exists: it does not look for one under another key.
   */
  readonly insertNew: (document: A & Record<string, unknown>) => Effect.Effect<boolean, BotStoreError>
  /** Sets `fields` on the document with `id`, inserting `{id, ...fields}` when there is none. */
  readonly upsert: (id: string, fields: Omit<Partial<A>, "id">) => Effect.Effect<UpsertOutcome, BotStoreError>
  /** The stored document with this id as it is (no decoding), without `_id`. */
  readonly getRaw: (id: string) => Effect.Effect<Option.Option<Record<string, unknown>>, BotStoreError>
  /**
   * Replaces the whole document with `id` by `document` (its `id` set to `id`) when its ingest record
   * (`the0_runtime_ingest.revision`) is at revision `expected` (`undefined`: when it has no ingest record); false
   * when it is not (another writer came first, or the document is gone).
   */
  readonly replaceIf: (
    id: string,
    document: Record<string, unknown>,
    expected: number | undefined
  ) => Effect.Effect<boolean, BotStoreError>
  /** Deletes the document with `id` when its ingest record is at revision `expected`, as `replaceIf`. */
  readonly removeIf: (id: string, expected: number | undefined) => Effect.Effect<boolean, BotStoreError>
  /** Deletes the document with this id; true when one was deleted. */
  readonly remove: (id: string) => Effect.Effect<boolean, BotStoreError>
}

/** One lifecycle event as ingest keeps it (docs/architecture.md, "Event ingest"). */
export interface IngestedEvent {
  /** The JetStream stream sequence: the order the API published in. */
  readonly sequence: number
  readonly kind: "created" | "updated" | "deleted"
  /** When ingest first received it (epoch millis). */
  readonly receivedAt: number
  readonly config?: Readonly<Record<string, unknown>>
  readonly custom?: unknown
}

/**
 * What ingest knows of one bot or schedule: the document as it was before the events kept here (`null`: none),
 * the events the stream may still deliver, and the sequence up to which older events were folded into `base`.
 */
export interface IngestRecord {
  /** `bot:<id>` or `schedule:<id>`. */
  readonly key: string
  /** Bumped by every write; writes compare it (two replicas may apply events of one bot at once). */
  readonly revision: number
  readonly base: Readonly<Record<string, unknown>> | null
  /** Events with a sequence at or below this are already in `base`. */
  readonly foldedThrough: number
  readonly events: ReadonlyArray<IngestedEvent>
  /** After this (epoch millis) no event of the key can still be delivered, and the record may go. */
  readonly expiresAt: number
}

/** The field of a document that holds its ingest record while the document exists. */
export const ingestField = "the0_runtime_ingest"

/** Ingest's records of keys whose document does not exist (tombstones), beside the0's collections. */
export interface IngestLogService {
  readonly get: (key: string) => Effect.Effect<Option.Option<IngestRecord>, BotStoreError>
  /**
   * Writes `record` when the stored one still has revision `expected` (`undefined`: when none is stored); false
   * when another writer came first.
   */
  readonly put: (record: IngestRecord, expected: number | undefined) => Effect.Effect<boolean, BotStoreError>
  /** Deletes every record that expired before `now`; how many. */
  readonly prune: (now: number) => Effect.Effect<number, BotStoreError>
}

/** `bot_runner.bots` and `bot_scheduler.bot_schedules` (docs/contracts.md, "Mongo documents"). */
export interface BotStoreService {
  readonly bots: DocumentCollection<Bot>
  readonly schedules: DocumentCollection<BotSchedule>
  readonly ingestLog: IngestLogService
}

export class BotStore extends Context.Tag("the0/BotStore")<BotStore, BotStoreService>() {}
