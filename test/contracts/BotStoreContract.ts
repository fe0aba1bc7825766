/**
 * The BotStore contract: the0's documents, its enabled filter, per-document decoding and the NATS-sync writes.
 * `insertRaw` writes a document as-is (another writer to the database), so a bad document can be planted.
 * Ids are unique per run so the suite can run against a shared server.
 */
import { describe, expect, layer as withLayer } from "@effect/vitest"
import { Chunk, Effect, Either, type Layer, Option, Stream } from "effect"
import type { Bot } from "../../src/domain/Bot.ts"
import { BotStore, type DocumentCollection, ingestField } from "../../src/services/BotStore.ts"
import { uniqueSuffix } from "./Eventually.ts"

export type InsertRaw<R> = (
  collection: "bots" | "schedules",
  document: Record<string, unknown>
) => Effect.Effect<void, unknown, R>

const bot = (id: string, config: Record<string, unknown> = {}): Bot => ({
  id,
  config: { name: "alpha", symbol: "BTC/USD", ...config },
  custom: {
    version: "1.0.0",
    filePath: `user/alpha/1.0.0.zip`,
    config: {
      name: "alpha",
      runtime: "python3.11",
      type: "realtime",
      entrypoints: { bot: "main.py", query: "query.py" }
    }
  }
})

/** Writes a document through the store's own upsert: its fields, keyed by its id. */
const put = <A extends { readonly id: string }>(collection: DocumentCollection<A>, document: A) => {
  const { id, ...fields } = document
  return collection.upsert(id, fields)
}

