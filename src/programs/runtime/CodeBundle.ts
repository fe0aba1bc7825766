/**
 * The bot's code (docs/contracts.md, "In-pod env and files"): the zip at `CODE_FILE` in the code bucket, extracted into the code path.
 * Entries that would land outside the code path are skipped with a log line, as the0 does; existing files are
 * overwritten and others kept; Unix permissions in the zip are applied. A bundle that is not a zip fails with a
 * message naming the object, and nothing is written.
 */
import { createWriteStream } from "node:fs"
import { chmod, mkdir } from "node:fs/promises"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import { Data, Effect } from "effect"
import * as yauzl from "yauzl"
import { ObjectStore } from "../../services/ObjectStore.ts"
import { describeStoreError } from "./StoreErrors.ts"

export class CodeDownloadError extends Data.TaggedError("CodeDownloadError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export interface ZipEntryInfo {
  readonly name: string
  readonly isDirectory: boolean
  readonly mode: number
}

const unixMadeBy = 3

/** The entry's Unix permission bits when the zip was made on Unix, else 0644 (0755 for directories). */
const entryMode = (entry: yauzl.Entry, isDirectory: boolean): number => {
  const unix = entry.versionMadeBy >> 8 === unixMadeBy ? (entry.externalFileAttributes >>> 16) & 0o7777 : 0
  return unix !== 0 ? unix & 0o777 : isDirectory ? 0o755 : 0o644
}

/** `join(dest, name)` when it stays strictly inside `dest`, else undefined (the traversal guard: a zip entry may not escape the code path). */
export const safeTarget = (dest: string, name: string): string | undefined => {
  const root = path.resolve(dest)
  const target = path.resolve(root, name.replace(/^\/+/, ""))
  return target.startsWith(`${root}${path.sep}`) ? target : undefined
}

const openZip = (data: Uint8Array) =>
  Effect.tryPromise({
    try: () =>
      yauzl.fromBufferPromise(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
        lazyEntries: true,
        decodeStrings: false,
        validateEntrySizes: true
      }),
    catch: (error) => new CodeDownloadError({ detail: `failed to open zip: ${errorText(error)}` })
  })

const readEntries = (zip: yauzl.ZipFile): Promise<Array<yauzl.Entry>> =>
  new Promise((resolve, reject) => {
    const entries: Array<yauzl.Entry> = []
    zip.on("entry", (entry: yauzl.Entry) => {
      entries.push(entry)
      zip.readEntry()
    })
    zip.on("end", () => resolve(entries))
    zip.on("error", reject)
    zip.readEntry()
  })

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Extracts `data` into `dest`. Returns the names of the entries skipped by the traversal guard. The zip is read
 * whole (its central directory and every entry's header) before the first file is written.
 */
export const extractZip = (
  data: Uint8Array,
  dest: string
): Effect.Effect<{ readonly written: number; readonly skipped: ReadonlyArray<string> }, CodeDownloadError> =>
  Effect.gen(function* () {
    const zip = yield* openZip(data)
    const entries = yield* Effect.tryPromise({
      try: () => readEntries(zip),
      catch: (error) => new CodeDownloadError({ detail: `failed to open zip: ${errorText(error)}` })
    })
    const skipped: Array<string> = []
    let written = 0
    for (const entry of entries) {
      const name = Buffer.isBuffer(entry.fileName) ? entry.fileName.toString("utf8") : String(entry.fileName)
      const isDirectory = name.endsWith("/")
      const target = safeTarget(dest, name)
      if (target === undefined) {
        skipped.push(name)
        yield* Effect.logWarning(`Skipping zip entry outside the code directory: ${name}`)
        continue
      }
      const mode = entryMode(entry, isDirectory)
      yield* Effect.tryPromise({
        try: async () => {
          if (isDirectory) {
            await mkdir(target, { recursive: true, mode })
            return
          }
          await mkdir(path.dirname(target), { recursive: true, mode: 0o755 })
          const stream = await zip.openReadStreamPromise(entry)
          await pipeline(stream, createWriteStream(target, { flags: "w", mode }))
          await chmod(target, mode)
        },
        catch: (error) => new CodeDownloadError({ detail: `failed to extract ${name}: ${errorText(error)}` })
      })
      if (!isDirectory) written++
    }
    zip.close()
    return { written, skipped }
  })

/** Downloads and extracts the code; an empty `codeFile` skips the download (as the0 does). */
export const downloadCode = (
  codeBucket: string,
  codeFile: string,
  codePath: string
): Effect.Effect<void, CodeDownloadError, ObjectStore> =>
  Effect.gen(function* () {
    if (codeFile === "") {
      yield* Effect.logInfo("CODE_FILE not set, skipping code download")
      return
    }
    const store = yield* ObjectStore
    yield* Effect.tryPromise({
      try: () => mkdir(codePath, { recursive: true }),
      catch: (error) => new CodeDownloadError({ detail: `failed to create ${codePath}: ${errorText(error)}` })
    })
    const data = yield* Effect.mapError(
      store.get(codeBucket, codeFile),
      (error) =>
        new CodeDownloadError({
          detail: `failed to download code ${codeBucket}/${codeFile}: ${describeStoreError(error)}`
        })
    )
    const { written, skipped } = yield* Effect.mapError(
      extractZip(data, codePath),
      (error) => new CodeDownloadError({ detail: `code bundle ${codeBucket}/${codeFile}: ${error.detail}` })
    )
    yield* Effect.logInfo(
      `Code extracted to ${codePath}: ${written} files${skipped.length > 0 ? `, ${skipped.length} unsafe entries skipped` : ""}`
    )
  })
