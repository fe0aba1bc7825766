import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as MemoryObjectStore from "../../../src/layers/memory/MemoryObjectStore.ts"
import { minPartSize, ObjectStore, ObjectStoreError } from "../../../src/services/ObjectStore.ts"
import { objectStoreContract } from "../../contracts/ObjectStoreContract.ts"

objectStoreContract("memory", MemoryObjectStore.layer)

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const md5 = (body: Uint8Array): Buffer => createHash("md5").update(body).digest()

const failureCode = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => (error instanceof ObjectStoreError ? error.code : `tag ${error._tag}`))

/** A fresh store with one bucket, per test. */
const withBucket = <A, E>(
  f: (store: ObjectStore["Type"], bucket: string) => Effect.Effect<A, E>
): Effect.Effect<A, E | ObjectStoreError> =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    yield* store.ensureBucket("bucket")
    return yield* f(store, "bucket")
  }).pipe(Effect.provide(MemoryObjectStore.layer))

describe("MemoryObjectStore", () => {
  it.effect("lastModified and initiated come from the Clock (TestClock here)", () =>
    withBucket((store, bucket) =>
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.UTC(2026, 0, 1, 10, 0, 0))
        yield* store.put(bucket, "a", bytes("a"))
        yield* TestClock.adjust("1 minute")
        yield* store.copy({ bucket, key: "a" }, { bucket, key: "b" })
        yield* TestClock.adjust("1 minute")
        yield* store.compose({ bucket, key: "c" }, [{ bucket, key: "a" }])
        yield* TestClock.adjust("1 minute")
        const uploadId = yield* store.createMultipartUpload(bucket, "d")
        const part = yield* store.uploadPart(bucket, "d", uploadId, 1, bytes("d"))
        yield* TestClock.adjust("1 minute")
        const [upload] = yield* store.listIncompleteUploads(bucket, "d")
        expect(upload?.initiated.toISOString()).toBe("2026-01-01T10:03:00.000Z")
        yield* store.completeMultipartUpload(bucket, "d", uploadId, [part])
        const listed = yield* store.list(bucket)
        expect(listed.map((info) => [info.key, info.lastModified.toISOString()])).toEqual([
          ["a", "2026-01-01T10:00:00.000Z"],
          ["b", "2026-01-01T10:01:00.000Z"],
          ["c", "2026-01-01T10:02:00.000Z"],
          ["d", "2026-01-01T10:04:00.000Z"]
        ])
        expect((yield* store.stat(bucket, "a")).lastModified.toISOString()).toBe("2026-01-01T10:00:00.000Z")
      })
    )
  )

  it.effect("listIncompleteUploads filters by key prefix as S3 does, by key then initiation", () =>
    withBucket((store, bucket) =>
      Effect.gen(function* () {
        const late = yield* store.createMultipartUpload(bucket, "logs/b/2.log")
        yield* TestClock.adjust("1 second")
        const early = yield* store.createMultipartUpload(bucket, "logs/a/1.log")
        const again = yield* store.createMultipartUpload(bucket, "logs/b/2.log")
        yield* store.createMultipartUpload(bucket, "state/a/state.tar.gz")
        const logs = yield* store.listIncompleteUploads(bucket, "logs/")
        expect(logs.map((upload) => upload.uploadId)).toEqual([early, late, again])
        expect(yield* store.listIncompleteUploads(bucket)).toHaveLength(4)
        expect(yield* store.listIncompleteUploads(bucket, "nothing/")).toEqual([])
      })
    )
  )

  it.effect("copying an object onto itself is refused with InvalidRequest, as S3 does", () =>
    withBucket((store, bucket) =>
      Effect.gen(function* () {
        yield* store.put(bucket, "k", bytes("v"))
        expect(yield* failureCode(store.copy({ bucket, key: "k" }, { bucket, key: "k" }))).toBe("InvalidRequest")
        expect(new TextDecoder().decode(yield* store.get(bucket, "k"))).toBe("v")
      })
    )
  )

  it.effect("S3 error codes for malformed requests", () =>
    withBucket((store, bucket) =>
      Effect.gen(function* () {
        expect(yield* failureCode(store.ensureBucket("Not_Valid"))).toBe("InvalidBucketName")
        expect(yield* failureCode(store.ensureBucket("a..b"))).toBe("InvalidBucketName")
        expect(yield* failureCode(store.ensureBucket("192.168.0.1"))).toBe("InvalidBucketName")
        expect(yield* failureCode(store.compose({ bucket, key: "k" }, []))).toBe("InvalidArgument")
        const uploadId = yield* store.createMultipartUpload(bucket, "k")
        expect(yield* failureCode(store.uploadPart(bucket, "k", uploadId, 0, bytes("x")))).toBe("InvalidArgument")
        expect(yield* failureCode(store.uploadPart(bucket, "k", uploadId, 1.5, bytes("x")))).toBe("InvalidArgument")
        expect(yield* failureCode(store.completeMultipartUpload(bucket, "k", uploadId, []))).toBe("MalformedXML")
        const part = yield* store.uploadPart(bucket, "k", uploadId, 1, bytes("x"))
        expect(yield* failureCode(store.completeMultipartUpload(bucket, "k", uploadId, [part, part]))).toBe(
          "InvalidPartOrder"
        )
      })
    )
  )

  it.effect("complete accepts ETags in quotes, as S3 clients may send them", () =>
    withBucket((store, bucket) =>
      Effect.gen(function* () {
        const uploadId = yield* store.createMultipartUpload(bucket, "k")
        const part = yield* store.uploadPart(bucket, "k", uploadId, 1, bytes("x"))
        yield* store.completeMultipartUpload(bucket, "k", uploadId, [{ ...part, etag: `"${part.etag}"` }])
        expect((yield* store.stat(bucket, "k")).size).toBe(1)
      })
    )
  )

  it.effect(
    "multipart operations in a missing bucket fail with NoSuchUpload (the port has no NoSuchBucket there)",
    () =>
      withBucket((store, bucket) =>
        Effect.gen(function* () {
          const uploadId = yield* store.createMultipartUpload(bucket, "k")
          const part = yield* store.uploadPart(bucket, "k", uploadId, 1, bytes("x"))
          const tag = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
            Effect.map(Effect.flip(effect), (error) => error._tag)
          expect(yield* tag(store.uploadPart("other", "k", uploadId, 1, bytes("x")))).toBe("NoSuchUpload")
          expect(yield* tag(store.completeMultipartUpload("other", "k", uploadId, [part]))).toBe("NoSuchUpload")
          expect(yield* tag(store.abortMultipartUpload("other", "k", uploadId))).toBe("NoSuchUpload")
          expect(yield* store.listIncompleteUploads(bucket, "k")).toHaveLength(1)
        })
      )
  )

  it.effect("compose uses the MD5 of each source's bytes as its part ETag, also for multipart sources", () =>
    withBucket((store, bucket) =>
      Effect.gen(function* () {
        const first = new Uint8Array(minPartSize).fill(1)
        const uploadId = yield* store.createMultipartUpload(bucket, "multi")
        const part = yield* store.uploadPart(bucket, "multi", uploadId, 1, first)
        const { etag } = yield* store.completeMultipartUpload(bucket, "multi", uploadId, [part])
        expect(etag).toMatch(/-1$/)
        yield* store.put(bucket, "tail", bytes("tail"))
        yield* store.compose({ bucket, key: "joined" }, [
          { bucket, key: "multi" },
          { bucket, key: "tail" }
        ])
        const expected = createHash("md5")
          .update(Buffer.concat([md5(first), md5(bytes("tail"))]))
          .digest("hex")
        expect((yield* store.stat(bucket, "joined")).etag).toBe(`${expected}-2`)
      })
    )
  )

  it.effect("each store built by make is independent", () =>
    Effect.gen(function* () {
      const one = yield* MemoryObjectStore.make
      const two = yield* MemoryObjectStore.make
      yield* one.ensureBucket("shared-name")
      yield* one.put("shared-name", "k", bytes("v"))
      expect(yield* two.bucketExists("shared-name")).toBe(false)
      yield* two.ensureBucket("shared-name")
      expect(yield* two.list("shared-name")).toEqual([])
    })
  )
})