export const botStoreContract = <R>(name: string, layer: Layer.Layer<BotStore | R, unknown>, insertRaw: InsertRaw<R>) =>
  describe(`BotStore contract: ${name}`, () => {
    withLayer(layer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
      const enabledIds = (run: string, which: "bots" | "schedules" = "bots") =>
        Effect.flatMap(BotStore, (store) => Stream.runCollect(store[which].listEnabled)).pipe(
          Effect.map((chunk) =>
            Chunk.toReadonlyArray(chunk)
              .map((r) => (Either.isRight(r) ? r.right.id : `bad:${r.left.documentId}:${r.left.field}`))
              .filter((id) => id.includes(run))
              .sort()
          )
        )

      it.effect("only boolean false at config.enabled disables; the top-level enabled is ignored", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const run = uniqueSuffix()
          const cases: Record<string, Record<string, unknown>> = {
            absent: {},
            true: { enabled: true },
            false: { enabled: false },
            string: { enabled: "false" },
            zero: { enabled: 0 },
            null: { enabled: null }
          }
          for (const [k, config] of Object.entries(cases)) yield* put(store.bots, bot(`${run}-${k}`, config))
          yield* insertRaw("bots", { ...bot(`${run}-toplevel`), enabled: false })
          expect(yield* enabledIds(run)).toEqual(
            ["absent", "null", "string", "toplevel", "true", "zero"].map((k) => `${run}-${k}`)
          )
        })
      )

      it.effect("a document that does not decode is reported by id and field; the others are listed", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const run = uniqueSuffix()
          yield* put(store.bots, bot(`${run}-good`))
          yield* insertRaw("bots", { id: `${run}-bad`, config: { a: 1 }, custom: { version: 7 } })
          expect(yield* enabledIds(run)).toEqual([`bad:${run}-bad:custom.version`, `${run}-good`])
          const got = yield* Effect.either(store.bots.get(`${run}-bad`))
          expect(Either.isLeft(got) && got.left._tag === "DocumentDecodeError" && got.left.field).toBe("custom.version")
        })
      )

      it.effect("replaceIf and removeIf act only on the ingest revision they were given", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const id = `${uniqueSuffix()}-r`
          expect(yield* store.bots.replaceIf(id, { config: { v: 0 } }, undefined)).toBe(false)
          yield* insertRaw("bots", { id, config: { v: 1 }, custom: { version: "1.0.0" }, extra: true })
          // another writer's document is known from the next full listing (docs/architecture.md, "Store lookups")
          yield* store.bots.listIds
          expect(Option.getOrThrow(yield* store.bots.getRaw(id))).toEqual({
            id,
            config: { v: 1 },
            custom: { version: "1.0.0" },
            extra: true
          })
          expect(yield* store.bots.replaceIf(id, { config: { v: 2 } }, 1)).toBe(false)
          expect(
            yield* store.bots.replaceIf(
              id,
              { id: "ignored", config: { v: 2 }, [ingestField]: { revision: 1 } },
              undefined
            )
          ).toBe(true)
          expect(Option.getOrThrow(yield* store.bots.getRaw(id))).toEqual({
            id,
            config: { v: 2 },
            [ingestField]: { revision: 1 }
          })
          expect(yield* store.bots.replaceIf(id, { config: { v: 3 } }, undefined)).toBe(false)
          expect(yield* store.bots.removeIf(id, 2)).toBe(false)
          expect(yield* store.bots.removeIf(id, undefined)).toBe(false)
          expect(yield* store.bots.removeIf(id, 1)).toBe(true)
          expect(yield* store.bots.getRaw(id)).toEqual(Option.none())
        })
      )

      it.effect("insertNew inserts once; the document is found, replaced and removed by its id like any other", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const id = `${uniqueSuffix()}-n`
          expect(yield* store.bots.insertNew({ id, config: { v: 1 }, [ingestField]: { revision: 1 } })).toBe(true)
          expect(yield* store.bots.insertNew({ id, config: { v: 9 } })).toBe(false)
          expect(Option.getOrThrow(yield* store.bots.get(id)).config).toEqual({ v: 1 })
          expect(yield* store.bots.replaceIf(id, { config: { v: 2 }, [ingestField]: { revision: 2 } }, 1)).toBe(true)
          expect(Option.getOrThrow(yield* store.bots.getRaw(id))).toEqual({
            id,
            config: { v: 2 },
            [ingestField]: { revision: 2 }
          })
          expect(yield* store.bots.listIds).toContain(id)
          // the record is ingest's: listings and get leave it out
          expect(Object.keys(Option.getOrThrow(yield* store.bots.get(id)))).not.toContain(ingestField)
          const listed = Chunk.toReadonlyArray(yield* Stream.runCollect(store.bots.listEnabled)).flatMap((r) =>
            Either.isRight(r) && r.right.id === id ? [r.right] : []
          )
          expect(listed.map((d) => Object.keys(d).includes(ingestField))).toEqual([false])
          expect(yield* store.bots.removeIf(id, 2)).toBe(true)
          expect(yield* store.bots.get(id)).toEqual(Option.none())
        })
      )

      it.effect("the ingest log writes only over the revision it read, and prunes what expired", () =>
        Effect.gen(function* () {
          const { ingestLog } = yield* BotStore
          const key = `bot:${uniqueSuffix()}-log`
          const record = {
            key,
            revision: 1,
            base: null,
            foldedThrough: 0,
            events: [{ sequence: 7, kind: "created" as const, receivedAt: 1000, config: { a: 1 }, custom: { v: "1" } }],
            expiresAt: 5_000
          }
          expect(yield* ingestLog.get(key)).toEqual(Option.none())
          expect(yield* ingestLog.put(record, undefined)).toBe(true)
          expect(yield* ingestLog.put({ ...record, revision: 9 }, undefined)).toBe(false)
          expect(Option.getOrThrow(yield* ingestLog.get(key))).toEqual(record)
          const next = { ...record, revision: 2, base: { id: "x", config: { b: 2 } }, foldedThrough: 7, events: [] }
          expect(yield* ingestLog.put(next, 3)).toBe(false)
          expect(yield* ingestLog.put(next, 1)).toBe(true)
          expect(yield* ingestLog.put({ ...next, revision: 3 }, 1)).toBe(false)
          expect(Option.getOrThrow(yield* ingestLog.get(key))).toEqual(next)
          expect(yield* ingestLog.prune(4_999)).toBeGreaterThanOrEqual(0)
          expect(Option.isSome(yield* ingestLog.get(key))).toBe(true)
          expect(yield* ingestLog.prune(5_001)).toBeGreaterThanOrEqual(1)
          expect(yield* ingestLog.get(key)).toEqual(Option.none())
        })
      )

      it.effect("listIds holds every document's id, disabled and undecodable ones too, per collection", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const run = uniqueSuffix()
          yield* put(store.bots, bot(`${run}-on`))
          yield* put(store.bots, bot(`${run}-off`, { enabled: false }))
          yield* insertRaw("bots", { id: `${run}-bad`, config: { a: 1 }, custom: { version: 7 } })
          yield* insertRaw("bots", { id: 42, config: {} })
          yield* insertRaw("schedules", { id: `${run}-sched`, config: { schedule: "* * * * *" } })
          const mine = (ids: ReadonlySet<string>) => [...ids].filter((id) => id.includes(run)).sort()
          expect(mine(yield* store.bots.listIds)).toEqual([`${run}-bad`, `${run}-off`, `${run}-on`])
          expect(mine(yield* store.schedules.listIds)).toEqual([`${run}-sched`])
        })
      )

      it.effect("get finds by id whether enabled or not, and keeps unknown fields", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const run = uniqueSuffix()
          yield* insertRaw("bots", { ...bot(`${run}-x`, { enabled: false }), extra: { kept: true } })
          yield* store.bots.listIds
          const found = yield* store.bots.get(`${run}-x`)
          expect(Option.isSome(found) && found.value.config?.enabled).toBe(false)
          expect(Option.isSome(found) && (found.value as Record<string, unknown>).extra).toEqual({ kept: true })
          expect(Option.isNone(yield* store.bots.get(`${run}-none`))).toBe(true)
        })
      )

      it.effect("upsert inserts, then sets only the fields given (or nothing); remove deletes once", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const id = `${uniqueSuffix()}-w`
          expect(yield* put(store.bots, bot(id, { v: 1 }))).toBe("inserted")
          expect(Option.getOrThrow(yield* store.bots.get(id)).config?.v).toBe(1)
          expect(yield* store.bots.upsert(id, { config: { v: 3 } })).toBe("updated")
          const updated = Option.getOrThrow(yield* store.bots.get(id))
          expect(updated.config).toEqual({ v: 3 })
          expect(updated.custom?.version).toBe("1.0.0")
          expect(yield* store.bots.upsert(id, { config: { v: 3 } })).toBe("unchanged")
          const fresh = `${id}-new`
          expect(yield* store.bots.upsert(fresh, { config: { v: 4 }, custom: { version: "2.0.0" } })).toBe("inserted")
          expect(Option.getOrThrow(yield* store.bots.get(fresh)).custom?.version).toBe("2.0.0")
          expect(yield* store.bots.remove(id)).toBe(true)
          expect(yield* store.bots.remove(id)).toBe(false)
          expect(Option.isNone(yield* store.bots.get(id))).toBe(true)
          yield* store.bots.remove(fresh)
        })
      )

      it.effect("schedules live in their own collection with next_execution_time", () =>
        Effect.gen(function* () {
          const store = yield* BotStore
          const run = uniqueSuffix()
          yield* put(store.schedules, {
            ...bot(`${run}-s`, { schedule: "0 9 * * *" }),
            next_execution_time: 1_700_000_000
          })
          expect(yield* enabledIds(run, "schedules")).toEqual([`${run}-s`])
          expect(yield* enabledIds(run, "bots")).toEqual([])
          expect(Option.getOrThrow(yield* store.schedules.get(`${run}-s`)).next_execution_time).toBe(1_700_000_000)
        })
      )
    })
  })
