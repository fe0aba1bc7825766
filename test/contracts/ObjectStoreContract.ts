/**
 * The ObjectStore contract: what every implementation (the in-memory fake, the live client against MinIO) must do.
 * Uses only the port and asserts what get/stat/list return. Every test works in its own bucket, named uniquely per
 * run, so it can run against a shared server that is not empty; it runs on the live clock, so a live layer's
 * timeouts and retries behave, and builds the layer afresh for each test.
 *
 * `listIncompleteUploads` is always called with the exact key: MinIO does not list uploads by a shorter prefix.
 */
import { createHash, randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, type Layer, Stream } from "effect"
import {
  type CompletedPart,
  minPartSize,
  type ObjectInfo,
  ObjectStore,
  ObjectStoreError,
  type ObjectStoreService
} from "../../src/services/ObjectStore.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (text: string): Uint8Array => encoder.encode(text)
const text = (body: Uint8Array): string => decoder.decode(body)
const filled = (size: number, byte: number): Uint8Array => new Uint8Array(size).fill(byte)

const md5 = (body: Uint8Array): Buffer => createHash("md5").update(body).digest()
const md5Hex = (body: Uint8Array): string => md5(body).toString("hex")
const multipartEtag = (parts: ReadonlyArray<Uint8Array>): string =>
  `${createHash("md5")
    .update(Buffer.concat(parts.map(md5)))
    .digest("hex")}-${parts.length}`
const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

/** The tag of the error `effect` fails with (the test fails if it succeeds). */
const failureTag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => error._tag)

/** The S3 code of the ObjectStoreError `effect` fails with, or a description of the other error. */
const failureCode = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => (error instanceof ObjectStoreError ? error.code : `tag ${error._tag}`))

/** Servers and the test runner may disagree a little about the time, and S3 dates have one-second precision. */
const clockSlack = 5 * 60 * 1000

const keysOf = (infos: ReadonlyArray<ObjectInfo>): ReadonlyArray<string> => infos.map((info) => info.key)

