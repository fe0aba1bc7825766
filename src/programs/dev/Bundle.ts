/**
 * Bot bundles for `dev` (docs/contracts.md, "Bot bundles"): a directory is zipped as the0's CLI does (flat relative paths, files
 * only, hidden files skipped, Unix modes kept, Deflate), a zip is taken as it is; then `bot-config.yaml` at the zip
 * root is read and checked (type, runtime, entrypoints present in the zip). Every problem is a `BundleError` naming
 * the file and what is wrong with it.
 *
 * Limits (README.md, "Dev mode"): a bundle path must be a regular file or a directory (a FIFO or device is refused
 * without being read), the zip or the directory's files total at most `maxBundleBytes`, the files of a zip at most
 * `maxUnpackedBytes` unpacked, and `bot-config.yaml` at most `maxManifestBytes`. Unpacked sizes are the sizes the zip
 * declares, checked before anything is inflated (a zip bomb is refused by its directory); a zip whose data is larger
 * than it declares fails where it is inflated (yauzl checks every entry's size, here and in the Pod).
 */
import { constants } from "node:fs"
import { open, readdir, stat } from "node:fs/promises"
import * as path from "node:path"
import { crc32, deflateRawSync } from "node:zlib"
import { Data, Effect } from "effect"
import { parse } from "yaml"
import * as yauzl from "yauzl"
import type { CustomBotConfig } from "../../domain/Bot.ts"
import { isSupportedRuntime, supportedRuntimes } from "../../domain/Runtimes.ts"

export class BundleError extends Data.TaggedError("BundleError")<{ readonly message: string }> {}

export interface ZipEntry {
  readonly name: string
  readonly data: Uint8Array
  readonly mode: number
}

