/**
 * An in-memory BotStore with MongoDB filter semantics (evaluated by mingo) over raw documents, so documents of
 * any shape can be stored and the decoding is the same as against a real server. Faults make reads and writes
 * fail, as an unreachable server would.
 */

import { Context, Effect, type Either, Layer, Option, Stream } from "effect"
import { Query } from "mingo"
import { Collections, decodeBot, decodeBotSchedule, enabledFilter } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import { cachedDecoder } from "../../domain/DocumentDecodeError.ts"
import {
  BotStore,
  BotStoreError,
  type BotStoreService,
  type DocumentCollection,
  type IngestLogService,
  type IngestRecord,
  ingestField,
  type UpsertOutcome
} from "../../services/BotStore.ts"

export type CollectionName = "bots" | "schedules"
type Raw = Record<string, unknown>

/** Test-side handle: raw documents in and out, and outages. */
export interface MemoryBotStoreControl {
  /** Stores a document exactly as given, whatever its shape (as another writer to Mongo could). */
  readonly insertRaw: (collection: CollectionName, document: Raw) => Effect.Effect<void>
  readonly rawDocuments: (collection: CollectionName) => Effect.Effect<ReadonlyArray<Raw>>
  /** Removes every document, as an operator restoring an empty database would. */
  readonly clear: (collection: CollectionName) => Effect.Effect<void>
  /** While down, every operation fails with BotStoreError. */
  readonly setDown: (down: boolean) => Effect.Effect<void>
  /** The next `times` operations fail with BotStoreError. */
  readonly failNext: (times: number) => Effect.Effect<void>
  /** A listing fails after delivering this many documents (a cursor dying mid-read), once. */
  readonly failListAfter: (documents: number) => Effect.Effect<void>
}

export class MemoryBotStore extends Context.Tag("the0/MemoryBotStore")<MemoryBotStore, MemoryBotStoreControl>() {}

const enabled = new Query(enabledFilter)

/** A copy without ingest's record, which only `getRaw` returns (as the Mongo layer's projections do). */
const withoutIngestRecord = (document: Raw): Raw => {
  const { [ingestField]: _, ...rest } = structuredClone(document)
  return rest
}

const revisionOf = (document: Raw): number | undefined => {
  const record = document[ingestField]
  return typeof record === "object" && record !== null ? (record as { revision?: number }).revision : undefined
}

