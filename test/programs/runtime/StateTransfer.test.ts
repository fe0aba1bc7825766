import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Readable } from "node:stream"
import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as tar from "tar-stream"
import { extractState, stateHash } from "../../../src/programs/runtime/StateArchive.ts"
import { downloadState, restoreFailed, uploadState } from "../../../src/programs/runtime/StateTransfer.ts"
import { sandbox } from "./support/Sandbox.ts"
import { failing, layerOf, memoryStore } from "./support/Stores.ts"

const MiB = 1024 * 1024
const limits = { maxStateFileSize: 10 * MiB, maxStateSize: 8192 * MiB }
const location = (statePath: string, botId = "bot-123") => ({ bucket: "bot-state", botId, statePath, ...limits })

/** The names in a tar.gz, in order. */
const tarNames = async (data: Uint8Array): Promise<Array<string>> => {
  const extract = tar.extract()
  Readable.from([gunzipSync(data)]).pipe(extract)
  const names: Array<string> = []
  for await (const entry of extract) {
    names.push(`${entry.header.type}:${entry.header.name}`)
    entry.resume()
  }
  return names
}

/** A tar.gz with arbitrary entries (for traversal and size cases). */
const makeTarGz = async (entries: ReadonlyArray<{ name: string; data: string | Buffer }>): Promise<Uint8Array> => {
  const pack = tar.pack()
  for (const entry of entries) pack.entry({ name: entry.name }, entry.data)
  pack.finalize()
  const chunks: Array<Buffer> = []
  for await (const chunk of pack.pipe((await import("node:zlib")).createGzip())) chunks.push(chunk as Buffer)
  return new Uint8Array(Buffer.concat(chunks))
}

const writeState = (root: string, files: Record<string, string | Buffer>) => {
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true })
    writeFileSync(path.join(root, name), data)
  }
}

