/**
 * Ships `<logs>/bot.log` to the daily log object (docs/contracts.md, "Sync"): from the last offset, in chunks of at most
 * 1 MiB cut after the last newline (a chunk without one goes as it is; the final chunk may end mid-line), each
 * appended and then published raw, the offset advancing only after a successful append. The offset is persisted
 * next to the log, so a restarted sidecar continues where it stopped instead of uploading the whole log again.
 */
import { open, readFile, rename, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Duration, Effect, Ref } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { appendBotLogs } from "./DailyLog.ts"
import { DeadlineExceeded } from "./Deadline.ts"

export const logFileName = "bot.log"
export const offsetFileName = ".bot.log.offset"
export const maxChunkSize = 1024 * 1024
export const chunkUploadDeadline = Duration.seconds(120)

export interface LogSyncerOptions {
  readonly bucket: string
  readonly botId: string
  readonly logsPath: string
  /** Called with each raw chunk after its append succeeded; its failure is only logged. */
  readonly publish?: (chunk: Uint8Array) => Effect.Effect<void, unknown>
  readonly chunkDeadline?: Duration.Duration
}

export interface LogSyncer {
  /** Ships what was appended since the last call; true if any bytes were shipped. */
  readonly sync: Effect.Effect<boolean, never, ObjectStore>
  readonly offset: Effect.Effect<number>
}

interface Position {
  readonly offset: number
  readonly inode: number
}

const readPosition = (file: string): Promise<Position> =>
  readFile(file, "utf8").then(
    (text) => {
      const parsed: unknown = JSON.parse(text)
      const { offset, inode } = (parsed ?? {}) as { offset?: unknown; inode?: unknown }
      return typeof offset === "number" && typeof inode === "number" ? { offset, inode } : { offset: 0, inode: 0 }
    },
    () => ({ offset: 0, inode: 0 })
  )

const writePosition = (file: string, position: Position): Promise<void> =>
  writeFile(`${file}.tmp`, JSON.stringify(position)).then(() => rename(`${file}.tmp`, file))

export const makeLogSyncer = (options: LogSyncerOptions): Effect.Effect<LogSyncer> =>
  Effect.gen(function* () {
    const logFile = path.join(options.logsPath, logFileName)
    const positionFile = path.join(options.logsPath, offsetFileName)
    const position = yield* Ref.make(yield* Effect.promise(() => readPosition(positionFile)))
    const deadline = options.chunkDeadline ?? chunkUploadDeadline

    const sync: LogSyncer["sync"] = Effect.gen(function* () {
      const handle = yield* Effect.promise(() => open(logFile, "r").catch(() => undefined))
      if (handle === undefined) return false
      return yield* Effect.gen(function* () {
        const info = yield* Effect.promise(() => handle.stat())
        const size = info.size
        let { offset, inode } = yield* Ref.get(position)
        if (inode !== info.ino || size < offset) {
          if (offset > 0) yield* Effect.logInfo(`Log file truncated or replaced, resetting offset from ${offset}`)
          offset = 0
          inode = info.ino
        }
        let synced = false
        while (offset < size) {
          const want = Math.min(maxChunkSize, size - offset)
          const buffer = Buffer.alloc(want)
          const { bytesRead } = yield* Effect.promise(() => handle.read(buffer, 0, want, offset))
          if (bytesRead === 0) break
          let length = bytesRead
          if (offset + bytesRead < size) {
            const newline = buffer.subarray(0, bytesRead).lastIndexOf(0x0a)
            if (newline >= 0) length = newline + 1
            else yield* Effect.logInfo(`No newline in ${bytesRead} bytes of log, uploading them as they are`)
          }
          const chunk = buffer.subarray(0, length)
          const appended = yield* appendBotLogs(options.bucket, options.botId, chunk).pipe(
            Effect.timeoutFail({
              duration: deadline,
              onTimeout: () =>
                new DeadlineExceeded({ detail: `log chunk upload exceeded ${Duration.format(deadline)}` })
            }),
            Effect.as(true),
            Effect.catchAll((error) => Effect.as(Effect.logWarning(`Failed to upload logs: ${error.message}`), false))
          )
          if (!appended) break
          if (options.publish !== undefined) {
            yield* options
              .publish(chunk)
              .pipe(Effect.catchAll((error) => Effect.logWarning(`Failed to publish logs: ${String(error)}`)))
          }
          offset += length
          synced = true
          const next = { offset, inode }
          yield* Ref.set(position, next)
          yield* Effect.promise(() => writePosition(positionFile, next).catch(() => undefined))
        }
        if (!synced) yield* Ref.set(position, { offset, inode })
        return synced
      }).pipe(Effect.ensuring(Effect.promise(() => handle.close())))
    })

    return { sync, offset: Effect.map(Ref.get(position), (p) => p.offset) }
  })
