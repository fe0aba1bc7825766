import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as Memory from "../../../src/layers/memory/MemoryBotStore.ts"
import { MemoryBotStore } from "../../../src/layers/memory/MemoryBotStore.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { botStoreContract } from "../../contracts/BotStoreContract.ts"

botStoreContract("memory", Memory.layer, (collection, document) =>
  Effect.flatMap(MemoryBotStore, (control) => control.insertRaw(collection, document))
)

describe("MemoryBotStore faults", () => {
  it.effect("while down, a listing fails instead of looking empty", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      const control = yield* MemoryBotStore
      yield* store.bots.upsert("a", {})
      yield* control.setDown(true)
      const down = yield* Effect.either(Stream.runCollect(store.bots.listEnabled))
      expect(Either.isLeft(down) && down.left._tag).toBe("BotStoreError")
      yield* control.setDown(false)
      expect(Chunk.size(yield* Stream.runCollect(store.bots.listEnabled))).toBe(1)
    }).pipe(Effect.provide(Memory.layer))
  )

  it.effect("a cursor that dies mid-read fails the stream after the documents it delivered", () =>
    Effect.gen(function* () {
      const store = yield* BotStore
      const control = yield* MemoryBotStore
      for (const id of ["a", "b", "c"]) yield* store.bots.upsert(id, {})
      yield* control.failListAfter(2)
      const seen: Array<string> = []
      const result = yield* store.bots.listEnabled.pipe(
        Stream.runForEach((r) => Effect.sync(() => Either.isRight(r) && seen.push(r.right.id))),
        Effect.either
      )
      expect(seen).toEqual(["a", "b"])
      expect(Either.isLeft(result)).toBe(true)
    }).pipe(Effect.provide(Memory.layer))
  )
})
