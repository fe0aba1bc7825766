/**
 * The live BotStore against the testbed's FerretDB: the BotStore contract unchanged, plus what only a real server
 * shows (the `id` index, an outage that must fail a listing rather than empty it, a cursor dying mid-read).
 * The outage tests stop and start the testbed's mongo with `scripts/testbed/testbed`.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Context, Duration, Effect, Either, Exit, Fiber, Layer, Option, Stream } from "effect"
import { MongoClient, ObjectId } from "mongodb"
import { Collections } from "../../../src/domain/Bot.ts"
import * as MongoBotStore from "../../../src/layers/live/MongoBotStore.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { botStoreContract } from "../../contracts/BotStoreContract.ts"
import { uniqueSuffix } from "../../contracts/Eventually.ts"
import { requireEnv } from "../testbed/env.ts"

const env = requireEnv("MONGO_URI")
const startedAt = new Date()
const testbed = fileURLToPath(new URL("../../../scripts/testbed/testbed", import.meta.url))

/** A direct driver client, for writing documents of any shape and inspecting the server. */
class RawMongo extends Context.Tag("test/RawMongo")<RawMongo, MongoClient>() {}

const rawLayer = Layer.scoped(
  RawMongo,
  Effect.acquireRelease(
    Effect.tryPromise(() => new MongoClient(env.MONGO_URI, { serverSelectionTimeoutMS: 10_000 }).connect()),
    (client) => Effect.promise(() => client.close())
  )
)

/** A bot document as the0 writes it. */
const botDocument = (id: string) => ({ id, config: { v: 1 }, custom: { version: "1.0.0" } })

const rawCollection = (client: MongoClient, name: keyof typeof Collections) =>
  client.db(Collections[name].database).collection(Collections[name].collection)

const insertRaw = (name: keyof typeof Collections, document: Record<string, unknown>) =>
  Effect.flatMap(RawMongo, (client) => Effect.tryPromise(() => rawCollection(client, name).insertOne({ ...document })))

/** Short retries so an outage is reported within a few seconds. */
const storeLayer = MongoBotStore.layer({
  uri: env.MONGO_URI,
  retryFor: "2 seconds",
  serverSelectionTimeout: "2 seconds"
})

const runTestbed = (...args: ReadonlyArray<string>) =>
  Effect.async<void, Error>((resume) => {
    const child = execFile(testbed, [...args], { timeout: 120_000 }, (error, _stdout, stderr) =>
      resume(error === null ? Effect.void : Effect.fail(new Error(`testbed ${args.join(" ")}: ${stderr}`)))
    )
    return Effect.sync(() => child.kill())
  })

/** Runs `use` with the testbed's mongo stopped, and always starts it again. */
const whileMongoStopped = <A, E, R>(use: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    runTestbed("stop", "mongo"),
    () => use,
    () => Effect.orDie(runTestbed("start", "mongo"))
  )

const idsOf = <R>(stream: Stream.Stream<Either.Either<{ readonly id: string }, unknown>, unknown, R>) =>
  stream.pipe(
    Stream.filterMap((r) => (Either.isRight(r) ? Option.some(r.right.id) : Option.none())),
    Stream.runCollect,
    Effect.map((chunk) => new Set(chunk))
  )