export const make = Effect.sync(() => {
  const documents: Record<CollectionName, Array<Raw>> = { bots: [], schedules: [] }
  let down = false
  let failures = 0
  let listFailsAfter: number | undefined

  const check = (operation: string, collection: CollectionName) =>
    Effect.suspend(() => {
      const label = `${Collections[collection].database}.${Collections[collection].collection}`
      if (down) return Effect.fail(new BotStoreError({ operation, collection: label, detail: "server unreachable" }))
      if (failures > 0) {
        failures--
        return Effect.fail(new BotStoreError({ operation, collection: label, detail: "injected failure" }))
      }
      return Effect.void
    })

  const indexOf = (collection: CollectionName, id: string) => documents[collection].findIndex((d) => d.id === id)

  const collection = <A extends { readonly id: string }>(
    name: CollectionName,
    decode: (raw: unknown) => Either.Either<A, DocumentDecodeError>
  ): DocumentCollection<A> => ({
    listEnabled: Stream.unwrap(
      Effect.map(check("find", name), () => {
        const selected = documents[name].filter((d) => enabled.test(d)).map(withoutIngestRecord)
        const cutoff = listFailsAfter
        listFailsAfter = undefined
        const decoded = Stream.fromIterable(selected.slice(0, cutoff)).pipe(Stream.map(decode))
        return cutoff === undefined
          ? decoded
          : Stream.concat(
              decoded,
              Stream.fail(new BotStoreError({ operation: "find", collection: name, detail: "cursor killed" }))
            )
      })
    ),
    listIds: Effect.map(
      check("find", name),
      () => new Set(documents[name].flatMap((d) => (typeof d.id === "string" ? [d.id] : [])))
    ),
    get: (id) =>
      Effect.flatMap(check("findOne", name), () => {
        const found = documents[name][indexOf(name, id)]
        return found === undefined ? Effect.succeedNone : Effect.map(decode(withoutIngestRecord(found)), Option.some)
      }),
    upsert: (id, fields) =>
      Effect.map(check("updateOne", name), (): UpsertOutcome => {
        const index = indexOf(name, id)
        const current = documents[name][index]
        if (current === undefined) {
          documents[name].push({ id, ...structuredClone(fields) })
          return "inserted"
        }
        const next = { ...current, ...structuredClone(fields) }
        if (JSON.stringify(next) === JSON.stringify(current)) return "unchanged"
        documents[name][index] = next
        return "updated"
      }),
    getRaw: (id) =>
      Effect.map(check("findOne", name), () => {
        const found = documents[name][indexOf(name, id)]
        return found === undefined ? Option.none() : Option.some(structuredClone(found))
      }),
    insertNew: (document) =>
      Effect.map(check("insertOne", name), () => {
        if (indexOf(name, document.id) >= 0) return false
        documents[name].push(structuredClone(document) as Raw)
        return true
      }),
    replaceIf: (id, document, expected) =>
      Effect.map(check("replaceOne", name), () => {
        const index = indexOf(name, id)
        const current = documents[name][index]
        if (current === undefined || revisionOf(current) !== expected) return false
        documents[name][index] = { ...structuredClone(document), id }
        return true
      }),
    removeIf: (id, expected) =>
      Effect.map(check("deleteOne", name), () => {
        const index = indexOf(name, id)
        const current = documents[name][index]
        if (current === undefined || revisionOf(current) !== expected) return false
        documents[name].splice(index, 1)
        return true
      }),
    remove: (id) =>
      Effect.map(check("deleteOne", name), () => {
        const index = indexOf(name, id)
        if (index < 0) return false
        documents[name].splice(index, 1)
        return true
      })
  })

  const records = new Map<string, IngestRecord>()
  const logCheck = (operation: string) =>
    Effect.suspend(() => {
      if (down)
        return Effect.fail(new BotStoreError({ operation, collection: "ingest log", detail: "server unreachable" }))
      if (failures > 0) {
        failures--
        return Effect.fail(new BotStoreError({ operation, collection: "ingest log", detail: "injected failure" }))
      }
      return Effect.void
    })
  const ingestLog: IngestLogService = {
    get: (key) =>
      Effect.map(logCheck("findOne"), () => Option.fromNullable(records.get(key)).pipe(Option.map(structuredClone))),
    put: (record, expected) =>
      Effect.map(logCheck("updateOne"), () => {
        if (records.get(record.key)?.revision !== expected) return false
        records.set(record.key, structuredClone(record))
        return true
      }),
    prune: (now) =>
      Effect.map(logCheck("deleteMany"), () => {
        let pruned = 0
        for (const [key, record] of records) {
          if (record.expiresAt < now) {
            records.delete(key)
            pruned++
          }
        }
        return pruned
      })
  }

  const service: BotStoreService = {
    bots: collection("bots", cachedDecoder(decodeBot)),
    schedules: collection("schedules", cachedDecoder(decodeBotSchedule)),
    ingestLog
  }
  const control: MemoryBotStoreControl = {
    insertRaw: (name, document) => Effect.sync(() => void documents[name].push(structuredClone(document))),
    rawDocuments: (name) => Effect.sync(() => documents[name].map((d) => structuredClone(d))),
    clear: (name) =>
      Effect.sync(() => {
        documents[name] = []
      }),
    setDown: (value) =>
      Effect.sync(() => {
        down = value
      }),
    failNext: (times) =>
      Effect.sync(() => {
        failures = times
      }),
    failListAfter: (count) =>
      Effect.sync(() => {
        listFailsAfter = count
      })
  }
  return { service, control }
})

/** BotStore and its MemoryBotStore control over the same documents. */
export const layer: Layer.Layer<BotStore | MemoryBotStore> = Layer.effectContext(
  Effect.map(make, ({ service, control }) => Context.make(BotStore, service).pipe(Context.add(MemoryBotStore, control)))
)
