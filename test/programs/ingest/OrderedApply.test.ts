/**
 * Ordered ingest on the memory store: whatever the delivery order, duplicates, redeliveries after a nak or a crash
 * between the record write and the document write, and two replicas applying at once, the store ends as applying
 * each bot's events in publish order would leave it (the0's semantics, ApplyEvent.ts applied in order on another
 * store), and at no step does a document exist for a bot whose delete was applied unless a later create or update
 * of it had been published.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber, Option, TestClock } from "effect"
import fc from "fast-check"
import { Subject } from "../../../src/domain/BotEvent.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import { applyEvent } from "../../../src/programs/ingest/ApplyEvent.ts"
import { applyOrdered, recordKey } from "../../../src/programs/ingest/OrderedApply.ts"
import {
  BotStore,
  BotStoreError,
  type BotStoreService,
  type IngestRecord,
  ingestField
} from "../../../src/services/BotStore.ts"

type Kind = "created" | "updated" | "deleted"
interface Published {
  readonly sequence: number
  readonly target: "bot" | "schedule"
  readonly id: string
  readonly kind: Kind
  readonly subject: string
  readonly body: Uint8Array
}

const subjectOf = (target: "bot" | "schedule", kind: Kind): string =>
  target === "bot"
    ? { created: Subject.botCreated, updated: Subject.botUpdated, deleted: Subject.botDeleted }[kind]
    : { created: Subject.scheduleCreated, updated: Subject.scheduleUpdated, deleted: Subject.scheduleDeleted }[kind]

const crons = ["*/5 * * * *", "0 * * * *"]

const eventArb = fc.record({
  target: fc.constantFrom<"bot" | "schedule">("bot", "bot", "schedule"),
  bot: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom<Kind>("created", "updated", "deleted"),
  withCustom: fc.boolean(),
  cron: fc.integer({ min: 0, max: 1 })
})

interface RawEvent {
  readonly target: "bot" | "schedule"
  readonly bot: number
  readonly kind: Kind
  readonly withCustom: boolean
  readonly cron: number
}

const publishedFrom = (raw: ReadonlyArray<RawEvent>): ReadonlyArray<Published> =>
  raw.map((e, i) => {
    const sequence = i + 1
    const id = `${e.target}-${e.bot}`
    const config = { v: sequence, ...(e.target === "schedule" ? { schedule: crons[e.cron] } : {}) }
    const custom = { version: `1.0.${sequence}`, filePath: `u/b/${sequence}.zip` }
    const body = e.kind === "deleted" ? { id, config } : { id, config, ...(e.withCustom ? { custom } : {}) }
    return {
      sequence,
      target: e.target,
      id,
      kind: e.kind,
      subject: subjectOf(e.target, e.kind),
      body: new TextEncoder().encode(JSON.stringify(body))
    }
  })

