/**
 * The desired-state cache: what each key should run, from a resync's list, a read or ingest; what it keeps at rest
 * (no built object once settled), and the rule that a list does not override a key notified while it ran.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import type { Bot } from "../../../src/domain/Bot.ts"
import type { DocumentDecodeError } from "../../../src/domain/DocumentDecodeError.ts"
import type { Pod } from "../../../src/domain/Kube.ts"
import { Annotation } from "../../../src/domain/Labels.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import { MemoryBotStore as MemoryBotStoreControl } from "../../../src/layers/memory/MemoryBotStore.ts"
import * as DesiredCache from "../../../src/programs/controller/DesiredCache.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import type { Desired } from "../../../src/programs/controller/Plan.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { bot, putBot, settings } from "./ControllerEnv.ts"

const fingerprintOf = (doc: Bot) =>
  Either.getOrThrow(botPods.build(settings.manifest, doc)).metadata.annotations?.[Annotation.configHash]

/** A cache on the memory store; counts the objects it builds and the documents it finds undecodable. */
const cached = Effect.gen(function* () {
  const store = yield* BotStore
  const counts = { builds: 0, undecodable: [] as Array<string> }
  const spec = {
    ...botPods,
    build: (s: typeof settings.manifest, d: Bot) => {
      counts.builds++
      return botPods.build(s, d)
    }
  }
  const cache = DesiredCache.make(spec, settings.manifest, botPods.collection(store), (e: DocumentDecodeError) =>
    Effect.sync(() => counts.undecodable.push(e.documentId))
  )
  return { cache, counts, control: yield* MemoryBotStoreControl }
})

const held = (desired: Desired<Pod>) => (desired._tag === "Present" ? desired.object !== undefined : "not present")
const fingerprint = (desired: Desired<Pod>) => (desired._tag === "Present" ? desired.fingerprint : desired._tag)

const env = MemoryBotStore.layer

describe("DesiredCache: reads and ingest", () => {
  it.effect("a read builds the object and holds it until settled; then only the hashes are kept", () =>
    Effect.gen(function* () {
      const { cache, control } = yield* cached
      yield* putBot(bot("a", { risk: 1 }))
      const desired = yield* cache.read("a")
      expect(held(desired)).toBe(true)
      expect(fingerprint(desired)).toBe(fingerprintOf(bot("a", { risk: 1 })))
      yield* control.setDown(true)
      cache.settled("a", desired)
      const after = yield* cache.read("a")
      expect(held(after)).toBe(false)
      expect(after).toMatchObject({ _tag: "Present", fingerprint: fingerprint(desired) })
      expect(after._tag === "Present" ? after.documentHash : undefined).toMatch(/^[0-9a-f]{16}$/)
    }).pipe(Effect.provide(env))
  )

  it.effect("settling what an earlier reconcile read keeps the object a later notification brought", () =>
    Effect.gen(function* () {
      const { cache } = yield* cached
      yield* putBot(bot("a", { risk: 1 }))
      const first = yield* cache.read("a")
      yield* cache.notified("a", { document: bot("a", { risk: 2 }), version: 1 })
      cache.settled("a", first)
      const now = yield* cache.read("a")
      expect(held(now)).toBe(true)
      expect(fingerprint(now)).toBe(fingerprintOf(bot("a", { risk: 2 })))
    }).pipe(Effect.provide(env))
  )

  it.effect("a reread builds again from the store what the cache no longer holds", () =>
    Effect.gen(function* () {
      const { cache } = yield* cached
      yield* putBot(bot("a"))
      cache.settled("a", yield* cache.read("a"))
      const again = yield* cache.reread("a")
      expect(held(again)).toBe(true)
      expect(held(yield* cache.read("a"))).toBe(true)
    }).pipe(Effect.provide(env))
  )

  it.effect("a handed-over document older than one already handed over is not taken", () =>
    Effect.gen(function* () {
      const { cache } = yield* cached
      yield* cache.notified("a", { document: bot("a", { risk: 2 }), version: 9 })
      yield* cache.notified("a", { document: bot("a", { risk: 1 }), version: 8 })
      expect(fingerprint(yield* cache.read("a"))).toBe(fingerprintOf(bot("a", { risk: 2 })))
      yield* cache.notified("a", { document: null, version: 10 })
      expect(yield* cache.read("a")).toEqual({ _tag: "Absent" })
      expect(cache.absence("a")).toBe("deleted")
    }).pipe(Effect.provide(env))
  )

  it.effect("a bare notification forgets the key: the next read goes to the store", () =>
    Effect.gen(function* () {
      const { cache } = yield* cached
      yield* putBot(bot("a", { risk: 1 }))
      yield* cache.read("a")
      yield* putBot(bot("a", { risk: 2 }))
      expect(fingerprint(yield* cache.read("a"))).toBe(fingerprintOf(bot("a", { risk: 1 })))
      yield* cache.notified("a")
      expect(fingerprint(yield* cache.read("a"))).toBe(fingerprintOf(bot("a", { risk: 2 })))
    }).pipe(Effect.provide(env))
  )

  it.effect("why a key wants nothing: disabled, deleted, or (by default) not listed", () =>
    Effect.gen(function* () {
      const { cache, counts } = yield* cached
      yield* putBot(bot("off", { enabled: false }))
      expect(yield* cache.read("off")).toEqual({ _tag: "Absent" })
      expect(yield* cache.read("none")).toEqual({ _tag: "Absent" })
      expect([cache.absence("off"), cache.absence("none"), cache.absence("other")]).toEqual([
        "disabled",
        "deleted",
        "unlisted"
      ])
      yield* cache.notified("bad", { document: { ...bot("bad"), custom: { version: 3 } }, version: 1 })
      expect(yield* cache.read("bad")).toMatchObject({ _tag: "Unknown" })
      expect(counts.undecodable).toEqual(["bad"])
    }).pipe(Effect.provide(env))
  )
})