describe("State archive and transfer", () => {
  it.scoped("uploads a tar.gz of the whole state with relative names and directories, and restores it", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      writeState(box.statePath, {
        ".the0-state/portfolio.json": '{"btc":1}',
        ".the0-state/counters.json": '{"n":42}',
        "other/notes.txt": "bots may write here too"
      })
      const result = yield* uploadState(location(box.statePath)).pipe(Effect.provide(layerOf(store)))
      expect(result._tag).toBe("Uploaded")
      const info = yield* store.stat("bot-state", "bot-123/state.tar.gz")
      expect(info.contentType).toBe("application/gzip")
      const data = yield* store.get("bot-state", "bot-123/state.tar.gz")
      expect(yield* Effect.promise(() => tarNames(data))).toEqual([
        "directory:.the0-state",
        "file:.the0-state/counters.json",
        "file:.the0-state/portfolio.json",
        "directory:other",
        "file:other/notes.txt"
      ])
      const other = yield* sandbox
      const restored = yield* downloadState(location(other.statePath)).pipe(Effect.provide(layerOf(store)))
      expect(restored).toEqual({ _tag: "Restored", files: 3 })
      expect(readFileSync(path.join(other.statePath, ".the0-state/counters.json"), "utf8")).toBe('{"n":42}')
      expect(yield* stateHash(other.statePath)).toBe(yield* stateHash(box.statePath))
    })
  )

  it.scoped("a missing key or bucket is a first run: nothing written, the directory exists", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      const run = downloadState(location(box.statePath)).pipe(Effect.provide(layerOf(store)))
      expect(yield* run).toEqual({ _tag: "FirstRun" })
      yield* store.ensureBucket("bot-state")
      expect(yield* run).toEqual({ _tag: "FirstRun" })
      expect(readdirSync(box.statePath)).toEqual([])
      expect(yield* restoreFailed(box.statePath)).toBe(false)
    })
  )

  it.scoped("an empty or missing state directory is never uploaded", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      const run = uploadState(location(box.statePath)).pipe(Effect.provide(layerOf(store)))
      expect(yield* run).toMatchObject({ _tag: "Skipped", reason: "No state directory, skipping upload" })
      mkdirSync(box.statePath, { recursive: true })
      expect(yield* run).toMatchObject({ _tag: "Skipped", reason: "Empty state directory, skipping upload" })
      expect(yield* store.bucketExists("bot-state")).toBe(false)
      expect(yield* stateHash(box.statePath)).toBe("")
    })
  )

  it.scoped("a traversal entry is skipped; the rest is extracted", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const archive = yield* Effect.promise(() =>
        makeTarGz([
          { name: "../../../etc/malicious.txt", data: "x" },
          { name: ".the0-state/ok.json", data: "1" }
        ])
      )
      const result = yield* extractState(archive, box.statePath, limits)
      expect(result).toEqual({ files: 1, skipped: ["../../../etc/malicious.txt"] })
      expect(existsSync(path.join(box.root, "etc"))).toBe(false)
      expect(readFileSync(path.join(box.statePath, ".the0-state/ok.json"), "utf8")).toBe("1")
    })
  )

  it.scoped("an archive over the limits or corrupt writes nothing, and blocks uploads over the stored state", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      yield* store.ensureBucket("bot-state")
      const tight = { ...location(box.statePath), maxStateFileSize: 4, maxStateSize: 6 }
      const oversized = yield* Effect.promise(() =>
        makeTarGz([
          { name: "a.json", data: "123" },
          { name: "b.json", data: "12345" }
        ])
      )
      yield* store.put("bot-state", "bot-123/state.tar.gz", oversized)
      const error = yield* Effect.flip(downloadState(tight).pipe(Effect.provide(layerOf(store))))
      expect(error.message).toBe("state file b.json exceeds maximum size limit (5 bytes > 4 bytes)")
      expect(readdirSync(box.statePath)).toEqual([".the0-restore-failed"])
      expect(yield* restoreFailed(box.statePath)).toBe(true)
      const total = yield* Effect.flip(
        downloadState({ ...tight, maxStateFileSize: 10 }).pipe(Effect.provide(layerOf(store)))
      )
      expect(total.message).toBe("total state size exceeds maximum limit (8 bytes > 6 bytes)")
      yield* store.put("bot-state", "bot-123/state.tar.gz", new Uint8Array([1, 2, 3]))
      const corrupt = yield* Effect.flip(downloadState(location(box.statePath)).pipe(Effect.provide(layerOf(store))))
      expect(corrupt.message).toContain("failed to read state archive")
      expect(yield* store.get("bot-state", "bot-123/state.tar.gz")).toEqual(new Uint8Array([1, 2, 3]))
    })
  )

  it.scoped("an upload over the per-file limit fails naming the file", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      writeState(box.statePath, { ".the0-state/big.json": "x".repeat(20) })
      const error = yield* Effect.flip(
        uploadState({ ...location(box.statePath), maxStateFileSize: 10 }).pipe(Effect.provide(layerOf(store)))
      )
      expect(error.message).toBe("state file .the0-state/big.json exceeds maximum size limit (20 bytes > 10 bytes)")
      expect(yield* store.bucketExists("bot-state")).toBe(false)
    })
  )

  it.scoped("a large state goes up in parts; a failed part upload aborts it, leaving nothing behind", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      writeState(
        box.statePath,
        Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`.the0-state/r${i}.bin`, randomBytes(9 * MiB)]))
      )
      yield* uploadState({ ...location(box.statePath), maxStateFileSize: 10 * MiB }).pipe(
        Effect.provide(layerOf(store))
      )
      const stored = yield* store.stat("bot-state", "bot-123/state.tar.gz")
      expect(stored.etag).toMatch(/-\d+$/)
      expect(stored.size).toBeGreaterThan(27 * MiB)

      const before = yield* store.get("bot-state", "bot-123/state.tar.gz")
      writeState(box.statePath, { ".the0-state/r0.bin": randomBytes(9 * MiB) })
      const broken = failing(store, ["completeMultipartUpload"])
      const error = yield* Effect.flip(
        uploadState({ ...location(box.statePath), maxStateFileSize: 10 * MiB }).pipe(Effect.provide(layerOf(broken)))
      )
      expect(error.message).toContain("failed to upload state to MinIO")
      expect(yield* store.listIncompleteUploads("bot-state", "bot-123/state.tar.gz")).toEqual([])
      expect(Buffer.compare(yield* store.get("bot-state", "bot-123/state.tar.gz"), before)).toBe(0)
    })
  )

  it.scopedLive("an interrupted upload is aborted too", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      writeState(box.statePath, {
        ".the0-state/r.bin": randomBytes(9 * MiB),
        ".the0-state/s.bin": randomBytes(9 * MiB)
      })
      const slow = {
        ...store,
        completeMultipartUpload: () => Effect.never
      }
      const exit = yield* uploadState(location(box.statePath)).pipe(
        Effect.provide(layerOf(slow)),
        Effect.timeout("2 seconds"),
        Effect.exit
      )
      expect(exit._tag).toBe("Failure")
      expect(yield* store.listIncompleteUploads("bot-state", "bot-123/state.tar.gz")).toEqual([])
      expect(yield* store.list("bot-state")).toEqual([])
    })
  )
})