// Before the contract: @effect/vitest 0.30's `layer(...)` replaces the shared `it` for the rest of a file.
describe("MongoBotStore (FerretDB testbed)", () => {
  it.live("creates an index on id in both collections, idempotently", () =>
    Effect.gen(function* () {
      // A second start must find the index and leave it alone.
      yield* Effect.scoped(Layer.build(storeLayer))
      yield* Effect.scoped(Layer.build(storeLayer))
      const client = yield* RawMongo
      for (const name of ["bots", "schedules"] as const) {
        const indexes = yield* Effect.tryPromise(() => rawCollection(client, name).listIndexes().toArray())
        const onId = indexes.filter((index) => JSON.stringify(index.key) === JSON.stringify({ id: 1 }))
        expect(onId.map((index) => index.name)).toEqual(["id_1"])
      }
    }).pipe(Effect.provide(rawLayer))
  )

  it.live("the0's documents (an ObjectId _id) are found by id from start or a listing; ours by _id alone", () =>
    Effect.gen(function* () {
      const run = uniqueSuffix()
      const client = yield* RawMongo
      const bots = rawCollection(client, "bots")
      yield* Effect.tryPromise(() => bots.insertOne({ ...botDocument(`${run}-before`), extra: 1 }))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* BotStore
          // written by the0 before we started: found, updated in place and removed by id
          expect(Option.isSome(yield* store.bots.get(`${run}-before`))).toBe(true)
          expect(yield* store.bots.upsert(`${run}-before`, { config: { v: 2 } })).toBe("updated")
          const kept = yield* Effect.tryPromise(() => bots.find({ id: `${run}-before` }).toArray())
          expect(kept.map((d) => [d._id instanceof ObjectId, d.config, d.extra])).toEqual([[true, { v: 2 }, 1]])
          // ours carry their id as _id, whichever write inserted them
          yield* store.bots.upsert(`${run}-ours`, { config: { v: 1 } })
          yield* store.bots.insertNew(botDocument(`${run}-also`))
          const ours = yield* Effect.tryPromise(() =>
            bots.find({ id: { $in: [`${run}-ours`, `${run}-also`] } }).toArray()
          )
          expect(ours.map((d) => d._id).sort()).toEqual([`${run}-also`, `${run}-ours`])
          // another writer's document after start is looked up by _id alone until a listing shows it
          yield* Effect.tryPromise(() => bots.insertOne(botDocument(`${run}-after`)))
          expect(Option.isNone(yield* store.bots.get(`${run}-after`))).toBe(true)
          expect(yield* store.bots.listIds).toContain(`${run}-after`)
          expect(Option.isSome(yield* store.bots.get(`${run}-after`))).toBe(true)
          expect(yield* store.bots.remove(`${run}-after`)).toBe(true)
          expect(yield* store.bots.remove(`${run}-before`)).toBe(true)
          yield* store.bots.remove(`${run}-ours`)
          yield* store.bots.remove(`${run}-also`)
        }).pipe(Effect.provide(storeLayer))
      )
    }).pipe(Effect.provide(rawLayer))
  )

  it.live("a listing while the server is stopped fails with BotStoreError, then works again", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      // A second store with the default timeouts, to show how soon an outage is reported in production.
      const defaults = Context.get(yield* Layer.build(MongoBotStore.layer({ uri: env.MONGO_URI })), BotStore)
      const id = `${uniqueSuffix()}-outage`
      yield* store.bots.upsert(id, { config: { name: "outage" } })
      expect((yield* idsOf(store.bots.listEnabled)).has(id)).toBe(true)

      const down = yield* whileMongoStopped(
        Effect.all({
          list: Effect.either(Stream.runCollect(store.bots.listEnabled)).pipe(Effect.timed),
          get: Effect.either(store.bots.get(id)),
          write: Effect.either(store.bots.upsert(id, { config: { name: "changed" } })),
          defaults: Effect.either(Stream.runCollect(defaults.schedules.listEnabled)).pipe(Effect.timed)
        })
      )
      const [elapsed, list] = down.list
      expect(Either.isLeft(list) && list.left._tag).toBe("BotStoreError")
      expect(Either.isLeft(down.get) && down.get.left._tag).toBe("BotStoreError")
      expect(Either.isLeft(down.write) && down.write.left._tag).toBe("BotStoreError")
      const [defaultElapsed, defaultList] = down.defaults
      expect(Either.isLeft(defaultList) && defaultList.left._tag).toBe("BotStoreError")
      yield* Effect.log(
        `with the server stopped a listing failed after ${Duration.format(elapsed)} (retryFor 2 s, server selection 2 s)` +
          ` and after ${Duration.format(defaultElapsed)} with the defaults (retryFor 10 s, server selection 5 s)`
      )
      expect(Duration.toMillis(elapsed)).toBeLessThan(8_000)
      expect(Duration.toMillis(defaultElapsed)).toBeLessThan(20_000)

      // The same client reconnects once the server is back.
      expect((yield* idsOf(store.bots.listEnabled)).has(id)).toBe(true)
      expect(Option.map(yield* store.bots.get(id), (bot) => bot.config)).toEqual(Option.some({ name: "outage" }))
      expect(yield* store.bots.remove(id)).toBe(true)
    }).pipe(Effect.provide(storeLayer), Effect.scoped)
  )

  it.live("reads and writes retry through an outage shorter than retryFor", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      const id = `${uniqueSuffix()}-bridged`
      yield* store.bots.upsert(id, { config: { name: "before" } })
      const [ids, outcome] = yield* whileMongoStopped(
        Effect.gen(function* () {
          const list = yield* Effect.fork(idsOf(store.bots.listEnabled))
          const write = yield* Effect.fork(store.bots.upsert(id, { config: { name: "after" } }))
          yield* Effect.sleep("1 second")
          yield* Effect.orDie(runTestbed("start", "mongo"))
          return yield* Fiber.join(Fiber.zip(list, write))
        })
      )
      expect(ids.has(id)).toBe(true)
      expect(outcome).toBe("updated")
      expect(Option.map(yield* store.bots.get(id), (bot) => bot.config)).toEqual(Option.some({ name: "after" }))
      yield* store.bots.remove(id)
    }).pipe(Effect.provide(MongoBotStore.layer({ uri: env.MONGO_URI, retryFor: "60 seconds" })))
  )

  it.live("a cursor that dies mid-read fails the listing after the documents it delivered", () =>
    Effect.gen(function* () {
      const run = uniqueSuffix()
      const store = yield* BotStore
      for (let i = 0; i < 20; i++) yield* store.bots.upsert(`${run}-${i}`, {})
      let seen = 0
      const result = yield* store.bots.listEnabled.pipe(
        Stream.runForEach(() =>
          Effect.suspend(() => {
            seen++
            // After the first document of the first batch, the server goes away before the next batch.
            return seen === 1 ? Effect.orDie(runTestbed("stop", "mongo")) : Effect.void
          })
        ),
        Effect.exit,
        Effect.ensuring(Effect.orDie(runTestbed("start", "mongo")))
      )
      expect(seen).toBe(5)
      const failure = Exit.isFailure(result) ? Cause.failureOption(result.cause) : Option.none()
      expect(Option.map(failure, (error) => [error._tag, error.operation])).toEqual(
        Option.some(["BotStoreError", "getMore"])
      )
      const again = yield* idsOf(store.bots.listEnabled)
      expect(Array.from({ length: 20 }, (_, i) => again.has(`${run}-${i}`)).every(Boolean)).toBe(true)
      for (let i = 0; i < 20; i++) yield* store.bots.remove(`${run}-${i}`)
    }).pipe(Effect.provide(MongoBotStore.layer({ uri: env.MONGO_URI, batchSize: 5, retryFor: "2 seconds" })))
  )

  it.live("an unreachable server fails the layer at start within the startup deadline", () =>
    Effect.gen(function* () {
      const [elapsed, exit] = yield* Effect.timed(
        Effect.exit(
          Effect.scoped(
            Layer.build(MongoBotStore.layer({ uri: "mongodb://127.0.0.1:1/", startupTimeout: "2 seconds" }))
          )
        )
      )
      expect(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.map(String))).toEqual(
        Option.some(expect.stringContaining("BotStoreError"))
      )
      expect(Duration.toMillis(elapsed)).toBeLessThan(4_000)
    })
  )

  it.live("MONGO_URI that the driver refuses fails with a message naming MONGO_URI", () =>
    Effect.gen(function* () {
      const failure = yield* Effect.flip(
        Effect.scoped(Layer.build(MongoBotStore.layerFromEnv)).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["MONGO_URI", "http://user:secret@db"]])))
        )
      )
      expect(failure._tag).toBe("MongoConfigError")
      expect(failure.message).toContain("MONGO_URI")
      expect(failure.message).not.toContain("secret")
    })
  )
})

botStoreContract("MongoDB (FerretDB testbed)", Layer.merge(storeLayer, rawLayer), insertRaw)

// The contract's documents carry unique ids; remove the ones it wrote so the shared collections stay small.
afterAll(async () => {
  const client = await new MongoClient(env.MONGO_URI, { serverSelectionTimeoutMS: 10_000 }).connect()
  try {
    for (const name of ["bots", "schedules"] as const) {
      // the0's documents from this run (ObjectIds from its start) and ours (the id as _id)
      await rawCollection(client, name).deleteMany({
        $or: [
          { _id: { $gte: ObjectId.createFromTime(Math.floor(startedAt.getTime() / 1000)) } },
          { _id: { $regex: "^[0-9a-z]{10,12}-" } as never }
        ],
        id: { $regex: "^[0-9a-z]{10,12}-" }
      })
    }
  } finally {
    await client.close()
  }
})