/** A tiny deterministic PRNG (mulberry32), so a failing case replays from its seed. */
const random = (seed: number) => {
  let a = seed >>> 0
  return (n: number): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

/** The store's operations yield to other fibers first, so two replicas' applies interleave at every step. */
const interleaving = (store: BotStoreService): BotStoreService => {
  const y = <A, E>(effect: Effect.Effect<A, E>) => Effect.zipRight(Effect.yieldNow(), effect)
  const wrap = <C extends object>(c: C): C =>
    Object.fromEntries(
      Object.entries(c).map(([name, op]) => [
        name,
        typeof op === "function"
          ? (...args: Array<unknown>) => y((op as (...a: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args))
          : Effect.isEffect(op)
            ? y(op as Effect.Effect<unknown, unknown>)
            : op
      ])
    ) as C
  return { bots: wrap(store.bots), schedules: wrap(store.schedules), ingestLog: wrap(store.ingestLog) }
}

const documentsOf = Effect.gen(function* () {
  const control = yield* MemoryBotStore.MemoryBotStore
  const sorted = (docs: ReadonlyArray<Record<string, unknown>>) =>
    [...docs]
      .map(({ [ingestField]: _, ...document }) => document)
      .sort((a, b) => String(a.id).localeCompare(String(b.id)))
  return {
    bots: sorted(yield* control.rawDocuments("bots")),
    schedules: sorted(yield* control.rawDocuments("schedules"))
  }
})

/** The0's semantics applied in publish order: the reference the ordered store must end equal to. */
const inOrder = (published: ReadonlyArray<Published>) =>
  Effect.gen(function* () {
    for (const p of published) yield* applyEvent(p.subject, p.body)
    return yield* documentsOf
  }).pipe(Effect.provide(MemoryBotStore.layer))

const retention = 7 * 24 * 3_600_000

/** Publishes one event at a time and delivers out of order, twice, after naks and crashes, to two replicas. */
const deliverChaotically = (published: ReadonlyArray<Published>, seed: number) =>
  Effect.gen(function* () {
    const pick = random(seed)
    const store = interleaving(yield* BotStore)
    const apply = (p: Published) =>
      Effect.provideService(applyOrdered(p.subject, p.body, p.sequence, retention), BotStore, store)
    const queue: Array<Published> = []
    const appliedDeletes = new Map<string, number>()
    let next = 0
    const check = Effect.gen(function* () {
      const docs = yield* documentsOf
      for (const doc of [...docs.bots, ...docs.schedules]) {
        const id = String(doc.id)
        const deleted = appliedDeletes.get(id) ?? 0
        const revived = published
          .slice(0, next)
          .some((p) => p.id === id && p.kind !== "deleted" && p.sequence > deleted)
        if (!revived) return yield* Effect.die(`bot ${id} exists after its delete ${deleted} was applied`)
      }
    })
    const settle = (p: Published) =>
      Effect.sync(() => {
        if (p.kind === "deleted") appliedDeletes.set(p.id, Math.max(appliedDeletes.get(p.id) ?? 0, p.sequence))
        // an acked delivery may still be delivered again (the ack was lost)
        if (pick(6) === 0) queue.push(p)
      })
    /** Applies `p`, or crashes after a few store operations and leaves it for redelivery. */
    const attempt = (p: Published) =>
      Effect.gen(function* () {
        if (pick(5) === 0) {
          const fiber = yield* Effect.fork(apply(p))
          for (let i = pick(6); i > 0; i--) yield* Effect.yieldNow()
          yield* Fiber.interrupt(fiber)
          queue.push(p)
          return
        }
        yield* apply(p)
        yield* settle(p)
      })
    while (next < published.length || queue.length > 0) {
      if (next < published.length && (queue.length === 0 || pick(3) === 0)) {
        const p = published[next++] as Published
        queue.push(p)
        if (pick(4) === 0) queue.push(p)
        continue
      }
      const take = () => queue.splice(pick(queue.length), 1)[0] as Published
      const first = take()
      const second = queue.length > 0 && pick(2) === 0 ? take() : undefined
      yield* Effect.all([attempt(first), ...(second === undefined ? [] : [attempt(second)])], { concurrency: 2 })
      yield* check
    }
    return yield* documentsOf
  })

describe("ordered ingest", () => {
  it.effect("ends where publish order ends, and never revives a deleted bot, under any delivery", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 40 }), fc.integer(), async (raw, seed) => {
          const published = publishedFrom(raw)
          const expected = await Effect.runPromise(inOrder(published))
          const actual = await Effect.runPromise(
            deliverChaotically(published, seed).pipe(Effect.provide(MemoryBotStore.layer))
          )
          expect(actual).toEqual(expected)
        }),
        { numRuns: 300 }
      )
    )
  )

  it.effect("an update published before a delete but delivered after it does not bring the bot back", () =>
    Effect.gen(function* () {
      const [created, updated, deleted] = publishedFrom([
        { target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "updated", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "deleted", withCustom: true, cron: 0 }
      ]) as [Published, Published, Published]
      const store = yield* BotStore
      for (const p of [created, deleted]) yield* applyOrdered(p.subject, p.body, p.sequence, retention)
      const late = yield* applyOrdered(updated.subject, updated.body, updated.sequence, retention)
      expect(late.outcome).toBe("superseded")
      expect(late.written).toEqual({ document: null, version: 3 })
      expect(yield* store.bots.get("bot-0")).toEqual(Option.none())
      const again = yield* applyOrdered(deleted.subject, deleted.body, deleted.sequence, retention)
      expect(again.outcome).toBe("duplicate")
    }).pipe(Effect.provide(MemoryBotStore.layer))
  )

  it.effect("an older config delivered after a newer one does not overwrite it", () =>
    Effect.gen(function* () {
      const [created, older, newer] = publishedFrom([
        { target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "updated", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "updated", withCustom: false, cron: 0 }
      ]) as [Published, Published, Published]
      const store = yield* BotStore
      const written = []
      for (const p of [created, newer, older])
        written.push((yield* applyOrdered(p.subject, p.body, p.sequence, retention)).written)
      const doc = Option.getOrThrow(yield* store.bots.get("bot-0"))
      // what each application hands the controller: the document as stored then, and the newest sequence in it
      expect(written.map((w) => w?.version)).toEqual([1, 3, 3])
      expect(written[2]?.document).toEqual({ ...doc, id: "bot-0" })
      // config from the newest event; custom from the older update, which the newest did not carry
      expect(doc.config).toEqual({ v: 3 })
      expect(doc.custom?.version).toBe("1.0.2")
    }).pipe(Effect.provide(MemoryBotStore.layer))
  )

  it.effect("a replica whose document write comes after another replica's reads again and keeps both events", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      const [created, first, second] = publishedFrom([
        { target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "updated", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "updated", withCustom: true, cron: 0 }
      ]) as [Published, Published, Published]
      yield* applyOrdered(created.subject, created.body, created.sequence, retention)
      const secondDone = yield* Deferred.make<void>()
      const firstWriting = yield* Deferred.make<void>()
      let held = true
      // replica A: its first document write waits until replica B has applied the later event
      const slow: BotStoreService = {
        ...store,
        bots: {
          ...store.bots,
          replaceIf: (id, document, expected) =>
            held
              ? Deferred.succeed(firstWriting, undefined).pipe(
                  Effect.zipRight(Deferred.await(secondDone)),
                  Effect.zipRight(Effect.sync(() => (held = false))),
                  Effect.zipRight(store.bots.replaceIf(id, document, expected))
                )
              : store.bots.replaceIf(id, document, expected)
        }
      }
      const a = yield* Effect.fork(
        Effect.provideService(applyOrdered(first.subject, first.body, first.sequence, retention), BotStore, slow)
      )
      yield* Deferred.await(firstWriting)
      yield* applyOrdered(second.subject, second.body, second.sequence, retention)
      yield* Deferred.succeed(secondDone, undefined)
      yield* Fiber.join(a)
      expect(Option.getOrThrow(yield* store.bots.get("bot-0")).config).toEqual({ v: 3 })
    }).pipe(Effect.provide(MemoryBotStore.layer))
  )

  /** c1 and d2 applied; then replica A applies c3 while replica B applies d4, with `hold` pausing one of them. */
  const raceAfterDelete = (hold: "A's insert until B is done" | "B's tombstone until A is done") =>
    Effect.gen(function* () {
      const store = yield* BotStore
      const [c1, d2, c3, d4] = publishedFrom([
        { target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "deleted", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "deleted", withCustom: true, cron: 0 }
      ]) as [Published, Published, Published, Published]
      for (const p of [c1, d2]) yield* applyOrdered(p.subject, p.body, p.sequence, retention)
      const paused = yield* Deferred.make<void>()
      const resume = yield* Deferred.make<void>()
      let first = true
      const pause = <A, E>(effect: Effect.Effect<A, E>) =>
        first
          ? Effect.sync(() => {
              first = false
            }).pipe(
              Effect.zipRight(Deferred.succeed(paused, undefined)),
              Effect.zipRight(Deferred.await(resume)),
              Effect.zipRight(effect)
            )
          : effect
      const a: BotStoreService =
        hold === "A's insert until B is done"
          ? { ...store, bots: { ...store.bots, insertNew: (d) => pause(store.bots.insertNew(d)) } }
          : store
      const b: BotStoreService =
        hold === "B's tombstone until A is done"
          ? { ...store, ingestLog: { ...store.ingestLog, put: (r, e) => pause(store.ingestLog.put(r, e)) } }
          : store
      const [held, other] =
        hold === "A's insert until B is done"
          ? [
              [c3, a],
              [d4, b]
            ]
          : [
              [d4, b],
              [c3, a]
            ]
      const apply = ([p, s]: readonly [Published, BotStoreService]) =>
        Effect.provideService(applyOrdered(p.subject, p.body, p.sequence, retention), BotStore, s)
      const fiber = yield* Effect.fork(apply(held as [Published, BotStoreService]))
      yield* Deferred.await(paused)
      yield* apply(other as [Published, BotStoreService])
      yield* Deferred.succeed(resume, undefined)
      yield* Fiber.join(fiber)
      // in publish order the last event is d4: the bot is gone
      expect(yield* store.bots.get("bot-0")).toEqual(Option.none())
    }).pipe(Effect.provide(MemoryBotStore.layer))

  it.effect("a create inserted after another replica's newer delete went to the tombstone is removed again", () =>
    raceAfterDelete("A's insert until B is done")
  )

  it.effect("a delete written to the tombstone after another replica's create inserted the document removes it", () =>
    raceAfterDelete("B's tombstone until A is done")
  )

  it.effect("a created event never overwrites an existing document", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      yield* store.bots.upsert("bot-0", { config: { v: 0 } })
      const [created] = publishedFrom([{ target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 }]) as [
        Published
      ]
      const applied = yield* applyOrdered(created.subject, created.body, created.sequence, retention)
      expect(applied.outcome).toBe("exists")
      expect(Option.getOrThrow(yield* store.bots.get("bot-0")).config).toEqual({ v: 0 })
    }).pipe(Effect.provide(MemoryBotStore.layer))
  )

  it.effect("events older than the retention fold into the base, and a tombstone expires after it", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      const [created, updated, deleted] = publishedFrom([
        { target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "updated", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "deleted", withCustom: true, cron: 0 }
      ]) as [Published, Published, Published]
      yield* applyOrdered(created.subject, created.body, created.sequence, 1_000)
      yield* TestClock.adjust("2 seconds")
      yield* applyOrdered(updated.subject, updated.body, updated.sequence, 1_000)
      const record = Option.getOrThrow(yield* store.bots.getRaw("bot-0"))[ingestField] as IngestRecord
      expect(record.foldedThrough).toBe(1)
      expect(record.events.map((e) => e.sequence)).toEqual([2])
      expect(record.base).toMatchObject({ id: "bot-0", config: { v: 1 } })
      // a redelivery of the folded event changes nothing
      const again = yield* applyOrdered(created.subject, created.body, created.sequence, 1_000)
      expect(again.outcome).toBe("duplicate")
      expect(Option.getOrThrow(yield* store.bots.get("bot-0")).config).toEqual({ v: 2 })
      yield* applyOrdered(deleted.subject, deleted.body, deleted.sequence, 1_000)
      const tombstone = Option.getOrThrow(yield* store.ingestLog.get(recordKey("bot", "bot-0")))
      expect(tombstone.events.map((e) => e.sequence)).toEqual([2, 3])
      expect(yield* store.ingestLog.prune(tombstone.expiresAt - 1)).toBe(0)
      expect(yield* store.ingestLog.prune(tombstone.expiresAt + 1)).toBe(1)
    }).pipe(Effect.provide(MemoryBotStore.layer))
  )

  it.effect("a delete that fails between its tombstone and the document's removal is completed by the redelivery", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      const [created, deleted] = publishedFrom([
        { target: "bot", bot: 0, kind: "created", withCustom: true, cron: 0 },
        { target: "bot", bot: 0, kind: "deleted", withCustom: true, cron: 0 }
      ]) as [Published, Published]
      yield* applyOrdered(created.subject, created.body, created.sequence, retention)
      const broken: BotStoreService = {
        ...store,
        bots: {
          ...store.bots,
          removeIf: (id) =>
            Effect.fail(new BotStoreError({ operation: "deleteOne", collection: "bots", detail: `down for ${id}` }))
        }
      }
      const failed = yield* Effect.either(
        Effect.provideService(
          applyOrdered(deleted.subject, deleted.body, deleted.sequence, retention),
          BotStore,
          broken
        )
      )
      expect(Either.isLeft(failed)).toBe(true)
      expect(Option.isSome(yield* store.bots.get("bot-0"))).toBe(true)
      expect(Option.isSome(yield* store.ingestLog.get(recordKey("bot", "bot-0")))).toBe(true)
      const redelivered = yield* applyOrdered(deleted.subject, deleted.body, deleted.sequence, retention)
      expect(redelivered.outcome).toBe("duplicate")
      expect(yield* store.bots.get("bot-0")).toEqual(Option.none())
      // the tombstone keeps the bot's events, so an older event delivered now changes nothing
      const late = yield* applyOrdered(created.subject, created.body, created.sequence, retention)
      expect(late.outcome).toBe("duplicate")
      expect(yield* store.bots.get("bot-0")).toEqual(Option.none())
    }).pipe(Effect.provide(MemoryBotStore.layer))
  )
})
