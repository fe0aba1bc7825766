/**
 * The state archive (docs/contracts.md, "Sync"): a tar.gz of the whole state directory with relative names, directory
 * entries included, and the size limits (10 MiB per file, 8 GiB in total by default) checked before an upload and
 * before an extraction writes anything. Entries that would land outside the state directory are skipped, as are
 * symlinks and other special files.
 */
import { createHash } from "node:crypto"
import { createWriteStream } from "node:fs"
import { lstat, mkdir, readdir, readFile } from "node:fs/promises"
import * as path from "node:path"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip, createGzip } from "node:zlib"
import { Data, Effect } from "effect"
import * as tar from "tar-stream"
import { safeTarget } from "./CodeBundle.ts"

export class StateArchiveError extends Data.TaggedError("StateArchiveError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export interface StateLimits {
  readonly maxStateFileSize: number
  readonly maxStateSize: number
}

/** Written by `execute` when a restore failed; sync then leaves the stored state alone (COMPATIBILITY.md). */
export const restoreFailedMarker = ".the0-restore-failed"

export interface StateEntry {
  /** Relative, with forward slashes. */
  readonly name: string
  readonly type: "directory" | "file"
  readonly size: number
  readonly mode: number
  readonly mtime: Date
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const isMissing = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ENOENT"

/** Every directory and regular file under `root`, in lexical order, without the root and our marker. */
export const walkState = (root: string): Effect.Effect<ReadonlyArray<StateEntry> | undefined, StateArchiveError> =>
  Effect.tryPromise({
    try: async () => {
      const entries: Array<StateEntry> = []
      const visit = async (dir: string, prefix: string): Promise<void> => {
        const names = (await readdir(dir)).sort()
        for (const name of names) {
          if (prefix === "" && name === restoreFailedMarker) continue
          const full = path.join(dir, name)
          const relative = prefix === "" ? name : `${prefix}/${name}`
          const info = await lstat(full).catch((error: unknown) =>
            isMissing(error) ? undefined : Promise.reject(error)
          )
          if (info === undefined) continue
          if (info.isDirectory()) {
            entries.push({ name: relative, type: "directory", size: 0, mode: info.mode & 0o7777, mtime: info.mtime })
            await visit(full, relative)
          } else if (info.isFile()) {
            entries.push({ name: relative, type: "file", size: info.size, mode: info.mode & 0o7777, mtime: info.mtime })
          }
        }
      }
      // a missing root is no state; any other failure rejects into this `tryPromise`'s StateArchiveError
      try {
        await visit(root, "")
      } catch (error) {
        if (isMissing(error)) return undefined
        throw error
      }
      return entries
    },
    catch: (error) => new StateArchiveError({ detail: `failed to read state directory ${root}: ${errorText(error)}` })
  })

/** the0's size validation: the first file over the per-file limit, or the running total over the total limit. */
export const checkLimits = (
  entries: ReadonlyArray<{ readonly name: string; readonly type: string; readonly size: number }>,
  limits: StateLimits
): StateArchiveError | undefined => {
  let total = 0
  for (const entry of entries) {
    if (entry.type !== "file") continue
    if (entry.size > limits.maxStateFileSize) {
      return new StateArchiveError({
        detail: `state file ${entry.name} exceeds maximum size limit (${entry.size} bytes > ${limits.maxStateFileSize} bytes)`
      })
    }
    total += entry.size
    if (total > limits.maxStateSize) {
      return new StateArchiveError({
        detail: `total state size exceeds maximum limit (${total} bytes > ${limits.maxStateSize} bytes)`
      })
    }
  }
  return undefined
}

/**
 * A SHA-256 over the names and contents of the regular files, in order; `""` when there are none. Identical
 * rewrites do not change it (the0 also hashed mtimes, re-uploading unchanged state).
 */
export const stateHash = (root: string): Effect.Effect<string, StateArchiveError> =>
  Effect.flatMap(walkState(root), (entries) =>
    Effect.tryPromise({
      try: async () => {
        const files = (entries ?? []).filter((entry) => entry.type === "file")
        if (files.length === 0) return ""
        const hash = createHash("sha256")
        for (const file of files) {
          const content = await readFile(path.join(root, file.name)).catch((error: unknown) =>
            isMissing(error) ? undefined : Promise.reject(error)
          )
          if (content === undefined) continue
          hash.update(`${file.name}\0${content.length}\0`)
          hash.update(content)
        }
        return hash.digest("hex")
      },
      catch: (error) => new StateArchiveError({ detail: `failed to hash state ${root}: ${errorText(error)}` })
    })
  )

/** A gzip stream of the tar of `entries` under `root`. A file that vanished meanwhile is left out. */
export const packState = (root: string, entries: ReadonlyArray<StateEntry>): Readable => {
  const pack = tar.pack()
  const feed = async (): Promise<void> => {
    for (const entry of entries) {
      const header = { name: entry.name, mode: entry.mode, mtime: entry.mtime }
      if (entry.type === "directory") {
        await new Promise<void>((resolve, reject) =>
          pack.entry({ ...header, type: "directory" }, (error) => (error ? reject(error) : resolve()))
        )
        continue
      }
      const content = await readFile(path.join(root, entry.name)).catch((error: unknown) =>
        isMissing(error) ? undefined : Promise.reject(error)
      )
      if (content === undefined) continue
      await new Promise<void>((resolve, reject) =>
        pack.entry({ ...header, type: "file", size: content.length }, content, (error) =>
          error ? reject(error) : resolve()
        )
      )
    }
    pack.finalize()
  }
  feed().catch((error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))))
  const gzip = createGzip()
  pack.on("error", (error) => gzip.destroy(error))
  return pack.pipe(gzip)
}

