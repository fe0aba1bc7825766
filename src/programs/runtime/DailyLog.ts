/**
 * Appending to a bot's daily log object `logs/<botId>/<YYYYMMDD>.log` (docs/contracts.md, "Daily log"). The chunk is formatted as
 * NDJSON and stored as a temp object, which is then copied to a missing daily object, concatenated server-side onto
 * one of 5 MiB or more (compose: a multipart copy, aborted on failure), or appended by read-modify-write below that.
 * An unknown error reading the daily object fails the append and never overwrites it. The temp object is always
 * removed on a fresh, uninterruptible context with its own deadline.
 */
import { Clock, Data, Duration, Effect } from "effect"
import { dailyLogKey, tempLogKey } from "../../domain/Buckets.ts"
import { minPartSize, ObjectStore } from "../../services/ObjectStore.ts"
import { cleanup } from "./Deadline.ts"
import { formatLogChunk } from "./NdjsonLogFormat.ts"
import { describeStoreError } from "./StoreErrors.ts"

export class LogAppendError extends Data.TaggedError("LogAppendError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

const cleanupDeadline = Duration.seconds(30)
const textPlain = { contentType: "text/plain" } as const

/** The temp key must be unique per append even within one millisecond. */
let sequence = 0n

/** Appends the NDJSON of `chunk` (raw bot output) to today's log; returns the bytes appended. */
export const appendBotLogs = (
  bucket: string,
  botId: string,
  chunk: Uint8Array
): Effect.Effect<number, LogAppendError, ObjectStore> =>
  Effect.gen(function* () {
    if (chunk.length === 0) return 0
    const store = yield* ObjectStore
    const nowMillis = yield* Clock.currentTimeMillis
    const now = new Date(nowMillis)
    const content = new TextEncoder().encode(formatLogChunk(new TextDecoder().decode(chunk), now))
    if (content.length === 0) return 0
    const dailyKey = dailyLogKey(botId, now)
    sequence = (sequence + 1n) % 1_000_000n
    const tmpKey = tempLogKey(botId, BigInt(nowMillis) * 1_000_000n + sequence)
    const fail = (step: string) => (error: Parameters<typeof describeStoreError>[0]) =>
      new LogAppendError({ detail: `${step} ${bucket}/${dailyKey}: ${describeStoreError(error)}` })

    const append = Effect.gen(function* () {
      yield* Effect.mapError(store.put(bucket, tmpKey, content, textPlain), fail("put temp chunk for"))
      const existing = yield* store.stat(bucket, dailyKey).pipe(
        Effect.map((info) => info.size),
        Effect.catchTag("NoSuchKey", () => Effect.succeed(undefined)),
        Effect.mapError(fail("stat daily log"))
      )
      if (existing === undefined) {
        yield* Effect.mapError(
          store.copy({ bucket, key: tmpKey }, { bucket, key: dailyKey }),
          fail("copy first chunk to")
        )
      } else if (existing >= minPartSize) {
        yield* Effect.mapError(
          store.compose(
            { bucket, key: dailyKey },
            [
              { bucket, key: dailyKey },
              { bucket, key: tmpKey }
            ],
            textPlain
          ),
          fail("compose")
        )
      } else {
        const current = yield* Effect.mapError(store.get(bucket, dailyKey), fail("read daily log"))
        const joined = new Uint8Array(current.length + content.length)
        joined.set(current, 0)
        joined.set(content, current.length)
        yield* Effect.mapError(store.put(bucket, dailyKey, joined, textPlain), fail("write daily log"))
      }
    })
    const removeTemp = cleanup(
      `remove temp log object ${bucket}/${tmpKey}`,
      store.remove(bucket, tmpKey),
      cleanupDeadline
    )
    yield* Effect.ensuring(append, removeTemp)
    return content.length
  })
