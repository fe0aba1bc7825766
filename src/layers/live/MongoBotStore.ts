/**
 * The BotStore port over the MongoDB driver (`mongodb@7`): `bot_runner.bots` and `bot_scheduler.bot_schedules`
 * (docs/contracts.md, "Mongo documents"), stored as the0 stores them, keyed by the string `id`. Documents this runtime inserts have
 * their id as `_id` too, so they are found through the primary index; the0's (an ObjectId `_id`) are looked up by `id`
 * (docs/architecture.md, "Store lookups").
 *
 * - Listings run the0's enabled filter (docs/contracts.md, "Enabled documents") as a cursor read in batches; each document is decoded on its own
 *   (through a per-id decode cache, so unchanged documents are not decoded again on every full read), and `_id` is
 *   dropped before decoding. A listing fails when the store fails, including a cursor that dies mid-read: it never
 *   ends early as if complete.
 * - Every driver promise is wrapped into `BotStoreError` (operation, collection, detail, cause). Transient failures
 *   (network errors, server selection, retryable labels and codes) are retried with capped exponential backoff for a
 *   bounded time; a listing is retried only until its first batch arrived, never after documents were delivered.
 * - Any connection string the driver accepts works (auth, TLS, replica sets, `mongodb+srv`). Our short default
 *   timeouts apply only where the connection string does not set its own, so an outage is reported in seconds.
 * - At start: connect and ping within a deadline (the0: 10 s), then an index on `id` in both collections, created
 *   idempotently; a server that refuses it (permissions) is logged and the store runs without it. The index is not
 *   unique: the0 does not prevent duplicate ids, and a unique index would fail on such a database.
 *
 * Its parts: `MongoConfig` (settings, connection string), `MongoCalls` (driver calls, transient failures, retries).
 */