describe("DesiredCache: resync", () => {
  const listed = (cache: DesiredCache.DesiredCache<"Pod">, observed: ReadonlyArray<string> = []) =>
    cache.list(() => observed)

  it.effect("a listing holds the objects it built until settled, and does not build an unchanged document again", () =>
    Effect.gen(function* () {
      const { cache, counts } = yield* cached
      for (const id of ["a", "b", "c"]) yield* putBot(bot(id))
      const first = yield* listed(cache)
      cache.adopt(first)
      expect(counts.builds).toBe(3)
      // held for the worker that sends them: a start on a full store reads no document again
      expect([...first.entries.values()].map((e) => held(e.desired))).toEqual([true, true, true])
      for (const [id, { desired }] of first.entries) cache.settled(id, desired)
      expect(held(yield* cache.read("a"))).toBe(false)
      yield* putBot(bot("b", { risk: 5 }))
      const second = yield* listed(cache)
      cache.adopt(second)
      expect(counts.builds).toBe(4)
      expect([...second.entries].map(([id, e]) => [id, held(e.desired)])).toEqual([
        ["a", false],
        ["b", true],
        ["c", false]
      ])
      expect(fingerprint(yield* cache.read("b"))).toBe(fingerprintOf(bot("b", { risk: 5 })))
    }).pipe(Effect.provide(env))
  )

  it.effect("an observed key whose document is not listed is absent; keys in neither are forgotten", () =>
    Effect.gen(function* () {
      const { cache, control } = yield* cached
      yield* putBot(bot("a"))
      yield* cache.notified("gone", { document: bot("gone"), version: 1 })
      const listing = yield* listed(cache, ["a", "orphan"])
      expect(listing.absent).toEqual(["orphan"])
      expect(listing.observed).toBe(2)
      expect(listing.entries.get("orphan")?.desired).toEqual({ _tag: "Absent" })
      cache.adopt(listing)
      expect([cache.keeps(listing)("a"), cache.keeps(listing)("gone")]).toEqual([true, false])
      yield* control.setDown(true)
      expect(yield* Effect.either(cache.read("gone"))).toMatchObject({ _tag: "Left" })
      expect(yield* cache.read("orphan")).toEqual({ _tag: "Absent" })
    }).pipe(Effect.provide(env))
  )

  it.effect("a key notified while the list ran keeps what the notification told; one notified before does not", () =>
    Effect.gen(function* () {
      const { cache } = yield* cached
      for (const id of ["before", "during"]) yield* putBot(bot(id, { risk: 1 }))
      yield* cache.notified("before", { document: bot("before", { risk: 0 }), version: 1 })
      const listing = yield* listed(cache)
      yield* cache.notified("during", { document: bot("during", { risk: 2 }), version: 1 })
      cache.adopt(listing)
      expect(cache.keeps(listing)("during")).toBe(true)
      expect(fingerprint(yield* cache.read("during"))).toBe(fingerprintOf(bot("during", { risk: 2 })))
      expect(fingerprint(yield* cache.read("before"))).toBe(fingerprintOf(bot("before", { risk: 1 })))
      // the next list began after that notification: it is the newer word
      cache.adopt(yield* listed(cache))
      expect(fingerprint(yield* cache.read("during"))).toBe(fingerprintOf(bot("during", { risk: 1 })))
    }).pipe(Effect.provide(env))
  )

  it.effect("the keys whose document builds no valid object are listed as invalid", () =>
    Effect.gen(function* () {
      const { cache } = yield* cached
      yield* putBot(bot("ok"))
      yield* putBot({ ...bot("bad"), custom: { version: "1.0.0" } })
      cache.adopt(yield* listed(cache))
      expect(cache.invalid()).toEqual(["bad"])
    }).pipe(Effect.provide(env))
  )
})

describe("DesiredCache: bounds", () => {
  it.effect("a key gone from the store and the cluster leaves no version, no absence, nothing else", () =>
    Effect.gen(function* () {
      const { cache } = yield* cached
      yield* cache.notified("x", { document: null, version: 5 })
      cache.adopt(yield* cache.list(() => []))
      expect(cache.absence("x")).toBe("unlisted")
      // its version is forgotten too: an older document handed over now is taken
      yield* cache.notified("x", { document: bot("x"), version: 1 })
      expect(fingerprint(yield* cache.read("x"))).toBe(fingerprintOf(bot("x")))
    }).pipe(Effect.provide(Layer.merge(env, Layer.empty)))
  )
})