export const objectStoreContract = (name: string, storeLayer: Layer.Layer<ObjectStore, unknown>): void => {
  const runId = randomBytes(4).toString("hex")
  let counter = 0
  const bucketName = (label: string): string => `contract-${runId}-${label}-${++counter}`.slice(0, 63)

  /** A new bucket of its own for one test, with the store. */
  const setup = (
    label: string
  ): Effect.Effect<{ store: ObjectStoreService; bucket: string }, ObjectStoreError, ObjectStore> =>
    Effect.gen(function* () {
      const store = yield* ObjectStore
      const bucket = bucketName(label)
      yield* store.ensureBucket(bucket)
      return { store, bucket }
    })

  /** Asserts that `bucket` holds no object under `key` and no incomplete upload for it. */
  const expectAbsent = (store: ObjectStoreService, bucket: string, key: string) =>
    Effect.gen(function* () {
      expect(yield* failureTag(store.stat(bucket, key))).toBe("NoSuchKey")
      expect(keysOf(yield* store.list(bucket, key))).not.toContain(key)
      expect(yield* store.listIncompleteUploads(bucket, key)).toEqual([])
    })

  /**
   * A test on the live clock with its own instance of the layer. (Not `layer()` from @effect/vitest: in 0.30 it
   * overwrites the shared `it.effect`, so later tests in the same file would lose their TestClock.)
   */
  const test = <A, E>(title: string, body: () => Effect.Effect<A, E, ObjectStore>): void =>
    it.live(title, () => Effect.provide(body(), storeLayer), 60_000)

  describe(`ObjectStore contract: ${name}`, () => {
    test("ensureBucket creates a bucket, is idempotent and keeps what the bucket holds", () =>
      Effect.gen(function* () {
        const store = yield* ObjectStore
        const bucket = bucketName("ensure")
        expect(yield* store.bucketExists(bucket)).toBe(false)
        yield* store.ensureBucket(bucket)
        expect(yield* store.bucketExists(bucket)).toBe(true)
        expect(yield* store.list(bucket)).toEqual([])
        yield* store.put(bucket, "kept", bytes("still here"))
        yield* store.ensureBucket(bucket)
        expect(yield* store.bucketExists(bucket)).toBe(true)
        expect(text(yield* store.get(bucket, "kept"))).toBe("still here")
      }))

    test("ensureBucket rejects a name S3 does not allow", () =>
      Effect.gen(function* () {
        const store = yield* ObjectStore
        expect(yield* failureTag(store.ensureBucket(`Upper_${runId}`))).toBe("ObjectStoreError")
        expect(yield* failureTag(store.ensureBucket("x"))).toBe("ObjectStoreError")
      }))

    test("every operation on a missing bucket fails with NoSuchBucket", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("nobucket")
        yield* store.put(bucket, "present", bytes("x"))
        const missing = bucketName("missing")
        const here = { bucket, key: "present" }
        const there = { bucket: missing, key: "k" }
        expect(yield* failureTag(store.get(missing, "k"))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.put(missing, "k", bytes("x")))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.stat(missing, "k"))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.list(missing))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.list(missing, "k"))).toBe("NoSuchBucket")
        expect(yield* failureTag(Stream.runCollect(store.scan(missing)))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.remove(missing, "k"))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.copy(there, here))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.copy(here, there))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.compose(there, [here]))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.compose({ bucket, key: "dst" }, [there]))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.createMultipartUpload(missing, "k"))).toBe("NoSuchBucket")
        expect(yield* failureTag(store.listIncompleteUploads(missing, "k"))).toBe("NoSuchBucket")
        const error = yield* Effect.flip(store.get(missing, "k"))
        expect(error).toMatchObject({ _tag: "NoSuchBucket", bucket: missing })
        expect(yield* store.bucketExists(missing)).toBe(false)
        expect(keysOf(yield* store.list(bucket))).toEqual(["present"])
      }))

    test("put then get and stat: the same bytes, ETag = hex MD5 as put returned it, content type kept", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("put")
        const body = bytes('{"hello":"world"}\n')
        const before = yield* Clock.currentTimeMillis
        const { etag } = yield* store.put(bucket, "bot-1/result.json", body, { contentType: "application/json" })
        const after = yield* Clock.currentTimeMillis
        expect(etag).toBe(md5Hex(body))
        expect(yield* store.get(bucket, "bot-1/result.json")).toEqual(body)
        const info = yield* store.stat(bucket, "bot-1/result.json")
        expect(info).toMatchObject({
          key: "bot-1/result.json",
          size: body.length,
          etag,
          contentType: "application/json"
        })
        expect(info.lastModified.getTime()).toBeGreaterThanOrEqual(before - clockSlack)
        expect(info.lastModified.getTime()).toBeLessThanOrEqual(after + clockSlack)
      }))

    test("an empty object has size 0 and the MD5 of nothing", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("empty")
        const { etag } = yield* store.put(bucket, "empty", new Uint8Array(0))
        expect(etag).toBe("d41d8cd98f00b204e9800998ecf8427e")
        expect((yield* store.get(bucket, "empty")).length).toBe(0)
        expect(yield* store.stat(bucket, "empty")).toMatchObject({ size: 0, etag })
      }))

    test("put replaces an object whole: bytes, ETag and content type", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("overwrite")
        yield* store.put(bucket, "k", bytes("first version, longer"), { contentType: "text/plain" })
        const second = bytes("second")
        const { etag } = yield* store.put(bucket, "k", second, { contentType: "application/gzip" })
        expect(text(yield* store.get(bucket, "k"))).toBe("second")
        expect(yield* store.stat(bucket, "k")).toMatchObject({
          size: second.length,
          etag,
          contentType: "application/gzip"
        })
        expect(yield* store.list(bucket)).toHaveLength(1)
      }))

    test("stored bytes do not change when the caller later mutates its buffers", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("buffers")
        const body = bytes("original")
        yield* store.put(bucket, "k", body)
        body.fill(0x21)
        const got = yield* store.get(bucket, "k")
        got.fill(0x3f)
        expect(text(yield* store.get(bucket, "k"))).toBe("original")
      }))

    test("get and stat of a missing key fail with NoSuchKey naming it", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("nokey")
        expect(yield* Effect.flip(store.get(bucket, "no/such.key"))).toMatchObject({
          _tag: "NoSuchKey",
          bucket,
          key: "no/such.key"
        })
        expect(yield* Effect.flip(store.stat(bucket, "no/such.key"))).toMatchObject({ _tag: "NoSuchKey", bucket })
      }))

    test("remove deletes the object; removing a missing key succeeds", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("remove")
        yield* store.put(bucket, "a", bytes("a"))
        yield* store.put(bucket, "b", bytes("b"))
        yield* store.remove(bucket, "a")
        expect(yield* failureTag(store.get(bucket, "a"))).toBe("NoSuchKey")
        expect(keysOf(yield* store.list(bucket))).toEqual(["b"])
        yield* store.remove(bucket, "a")
        yield* store.remove(bucket, "never-existed")
        expect(keysOf(yield* store.list(bucket))).toEqual(["b"])
      }))

    test("list is recursive, in UTF-8 byte order of keys, filtered by prefix, with what stat says", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("list")
        const keys = [
          "logs/x/20260102.log",
          "state/b/state.tar.gz",
          "logs/x/.tmp-1",
          "x-\u{1F600}",
          "logs-old/z",
          "logs/y/deep/er/a.log",
          "Z-upper",
          "logs/x/20260101.log",
          "x-\uFF21"
        ]
        for (const key of keys) yield* store.put(bucket, key, bytes(`body of ${key}`))
        const all = yield* store.list(bucket)
        expect(keysOf(all)).toEqual([
          "Z-upper",
          "logs-old/z",
          "logs/x/.tmp-1",
          "logs/x/20260101.log",
          "logs/x/20260102.log",
          "logs/y/deep/er/a.log",
          "state/b/state.tar.gz",
          "x-\uFF21",
          "x-\u{1F600}"
        ])
        for (const info of all) {
          const stat = yield* store.stat(bucket, info.key)
          expect(info).toMatchObject({ key: stat.key, size: stat.size, etag: stat.etag })
          expect(info.etag).toBe(md5Hex(bytes(`body of ${info.key}`)))
        }
        expect(keysOf(yield* store.list(bucket, "logs/"))).toEqual([
          "logs/x/.tmp-1",
          "logs/x/20260101.log",
          "logs/x/20260102.log",
          "logs/y/deep/er/a.log"
        ])
        expect(keysOf(yield* store.list(bucket, "logs/x/2026"))).toEqual(["logs/x/20260101.log", "logs/x/20260102.log"])
        expect(keysOf(yield* store.list(bucket, "logs/x/20260101.log"))).toEqual(["logs/x/20260101.log"])
        expect(yield* store.list(bucket, "nothing-here/")).toEqual([])
        const scanned = (prefix?: string) =>
          Effect.map(Stream.runCollect(store.scan(bucket, prefix)), (chunk) => [...keysOf([...chunk])].sort())
        expect(yield* scanned()).toEqual([...keysOf(all)].sort())
        expect(yield* scanned("logs/x/")).toEqual(["logs/x/.tmp-1", "logs/x/20260101.log", "logs/x/20260102.log"])
        expect(yield* scanned("nothing-here/")).toEqual([])
      }))

    test("concurrent puts to distinct keys all land", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("concurrent")
        const keys = Array.from({ length: 20 }, (_, i) => `k/${String(i).padStart(2, "0")}`)
        yield* Effect.forEach(keys, (key) => store.put(bucket, key, bytes(key)), { concurrency: "unbounded" })
        expect(keysOf(yield* store.list(bucket))).toEqual(keys)
      }))

    test("copy makes an independent byte copy with the source's ETag and content type, across buckets", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("copy")
        const other = yield* setup("copy-dst")
        const body = bytes("line 1\n")
        const { etag } = yield* store.put(bucket, "logs/b/.tmp-1", body, { contentType: "text/plain" })
        yield* store.copy({ bucket, key: "logs/b/.tmp-1" }, { bucket, key: "logs/b/20260101.log" })
        yield* store.copy({ bucket, key: "logs/b/.tmp-1" }, { bucket: other.bucket, key: "elsewhere" })
        yield* store.put(bucket, "logs/b/.tmp-1", bytes("changed"))
        yield* store.remove(bucket, "logs/b/.tmp-1")
        expect(yield* store.get(bucket, "logs/b/20260101.log")).toEqual(body)
        expect(yield* store.get(other.bucket, "elsewhere")).toEqual(body)
        expect(yield* store.stat(bucket, "logs/b/20260101.log")).toMatchObject({
          size: body.length,
          etag,
          contentType: "text/plain"
        })
        expect(yield* store.stat(other.bucket, "elsewhere")).toMatchObject({ etag, contentType: "text/plain" })
        expect(keysOf(yield* store.list(bucket))).toEqual(["logs/b/20260101.log"])
      }))

    test("copy of a missing source fails with NoSuchKey and creates nothing", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("copy-missing")
        const error = yield* Effect.flip(store.copy({ bucket, key: "gone" }, { bucket, key: "dst" }))
        expect(error).toMatchObject({ _tag: "NoSuchKey", bucket, key: "gone" })
        expect(yield* store.list(bucket)).toEqual([])
      }))

    test("compose of a >= 5 MiB object and a small one: concatenated bytes, multipart ETag, content type", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("compose")
        const big = filled(minPartSize, 0x61)
        const small = bytes('{"message":"appended"}\n')
        yield* store.put(bucket, "big", big, { contentType: "text/plain" })
        yield* store.put(bucket, "small", small, { contentType: "text/plain" })
        yield* store.compose({ bucket, key: "joined" }, [
          { bucket, key: "big" },
          { bucket, key: "small" }
        ])
        const joined = yield* store.get(bucket, "joined")
        expect(joined.length).toBe(big.length + small.length)
        expect(md5Hex(joined)).toBe(md5Hex(concat([big, small])))
        const info = yield* store.stat(bucket, "joined")
        expect(info).toMatchObject({ size: big.length + small.length, contentType: "text/plain" })
        expect(info.etag).toBe(multipartEtag([big, small]))
        expect(keysOf(yield* store.list(bucket))).toEqual(["big", "joined", "small"])
        expect(md5Hex(yield* store.get(bucket, "big"))).toBe(md5Hex(big))
        expect(yield* store.listIncompleteUploads(bucket, "joined")).toEqual([])
      }))

    test("compose into one of its sources appends to it, from the sources as they were", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("append")
        const daily = filled(minPartSize + 3, 0x7a)
        const chunk = bytes('{"timestamp":"2026-01-01T00:00:00Z","message":"x"}\n')
        yield* store.put(bucket, "logs/b/20260101.log", daily, { contentType: "text/plain" })
        yield* store.put(bucket, "logs/b/.tmp-9", chunk, { contentType: "text/plain" })
        yield* store.compose({ bucket, key: "logs/b/20260101.log" }, [
          { bucket, key: "logs/b/20260101.log" },
          { bucket, key: "logs/b/.tmp-9" }
        ])
        const appended = yield* store.get(bucket, "logs/b/20260101.log")
        expect(md5Hex(appended)).toBe(md5Hex(concat([daily, chunk])))
        const info = yield* store.stat(bucket, "logs/b/20260101.log")
        expect(info).toMatchObject({ size: daily.length + chunk.length, contentType: "text/plain" })
        expect(info.etag).toBe(multipartEtag([daily, chunk]))
      }))

    test("compose with a non-last source under 5 MiB fails with EntityTooSmall and changes nothing", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("compose-small")
        yield* store.put(bucket, "dst", bytes("unchanged"))
        yield* store.put(bucket, "small", bytes("tiny"))
        yield* store.put(bucket, "big", filled(minPartSize, 0x62))
        const sources = [
          { bucket, key: "small" },
          { bucket, key: "big" }
        ]
        expect(yield* failureCode(store.compose({ bucket, key: "dst" }, sources))).toBe("EntityTooSmall")
        expect(yield* failureCode(store.compose({ bucket, key: "new" }, sources))).toBe("EntityTooSmall")
        expect(text(yield* store.get(bucket, "dst"))).toBe("unchanged")
        yield* expectAbsent(store, bucket, "new")
        expect(yield* store.listIncompleteUploads(bucket, "dst")).toEqual([])
      }))

    test("compose with a missing source fails with NoSuchKey and changes nothing", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("compose-missing")
        yield* store.put(bucket, "dst", bytes("unchanged"))
        yield* store.put(bucket, "big", filled(minPartSize, 0x63))
        const missingLast = [
          { bucket, key: "big" },
          { bucket, key: "gone" }
        ]
        expect(yield* failureTag(store.compose({ bucket, key: "dst" }, missingLast))).toBe("NoSuchKey")
        expect(yield* failureTag(store.compose({ bucket, key: "new" }, [{ bucket, key: "gone" }]))).toBe("NoSuchKey")
        expect(text(yield* store.get(bucket, "dst"))).toBe("unchanged")
        yield* expectAbsent(store, bucket, "new")
      }))

    test("multipart: two 5 MiB parts and a small last part; the object appears only on complete", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("multipart")
        const key = "bot-1/state.tar.gz"
        const parts = [filled(minPartSize, 1), filled(minPartSize, 2), bytes("the tail")]
        const before = yield* Clock.currentTimeMillis
        const uploadId = yield* store.createMultipartUpload(bucket, key, { contentType: "application/gzip" })
        const completed: Array<CompletedPart> = []
        for (const [index, body] of parts.entries()) {
          const part = yield* store.uploadPart(bucket, key, uploadId, index + 1, body)
          expect(part).toEqual({ partNumber: index + 1, etag: md5Hex(body) })
          completed.push(part)
        }
        expect(yield* failureTag(store.stat(bucket, key))).toBe("NoSuchKey")
        expect(yield* store.list(bucket)).toEqual([])
        const open = yield* store.listIncompleteUploads(bucket, key)
        expect(open.map((upload) => [upload.key, upload.uploadId])).toEqual([[key, uploadId]])
        const initiated = open[0]?.initiated.getTime() ?? Number.NaN
        expect(initiated).toBeGreaterThanOrEqual(before - clockSlack)
        expect(initiated).toBeLessThanOrEqual((yield* Clock.currentTimeMillis) + clockSlack)

        const { etag } = yield* store.completeMultipartUpload(bucket, key, uploadId, completed)
        expect(etag).toBe(multipartEtag(parts))
        const info = yield* store.stat(bucket, key)
        expect(info).toMatchObject({ key, size: 2 * minPartSize + 8, etag, contentType: "application/gzip" })
        expect(yield* store.list(bucket)).toMatchObject([{ key, size: info.size, etag }])
        expect(md5Hex(yield* store.get(bucket, key))).toBe(md5Hex(concat(parts)))
        expect(yield* store.listIncompleteUploads(bucket, key)).toEqual([])
        expect(yield* failureTag(store.completeMultipartUpload(bucket, key, uploadId, completed))).toBe("NoSuchUpload")
        expect(yield* failureTag(store.abortMultipartUpload(bucket, key, uploadId))).toBe("NoSuchUpload")
      }))

    test("multipart: a re-uploaded part replaces the old one; only the listed parts make the object", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("reupload")
        const uploadId = yield* store.createMultipartUpload(bucket, "k")
        const old = yield* store.uploadPart(bucket, "k", uploadId, 1, bytes("old"))
        const fresh = yield* store.uploadPart(bucket, "k", uploadId, 1, bytes("new"))
        yield* store.uploadPart(bucket, "k", uploadId, 2, bytes("never listed"))
        const last = yield* store.uploadPart(bucket, "k", uploadId, 10_000, bytes("part 10000"))
        expect(yield* failureCode(store.completeMultipartUpload(bucket, "k", uploadId, [old]))).toBe("InvalidPart")
        yield* store.completeMultipartUpload(bucket, "k", uploadId, [fresh])
        expect(text(yield* store.get(bucket, "k"))).toBe("new")
        expect((yield* store.stat(bucket, "k")).etag).toBe(multipartEtag([bytes("new")]))

        const second = yield* store.createMultipartUpload(bucket, "top")
        const top = yield* store.uploadPart(bucket, "top", second, 10_000, bytes("part 10000"))
        expect(top.etag).toBe(last.etag)
        yield* store.completeMultipartUpload(bucket, "top", second, [top])
        expect(text(yield* store.get(bucket, "top"))).toBe("part 10000")
      }))

    test("multipart: part numbers outside 1..10000 are refused", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("partnumber")
        const uploadId = yield* store.createMultipartUpload(bucket, "k")
        expect(yield* failureTag(store.uploadPart(bucket, "k", uploadId, 0, bytes("x")))).toBe("ObjectStoreError")
        expect(yield* failureCode(store.uploadPart(bucket, "k", uploadId, 10_001, bytes("x")))).toBe("InvalidArgument")
        yield* store.abortMultipartUpload(bucket, "k", uploadId)
      }))

    test("multipart: complete checks parts (InvalidPart, InvalidPartOrder, EntityTooSmall) and keeps the upload", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("complete-errors")
        const uploadId = yield* store.createMultipartUpload(bucket, "k")
        const one = yield* store.uploadPart(bucket, "k", uploadId, 1, bytes("one"))
        const two = yield* store.uploadPart(bucket, "k", uploadId, 2, bytes("two"))
        const complete = (parts: ReadonlyArray<CompletedPart>) =>
          failureCode(store.completeMultipartUpload(bucket, "k", uploadId, parts))
        expect(yield* complete([{ partNumber: 1, etag: md5Hex(bytes("other")) }])).toBe("InvalidPart")
        expect(yield* complete([{ partNumber: 3, etag: two.etag }])).toBe("InvalidPart")
        expect(yield* complete([two, one])).toBe("InvalidPartOrder")
        expect(yield* complete([one, two])).toBe("EntityTooSmall")
        expect(yield* failureTag(store.stat(bucket, "k"))).toBe("NoSuchKey")
        expect((yield* store.listIncompleteUploads(bucket, "k")).map((upload) => upload.uploadId)).toEqual([uploadId])
        yield* store.completeMultipartUpload(bucket, "k", uploadId, [two])
        expect(text(yield* store.get(bucket, "k"))).toBe("two")
      }))

    test("multipart: abort leaves nothing behind; the upload id is then unknown", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("abort")
        const uploadId = yield* store.createMultipartUpload(bucket, "k", { contentType: "application/gzip" })
        const part = yield* store.uploadPart(bucket, "k", uploadId, 1, filled(minPartSize, 9))
        yield* store.abortMultipartUpload(bucket, "k", uploadId)
        yield* expectAbsent(store, bucket, "k")
        expect(yield* store.list(bucket)).toEqual([])
        expect(yield* failureTag(store.uploadPart(bucket, "k", uploadId, 2, bytes("x")))).toBe("NoSuchUpload")
        expect(yield* failureTag(store.completeMultipartUpload(bucket, "k", uploadId, [part]))).toBe("NoSuchUpload")
        expect(yield* Effect.flip(store.abortMultipartUpload(bucket, "k", uploadId))).toMatchObject({
          _tag: "NoSuchUpload",
          bucket,
          key: "k",
          uploadId
        })
      }))

    test("multipart: an upload id only works with its own key", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("wrongkey")
        const uploadId = yield* store.createMultipartUpload(bucket, "mine")
        const part = yield* store.uploadPart(bucket, "mine", uploadId, 1, bytes("x"))
        expect(yield* failureTag(store.uploadPart(bucket, "theirs", uploadId, 1, bytes("x")))).toBe("NoSuchUpload")
        expect(yield* failureTag(store.completeMultipartUpload(bucket, "theirs", uploadId, [part]))).toBe(
          "NoSuchUpload"
        )
        expect(yield* failureTag(store.abortMultipartUpload(bucket, "theirs", uploadId))).toBe("NoSuchUpload")
        yield* expectAbsent(store, bucket, "theirs")
        yield* store.completeMultipartUpload(bucket, "mine", uploadId, [part])
        expect(text(yield* store.get(bucket, "mine"))).toBe("x")
      }))

    test("listIncompleteUploads lists the open uploads of a key, not those of others", () =>
      Effect.gen(function* () {
        const { store, bucket } = yield* setup("incomplete")
        const first = yield* store.createMultipartUpload(bucket, "logs/b/20260101.log")
        const second = yield* store.createMultipartUpload(bucket, "logs/b/20260101.log")
        const other = yield* store.createMultipartUpload(bucket, "state/b/state.tar.gz")
        const listed = yield* store.listIncompleteUploads(bucket, "logs/b/20260101.log")
        expect(listed.map((upload) => upload.key)).toEqual(["logs/b/20260101.log", "logs/b/20260101.log"])
        expect(listed.map((upload) => upload.uploadId).sort()).toEqual([first, second].sort())
        for (const upload of listed) expect(Number.isNaN(upload.initiated.getTime())).toBe(false)
        yield* store.abortMultipartUpload(bucket, "logs/b/20260101.log", first)
        expect((yield* store.listIncompleteUploads(bucket, "logs/b/20260101.log")).map((u) => u.uploadId)).toEqual([
          second
        ])
        expect((yield* store.listIncompleteUploads(bucket, "state/b/state.tar.gz")).map((u) => u.uploadId)).toEqual([
          other
        ])
        expect(yield* store.list(bucket)).toEqual([])
      }))
  })
}