import { Chunk, Duration, Effect, type Either, Layer, Option, type Scope, Stream } from "effect"
import { type Collection, type Document, type Filter, type FindCursor, MongoClient, MongoError } from "mongodb"
import { Collections, decodeBot, decodeBotSchedule, enabledFilter } from "../../domain/Bot.ts"
import { cachedDecoder, type DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
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
import { attempt, retryTransient, type Target } from "./MongoCalls.ts"
import {
  configFromEnv,
  driverOptions,
  type MongoBotStoreConfig,
  MongoConfigError,
  redactUri,
  type Settings
} from "./MongoConfig.ts"

export { isTransient } from "./MongoCalls.ts"
export {
  type CollectionNames,
  configFromEnv,
  defaultUri,
  type MongoBotStoreConfig,
  MongoConfigError,
  type NamespaceName,
  redactUri
} from "./MongoConfig.ts"

// ---------------------------------------------------------------------------------------------------------------
// Collections

/** The domain's enabled filter (docs/contracts.md, "Enabled documents") as the driver types it (mutable arrays). */
const enabled: Filter<Document> = { $or: [...enabledFilter.$or] }

/** The document `filter` selects, when its ingest record is at revision `expected` (none when undefined). */
const atRevision = (filter: Filter<Document>, expected: number | undefined): Filter<Document> =>
  expected === undefined
    ? { ...filter, [ingestField]: { $exists: false } }
    : { ...filter, [`${ingestField}.revision`]: expected }

/** The document without `_id` (an ObjectId the0 never reads), so decoded documents are plain JSON-able values. */
const withoutId = (document: Document): Record<string, unknown> => {
  const { _id, ...rest } = document
  return rest
}

/** The buffered documents after the next batch arrived; none when the cursor is exhausted. */
const nextBatch = (
  target: Target,
  operation: string,
  cursor: FindCursor<Document>
): Effect.Effect<Option.Option<ReadonlyArray<Document>>, BotStoreError> =>
  Effect.map(
    attempt(target, operation, () => cursor.hasNext()),
    (more) => (more ? Option.some(cursor.readBufferedDocuments()) : Option.none())
  )

const closeCursor = (cursor: FindCursor<Document>): Effect.Effect<void> =>
  Effect.tryPromise(() => cursor.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)

/** The ids of the documents in `batch` whose `_id` is not their id (the0's, with an ObjectId `_id`). */
const legacyIn = (batch: ReadonlyArray<Document>): ReadonlyArray<string> =>
  batch.flatMap((d) => (typeof d.id === "string" && d._id !== d.id ? [d.id] : []))

/** Every id and `_id` in the collection: one read of the whole collection, ids only. */
const readIds = (target: Target, documents: Collection<Document>) =>
  retryTransient(
    target,
    attempt(target, "find", (signal) =>
      documents.find({}, { projection: { _id: 1, id: 1 }, batchSize: target.settings.batchSize, signal }).toArray()
    )
  )

const makeCollection = <A extends { readonly id: string }>(
  client: MongoClient,
  name: keyof typeof Collections,
  decode: (raw: unknown) => Either.Either<A, DocumentDecodeError>,
  settings: Settings
): Effect.Effect<DocumentCollection<A>, BotStoreError> =>
  Effect.gen(function* () {
    const { database, collection } = settings.collections[name]
    const target: Target = { collection: `${database}.${collection}`, settings }
    const documents: Collection<Document> = client.db(database).collection(collection)
    /**
     * The ids whose document has another `_id` (docs/architecture.md, "Store lookups"): read at start, and added to
     * from every full listing. Every other id is looked up by `_id`, which every server answers from its primary
     * index; a filter on `id` reads the whole collection on FerretDB.
     */
    const legacy = new Set(legacyIn(yield* readIds(target, documents)))
    const byId = (id: string): Filter<Document> => (legacy.has(id) ? { id } : { _id: id as never })
    const findById = (id: string, projection?: Document) =>
      retryTransient(
        target,
        attempt(target, "findOne", (signal) =>
          documents.findOne(byId(id), projection === undefined ? { signal } : { signal, projection })
        )
      )
    const decodeAll = (batch: ReadonlyArray<Document>) => {
      for (const id of legacyIn(batch)) legacy.add(id)
      return Chunk.fromIterable(batch.map((d) => decode(withoutId(d))))
    }

    // A fresh cursor per attempt: a cursor that failed is closed by the driver and would then look exhausted.
    const firstBatch = Effect.gen(function* () {
      const cursor = yield* Effect.acquireRelease(
        // ingest's record is not the controllers' business: it stays on the server
        Effect.sync(() => documents.find(enabled, { batchSize: settings.batchSize, projection: { [ingestField]: 0 } })),
        closeCursor
      )
      const first = yield* nextBatch(target, "find", cursor)
      return { cursor, first }
    })

    const listEnabled: Stream.Stream<Either.Either<A, DocumentDecodeError>, BotStoreError> = Stream.unwrapScoped(
      Effect.map(retryTransient(target, firstBatch), ({ cursor, first }) =>
        Option.match(first, {
          onNone: () => Stream.empty,
          onSome: (batch) =>
            Stream.concat(
              Stream.fromChunk(decodeAll(batch)),
              // After documents were delivered a failure fails the listing: retrying would deliver them twice.
              Stream.repeatEffectChunkOption(
                nextBatch(target, "getMore", cursor).pipe(
                  Effect.mapError(Option.some),
                  Effect.flatMap(
                    Option.match({
                      onNone: () => Effect.fail(Option.none()),
                      onSome: (more) => Effect.succeed(decodeAll(more))
                    })
                  )
                )
              )
            )
        })
      )
    )

    return {
      listEnabled,
      listIds: readIds(target, documents).pipe(
        Effect.map((found) => {
          for (const id of legacyIn(found)) legacy.add(id)
          return new Set(found.flatMap((d) => (typeof d.id === "string" ? [d.id] : [])))
        })
      ),
      get: (id) =>
        findById(id, { [ingestField]: 0 }).pipe(
          Effect.flatMap((found) =>
            found === null ? Effect.succeedNone : Effect.map(decode(withoutId(found)), Option.some)
          )
        ),
      upsert: (id, fields) => {
        const set = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
        const update = Object.keys(set).length === 0 ? { $setOnInsert: { id } } : { $set: set, $setOnInsert: { id } }
        return retryTransient(
          target,
          attempt(target, "updateOne", () => documents.updateOne(byId(id), update, { upsert: true }))
        ).pipe(
          Effect.map(
            (result): UpsertOutcome =>
              result.upsertedCount > 0 ? "inserted" : result.modifiedCount > 0 ? "updated" : "unchanged"
          )
        )
      },
      getRaw: (id) =>
        Effect.map(findById(id), (found) => (found === null ? Option.none() : Option.some(withoutId(found)))),
      insertNew: (document) =>
        retryTransient(
          target,
          attempt(target, "insertOne", () => documents.insertOne({ ...document, _id: document.id as never }))
        ).pipe(
          Effect.as(true),
          Effect.catchIf(duplicateKey, () => Effect.succeed(false))
        ),
      replaceIf: (id, document, expected) =>
        retryTransient(
          target,
          attempt(target, "replaceOne", () => documents.replaceOne(atRevision(byId(id), expected), { ...document, id }))
        ).pipe(Effect.map((result) => result.matchedCount === 1)),
      removeIf: (id, expected) =>
        retryTransient(
          target,
          attempt(target, "deleteOne", () => documents.deleteOne(atRevision(byId(id), expected)))
        ).pipe(Effect.map((result) => result.deletedCount === 1)),
      remove: (id) =>
        retryTransient(
          target,
          attempt(target, "deleteOne", () => documents.deleteOne(byId(id)))
        ).pipe(Effect.map((result) => result.deletedCount > 0))
    }
  })
/** Ingest's records, one per key (`_id`), in the bots' database (COMPATIBILITY.md, "Event ingest"). */
export const ingestLogCollection = "runtime_ingest_log"

const duplicateKey = (error: BotStoreError): boolean => error.cause instanceof MongoError && error.cause.code === 11000

const makeIngestLog = (client: MongoClient, settings: Settings): IngestLogService => {
  const database = settings.collections.bots.database
  const target: Target = { collection: `${database}.${ingestLogCollection}`, settings }
  const records: Collection<Document> = client.db(database).collection(ingestLogCollection)
  const toRecord = (found: Document): IngestRecord => {
    const { _id, ...rest } = found
    return { ...(rest as Omit<IngestRecord, "key">), key: String(_id) }
  }
  return {
    get: (key) =>
      retryTransient(
        target,
        attempt(target, "findOne", (signal) => records.findOne({ _id: key as never }, { signal }))
      ).pipe(Effect.map((found) => (found === null ? Option.none() : Option.some(toRecord(found))))),
    put: (record, expected) => {
      const { key, ...fields } = record
      return expected === undefined
        ? retryTransient(
            target,
            attempt(target, "insertOne", () => records.insertOne({ _id: key as never, ...fields }))
          ).pipe(
            Effect.as(true),
            Effect.catchIf(duplicateKey, () => Effect.succeed(false))
          )
        : retryTransient(
            target,
            attempt(target, "updateOne", () =>
              records.updateOne({ _id: key as never, revision: expected }, { $set: fields })
            )
          ).pipe(Effect.map((result) => result.matchedCount === 1))
    },
    prune: (now) =>
      retryTransient(
        target,
        attempt(target, "deleteMany", () => records.deleteMany({ expiresAt: { $lt: now } }))
      ).pipe(Effect.map((result) => result.deletedCount))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client, start-up and layers
const newClient = (config: MongoBotStoreConfig): Effect.Effect<MongoClient, MongoConfigError> =>
  Effect.try({
    try: () => new MongoClient(config.uri, driverOptions(config)),
    catch: (cause) =>
      new MongoConfigError({
        detail: `${config.setting ?? "the MongoDB connection string"} is not a connection string the driver accepts: ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
        cause
      })
  })

const closeClient = (client: MongoClient): Effect.Effect<void> =>
  Effect.tryPromise(() => client.close()).pipe(
    Effect.timeout("10 seconds"),
    Effect.catchAll((error) => Effect.logWarning("MongoDB client did not close cleanly", error))
  )

/** Creates the `{id: 1}` index unless an index on exactly `id` exists; a refusal is logged, not fatal. */
const ensureIdIndex = (
  client: MongoClient,
  name: keyof typeof Collections,
  settings: Settings
): Effect.Effect<void> => {
  const { database, collection } = settings.collections[name]
  const target: Target = { collection: `${database}.${collection}`, settings }
  const documents = client.db(database).collection(collection)
  const hasIdIndex = retryTransient(
    target,
    attempt(target, "listIndexes", () => documents.listIndexes().toArray())
  ).pipe(
    Effect.map((indexes) =>
      indexes.some((index) => {
        const key: unknown = index.key
        return typeof key === "object" && key !== null && Object.keys(key).length === 1 && "id" in key
      })
    ),
    // A collection that does not exist yet has no indexes; some servers answer NamespaceNotFound (26).
    Effect.catchIf(
      (error) => error.cause instanceof MongoError && error.cause.code === 26,
      () => Effect.succeed(false)
    )
  )
  return Effect.flatMap(hasIdIndex, (exists) =>
    exists
      ? Effect.void
      : retryTransient(
          target,
          attempt(target, "createIndex", () => documents.createIndex({ id: 1 }, { name: "id_1" }))
        ).pipe(Effect.tap((index) => Effect.logInfo(`created index ${index} on ${target.collection}`)))
  ).pipe(
    Effect.asVoid,
    Effect.catchAll((error) =>
      Effect.logWarning(`no index on id in ${target.collection}; listings and lookups scan the collection`, error)
    )
  )
}

/**
 * A BotStore over a connected client, closed with the scope. Fails when the URI is not accepted or the server
 * does not answer a ping within `startupTimeout`.
 */
export const make = (
  config: MongoBotStoreConfig
): Effect.Effect<BotStoreService, MongoConfigError | BotStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const settings: Settings = {
      retryFor: Duration.decode(config.retryFor ?? "10 seconds"),
      operationTimeout: Duration.decode(config.operationTimeout ?? "30 seconds"),
      batchSize: config.batchSize ?? 1_000,
      collections: config.collections ?? Collections
    }
    const startupTimeout = Duration.decode(config.startupTimeout ?? "10 seconds")
    const client = yield* Effect.acquireRelease(newClient(config), closeClient)
    const admin: Target = { collection: "admin", settings }
    yield* retryTransient(
      admin,
      attempt(admin, "connect", () => client.connect()).pipe(
        Effect.zipRight(attempt(admin, "ping", (signal) => client.db("admin").command({ ping: 1 }, { signal })))
      )
    ).pipe(
      Effect.timeoutFail({
        duration: startupTimeout,
        onTimeout: () =>
          new BotStoreError({
            operation: "connect",
            collection: "admin",
            detail: `${redactUri(config.uri)} did not answer within ${Duration.format(startupTimeout)}`
          })
      })
    )
    yield* Effect.logInfo(`connected to MongoDB at ${redactUri(config.uri)}`)
    yield* Effect.all([ensureIdIndex(client, "bots", settings), ensureIdIndex(client, "schedules", settings)], {
      concurrency: 2,
      discard: true
    })
    return {
      bots: yield* makeCollection(client, "bots", cachedDecoder(decodeBot), settings),
      schedules: yield* makeCollection(client, "schedules", cachedDecoder(decodeBotSchedule), settings),
      ingestLog: makeIngestLog(client, settings)
    }
  })

/** The live BotStore for `config`, connected for the life of the layer. */
export const layer = (config: MongoBotStoreConfig): Layer.Layer<BotStore, MongoConfigError | BotStoreError> =>
  Layer.scoped(BotStore, make(config))

/** The live BotStore for `MONGO_URI`. */
export const layerFromEnv: Layer.Layer<BotStore, MongoConfigError | BotStoreError> = Layer.scoped(
  BotStore,
  Effect.flatMap(configFromEnv, make)
)