interface ArchiveEntry {
  readonly name: string
  readonly type: string
  readonly size: number
  readonly mode: number
}

/** Runs `onEntry` for each entry of the tar.gz `data`, in order. */
const forEachEntry = async (
  data: Uint8Array,
  onEntry: (entry: ArchiveEntry, body: Readable) => Promise<void>
): Promise<void> => {
  const extract = tar.extract()
  const done = pipeline(
    Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    createGunzip(),
    extract
  )
  // a corrupt archive fails the loop below first; the pipeline's own rejection is awaited at the end, or is handled
  done.catch(() => undefined)
  for await (const entry of extract) {
    const header = entry.header
    await onEntry(
      { name: header.name, type: header.type ?? "file", size: header.size ?? 0, mode: header.mode ?? 0o644 },
      entry as unknown as Readable
    )
    entry.resume()
  }
  await done
}

/**
 * Extracts the tar.gz `data` into `root`, merging with what is there. The whole archive is checked first (it must
 * decompress, and its files must be within the limits), so a bad archive writes nothing.
 */
export const extractState = (
  data: Uint8Array,
  root: string,
  limits: StateLimits
): Effect.Effect<{ readonly files: number; readonly skipped: ReadonlyArray<string> }, StateArchiveError> =>
  Effect.gen(function* () {
    const listed = yield* Effect.tryPromise({
      try: async () => {
        const entries: Array<ArchiveEntry> = []
        await forEachEntry(data, async (entry) => {
          entries.push(entry)
        })
        return entries
      },
      catch: (error) => new StateArchiveError({ detail: `failed to read state archive: ${errorText(error)}` })
    })
    const overLimit = checkLimits(listed, limits)
    if (overLimit !== undefined) return yield* overLimit
    const skipped: Array<string> = []
    let files = 0
    yield* Effect.tryPromise({
      try: () =>
        forEachEntry(data, async (entry, body) => {
          const target = safeTarget(root, entry.name)
          if (target === undefined || (entry.type !== "file" && entry.type !== "directory")) {
            skipped.push(entry.name)
            return
          }
          if (entry.type === "directory") {
            await mkdir(target, { recursive: true, mode: entry.mode & 0o777 })
            return
          }
          await mkdir(path.dirname(target), { recursive: true, mode: 0o755 })
          await pipeline(body, createWriteStream(target, { flags: "w", mode: entry.mode & 0o777 }))
          files++
        }),
      catch: (error) => new StateArchiveError({ detail: `failed to extract state archive: ${errorText(error)}` })
    })
    for (const name of skipped) yield* Effect.logWarning(`Skipping state archive entry: ${name}`)
    return { files, skipped }
  })