/** A zip of `entries` (Deflate, Unix modes in the external attributes). */
export const makeZip = (entries: ReadonlyArray<ZipEntry>): Uint8Array => {
  const locals: Array<Buffer> = []
  const centrals: Array<Buffer> = []
  let offset = 0
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8")
    const raw = Buffer.from(entry.data)
    const compressed = deflateRawSync(raw)
    const crc = crc32(raw)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(0x0800, 6)
    local.writeUInt16LE(8, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(compressed.length, 18)
    local.writeUInt32LE(raw.length, 22)
    local.writeUInt16LE(name.length, 26)
    locals.push(local, name, compressed)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(0x0800, 8)
    central.writeUInt16LE(8, 10)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(compressed.length, 20)
    central.writeUInt32LE(raw.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(((0o100000 | (entry.mode & 0o777)) << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    centrals.push(central, name)
    offset += local.length + name.length + compressed.length
  }
  const centralSize = centrals.reduce((total, part) => total + part.length, 0)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(centralSize, 12)
  end.writeUInt32LE(offset, 16)
  return new Uint8Array(Buffer.concat([...locals, ...centrals, end]))
}

/** The largest bundle: a zip, or the files of a directory together. */
export const maxBundleBytes = 64 * 1024 * 1024
/** The largest `bot-config.yaml`. */
export const maxManifestBytes = 1024 * 1024
/** The most the files of a zip may unpack to: as much as a directory's files may total. */
export const maxUnpackedBytes = maxBundleBytes

/** A file over the room left; thrown inside the file walk, which `Effect.tryPromise` wraps, and named there. */
class TooLarge extends Data.TaggedError("TooLarge") {}

/**
 * A regular file's contents, read only when it is one of at most `room` bytes: it is opened without blocking (a
 * FIFO with no writer would block `open` and every read after it) and checked on the open descriptor.
 */
const readRegularFile = async (file: string, room: number): Promise<{ data: Buffer; mode: number } | undefined> => {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  try {
    const info = await handle.stat()
    if (!info.isFile()) return undefined
    if (info.size > room) throw new TooLarge()
    return { data: await handle.readFile(), mode: info.mode & 0o777 }
  } finally {
    await handle.close()
  }
}

const tooLargeMessage = (location: string) =>
  `bundle ${location} is larger than ${maxBundleBytes} bytes (64 MiB), the limit`

/** Every regular file under `dir`, hidden files and directories skipped, as the0's CLI zips a bundle. */
export const zipDirectory = (dir: string): Effect.Effect<Uint8Array, BundleError> =>
  Effect.tryPromise({
    try: async () => {
      const entries: Array<ZipEntry> = []
      let total = 0
      const visit = async (current: string, prefix: string) => {
        for (const name of (await readdir(current)).sort()) {
          if (name.startsWith(".")) continue
          const full = path.join(current, name)
          const info = await stat(full)
          const relative = prefix === "" ? name : `${prefix}/${name}`
          if (info.isDirectory()) await visit(full, relative)
          else if (info.isFile()) {
            const file = await readRegularFile(full, maxBundleBytes - total)
            if (file === undefined) continue
            total += file.data.length
            entries.push({ name: relative, data: file.data, mode: file.mode })
          }
        }
      }
      await visit(dir, "")
      return makeZip(entries)
    },
    catch: (error) =>
      new BundleError({
        message:
          error instanceof TooLarge ? tooLargeMessage(dir) : `cannot read bundle directory ${dir}: ${errorText(error)}`
      })
  })

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** The bundle at `location`: a directory (zipped) or a zip file; anything else is refused unread. */
export const loadBundle = (location: string): Effect.Effect<Uint8Array, BundleError> =>
  Effect.gen(function* () {
    const info = yield* Effect.tryPromise({
      try: () => stat(location),
      catch: (error) => new BundleError({ message: `bundle ${location} not found: ${errorText(error)}` })
    })
    if (info.isDirectory()) return yield* zipDirectory(location)
    const notRegular = () =>
      new BundleError({
        message: `bundle ${location} is not a regular file or a directory (a FIFO, socket or device is not a bundle)`
      })
    if (!info.isFile()) return yield* notRegular()
    const file = yield* Effect.tryPromise({
      try: () => readRegularFile(location, maxBundleBytes),
      catch: (error) =>
        new BundleError({
          message:
            error instanceof TooLarge
              ? tooLargeMessage(location)
              : `cannot read bundle ${location}: ${errorText(error)}`
        })
    })
    if (file === undefined) return yield* notRegular()
    return new Uint8Array(file.data)
  })

/** The names of the files in a zip, and the text of one of them. */
const readZip = (data: Uint8Array, wanted: string, label: string) =>
  Effect.tryPromise({
    try: async () => {
      const zip = await yauzl.fromBufferPromise(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
        lazyEntries: true
      })
      const entries = await new Promise<Array<yauzl.Entry>>((resolve, reject) => {
        const found: Array<yauzl.Entry> = []
        let unpacked = 0
        zip.on("entry", (entry: yauzl.Entry) => {
          found.push(entry)
          unpacked += entry.uncompressedSize
          if (unpacked > maxUnpackedBytes) {
            zip.close()
            reject(
              new BundleError({
                message:
                  `${label}: its files unpack to more than ${maxUnpackedBytes} bytes (64 MiB), the limit ` +
                  `(reached at ${entry.fileName}, ${entry.uncompressedSize} bytes); nothing was unpacked`
              })
            )
            return
          }
          zip.readEntry()
        })
        zip.on("end", () => resolve(found))
        zip.on("error", reject)
        zip.readEntry()
      })
      const names: Array<string> = []
      let text: string | undefined
      let tooLarge: number | undefined
      for (const entry of entries) {
        names.push(entry.fileName)
        if (entry.fileName === wanted || entry.fileName === `./${wanted}`) {
          // the declared size, checked before inflating; yauzl fails the stream if the data is larger than declared
          if (entry.uncompressedSize > maxManifestBytes) {
            tooLarge = entry.uncompressedSize
            continue
          }
          const stream = await zip.openReadStreamPromise(entry)
          const chunks: Array<Buffer> = []
          for await (const chunk of stream) chunks.push(chunk as Buffer)
          text = Buffer.concat(chunks).toString("utf8")
        }
      }
      zip.close()
      return { names, text, tooLarge }
    },
    catch: (error) =>
      error instanceof BundleError
        ? error
        : new BundleError({ message: `${label} is not a valid zip file: ${errorText(error)}` })
  })

export interface BundleManifest {
  readonly name: string
  readonly version: string
  readonly type: "realtime" | "scheduled"
  readonly runtime: string
  readonly entrypoints: Readonly<Record<string, string>>
  /** `bot-config.yaml` as the API stores it in `custom.config`. */
  readonly config: CustomBotConfig
}

/** Reads and checks `bot-config.yaml` at the zip root. */
export const readManifest = (zip: Uint8Array, label: string): Effect.Effect<BundleManifest, BundleError> =>
  Effect.gen(function* () {
    const { names, text, tooLarge } = yield* readZip(zip, "bot-config.yaml", label)
    const fail = (problem: string) => Effect.fail(new BundleError({ message: `${label}: ${problem}` }))
    if (tooLarge !== undefined)
      return yield* fail(`bot-config.yaml is ${tooLarge} bytes; the limit is ${maxManifestBytes} (1 MiB)`)
    if (text === undefined) return yield* fail("no bot-config.yaml at the root of the bundle")
    let raw: unknown
    try {
      raw = parse(text)
    } catch (error) {
      return yield* fail(`bot-config.yaml is not valid YAML: ${errorText(error)}`)
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw))
      return yield* fail("bot-config.yaml is not a mapping")
    const doc = raw as Record<string, unknown>
    const name = typeof doc.name === "string" ? doc.name.trim() : ""
    if (name === "") return yield* fail("bot-config.yaml has no name")
    const version = typeof doc.version === "string" || typeof doc.version === "number" ? String(doc.version) : "0.0.0"
    if (doc.type !== "realtime" && doc.type !== "scheduled")
      return yield* fail(`bot-config.yaml: type must be "realtime" or "scheduled", found ${JSON.stringify(doc.type)}`)
    const runtime = typeof doc.runtime === "string" ? doc.runtime : ""
    if (!isSupportedRuntime(runtime))
      return yield* fail(
        `bot-config.yaml: runtime ${JSON.stringify(doc.runtime)} is not one of ${supportedRuntimes.join(", ")}`
      )
    const entrypoints = doc.entrypoints
    if (typeof entrypoints !== "object" || entrypoints === null || Array.isArray(entrypoints))
      return yield* fail("bot-config.yaml has no entrypoints (entrypoints.bot is required)")
    const eps: Record<string, string> = {}
    for (const [key, value] of Object.entries(entrypoints as Record<string, unknown>))
      if (typeof value === "string") eps[key] = value
    if (eps.bot === undefined || eps.bot === "") return yield* fail("bot-config.yaml has no entrypoints.bot")
    for (const key of ["bot", "query"]) {
      const file = eps[key]
      if (file !== undefined && file !== "" && !names.includes(file.split(":")[0] ?? file))
        return yield* fail(`entrypoints.${key} ${JSON.stringify(file)} is not in the bundle`)
    }
    const config: CustomBotConfig = {
      name,
      version,
      type: doc.type,
      runtime,
      entrypoints: eps,
      ...(typeof doc.description === "string" ? { description: doc.description } : {}),
      ...(typeof doc.author === "string" ? { author: doc.author } : {})
    }
    return { name, version, type: doc.type, runtime, entrypoints: eps, config }
  })
