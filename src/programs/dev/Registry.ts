/**
 * The bots `dev` knows, kept in `<data dir>/bots.json` so that they come back when `dev` restarts (the BotStore is
 * in memory; on start every record is published again as a `created` event, the path the platform API uses).
 * A record is what the API would have stored: the id, realtime or scheduled, the user config (with
 * `enabled: false` when disabled, the0's rule) and `custom` (the bundle's manifest and where its zip is).
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Data, Effect, Ref, Schema } from "effect"
import { CustomBotVersion, JsonObject } from "../../domain/Bot.ts"

export class RegistryError extends Data.TaggedError("RegistryError")<{ readonly message: string }> {}

export const BotRecord = Schema.Struct({
  id: Schema.NonEmptyString,
  kind: Schema.Literal("realtime", "scheduled"),
  config: JsonObject,
  custom: CustomBotVersion,
  addedAt: Schema.String
})
export type BotRecord = typeof BotRecord.Type

const RegistryFile = Schema.Struct({ bots: Schema.Array(BotRecord) })

export interface Registry {
  readonly all: Effect.Effect<ReadonlyArray<BotRecord>>
  readonly get: (id: string) => Effect.Effect<BotRecord | undefined>
  readonly put: (record: BotRecord) => Effect.Effect<void, RegistryError>
  readonly remove: (id: string) => Effect.Effect<void, RegistryError>
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** The registry in `file`, loaded now (an absent file is an empty registry; a corrupt one is an error). */
export const make = (file: string): Effect.Effect<Registry, RegistryError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () =>
        readFile(file, "utf8").catch((error: unknown) =>
          (error as { code?: unknown }).code === "ENOENT" ? undefined : Promise.reject(error)
        ),
      catch: (error) => new RegistryError({ message: `cannot read ${file}: ${errorText(error)}` })
    })
    let initial: ReadonlyArray<BotRecord> = []
    if (text !== undefined) {
      const decoded = yield* Effect.try({
        try: () => Schema.decodeUnknownSync(RegistryFile)(JSON.parse(text)),
        catch: (error) =>
          new RegistryError({
            message: `${file} is not a valid bot registry (${errorText(error)}); move it away to start empty`
          })
      })
      initial = decoded.bots
    }
    const ref = yield* Ref.make(initial)
    const lock = yield* Effect.makeSemaphore(1)

    const save = (bots: ReadonlyArray<BotRecord>) =>
      Effect.tryPromise({
        try: async () => {
          await mkdir(path.dirname(file), { recursive: true })
          const tmp = `${file}.${process.pid}.tmp`
          await writeFile(tmp, `${JSON.stringify({ bots }, null, 2)}\n`)
          await rename(tmp, file)
        },
        catch: (error) => new RegistryError({ message: `cannot write ${file}: ${errorText(error)}` })
      })

    const change = (f: (bots: ReadonlyArray<BotRecord>) => ReadonlyArray<BotRecord>) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const next = f(yield* Ref.get(ref))
          yield* save(next)
          yield* Ref.set(ref, next)
        })
      )

    return {
      all: Ref.get(ref),
      get: (id) => Effect.map(Ref.get(ref), (bots) => bots.find((b) => b.id === id)),
      put: (record) =>
        change((bots) =>
          bots.some((b) => b.id === record.id) ? bots.map((b) => (b.id === record.id ? record : b)) : [...bots, record]
        ),
      remove: (id) => change((bots) => bots.filter((b) => b.id !== id))
    }
  })
