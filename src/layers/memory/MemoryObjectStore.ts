/**
 * An in-memory object store with the S3 semantics MinIO and R2 give us: ETags, lexicographic recursive listing,
 * server-side copy and compose, and multipart uploads with their part rules. State lives in one Ref of persistent
 * maps, so every operation is atomic; timestamps come from the caller's Clock, so TestClock drives them.
 *
 * `listIncompleteUploads` filters by key prefix as S3 and R2 do. MinIO lists every upload for an empty prefix and
 * otherwise only the uploads of the one key equal to the prefix, so portable callers pass the exact key or nothing.
 */

import { Clock, Effect, Either, HashMap, Layer, Option, Ref, Stream } from "effect"
import {
  type CompletedPart,
  minPartSize,
  NoSuchBucket,
  NoSuchKey,
  NoSuchUpload,
  type ObjectInfo,
  ObjectStore,
  ObjectStoreError,
  type ObjectStoreService
} from "../../services/ObjectStore.ts"
import { compareKeys, incompleteUploads, md5Hex, multipartEtag } from "../S3Semantics.ts"

interface StoredObject {
  readonly body: Uint8Array
  readonly etag: string
  readonly lastModified: number
  readonly contentType: string | undefined
}

interface Part {
  readonly body: Uint8Array
  readonly etag: string
}

interface Upload {
  readonly bucket: string
  readonly key: string
  readonly uploadId: string
  readonly initiated: number
  readonly contentType: string | undefined
  readonly parts: HashMap.HashMap<number, Part>
}

type Bucket = HashMap.HashMap<string, StoredObject>

interface State {
  readonly buckets: HashMap.HashMap<string, Bucket>
  readonly uploads: HashMap.HashMap<string, Upload>
  readonly uploadSeq: number
}

const maxPartNumber = 10_000

const concat = (bodies: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(bodies.reduce((total, body) => total + body.length, 0))
  let offset = 0
  for (const body of bodies) {
    out.set(body, offset)
    offset += body.length
  }
  return out
}

const unquote = (etag: string): string => etag.replace(/^"|"$/g, "")

const isValidBucketName = (name: string): boolean =>
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(name)

const storeError = (operation: string, bucket: string, key: string, code: string, detail: string) =>
  new ObjectStoreError({ operation, bucket, key, code, detail })

const toInfo = (key: string, object: StoredObject): ObjectInfo => ({
  key,
  size: object.body.length,
  etag: object.etag,
  lastModified: new Date(object.lastModified),
  ...(object.contentType === undefined ? {} : { contentType: object.contentType })
})

const findBucket = (state: State, bucket: string): Either.Either<Bucket, NoSuchBucket> =>
  Either.fromOption(HashMap.get(state.buckets, bucket), () => new NoSuchBucket({ bucket }))

const findObject = (state: State, bucket: string, key: string): Either.Either<StoredObject, NoSuchBucket | NoSuchKey> =>
  Either.flatMap(findBucket(state, bucket), (objects) =>
    Either.fromOption(HashMap.get(objects, key), () => new NoSuchKey({ bucket, key }))
  )

/** An upload in another bucket or for another key is no upload at all, as in S3. */
const findUpload = (state: State, bucket: string, key: string, uploadId: string): Either.Either<Upload, NoSuchUpload> =>
  Either.fromOption(
    Option.filter(HashMap.get(state.uploads, uploadId), (upload) => upload.bucket === bucket && upload.key === key),
    () => new NoSuchUpload({ bucket, key, uploadId })
  )

const writeObject = (state: State, bucket: string, key: string, object: StoredObject): State => ({
  ...state,
  buckets: HashMap.modify(state.buckets, bucket, (objects) => HashMap.set(objects, key, object))
})

const withoutUpload = (state: State, uploadId: string): State => ({
  ...state,
  uploads: HashMap.remove(state.uploads, uploadId)
})

export const make: Effect.Effect<ObjectStoreService> = Effect.gen(function* () {
  const ref = yield* Ref.make<State>({ buckets: HashMap.empty(), uploads: HashMap.empty(), uploadSeq: 0 })

  /** Reads the state and answers from it. */
  const read = <A, E>(f: (state: State) => Either.Either<A, E>): Effect.Effect<A, E> =>
    Effect.flatMap(Ref.get(ref), (state) => f(state))

  /** One atomic step: `f` sees the time and the state and either fails or answers with the next state. */
  const update = <A, E>(f: (state: State, now: number) => Either.Either<readonly [A, State], E>): Effect.Effect<A, E> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(
        Ref.modify(ref, (state): readonly [Either.Either<A, E>, State] => {
          const result = f(state, now)
          return Either.isRight(result)
            ? [Either.right(result.right[0]), result.right[1]]
            : [Either.left(result.left), state]
        }),
        (result) => result
      )
    )

  const service: ObjectStoreService = {
    bucketExists: (bucket) => read((state) => Either.right(HashMap.has(state.buckets, bucket))),

    ensureBucket: (bucket) =>
      isValidBucketName(bucket)
        ? Ref.update(ref, (state) =>
            HashMap.has(state.buckets, bucket)
              ? state
              : { ...state, buckets: HashMap.set(state.buckets, bucket, HashMap.empty()) }
          )
        : Effect.fail(
            new ObjectStoreError({
              operation: "ensureBucket",
              bucket,
              code: "InvalidBucketName",
              detail: "invalid bucket name"
            })
          ),

    get: (bucket, key) => read((state) => Either.map(findObject(state, bucket, key), (object) => object.body.slice())),

    put: (bucket, key, body, options) =>
      update((state, now) =>
        Either.map(findBucket(state, bucket), () => {
          const contentType = options?.contentType
          const object = { body: body.slice(), etag: md5Hex(body), lastModified: now, contentType }
          return [{ etag: object.etag }, writeObject(state, bucket, key, object)] as const
        })
      ),

    stat: (bucket, key) => read((state) => Either.map(findObject(state, bucket, key), (object) => toInfo(key, object))),

    list: (bucket, prefix = "") =>
      read((state) =>
        Either.map(findBucket(state, bucket), (objects) =>
          Array.from(objects)
            .filter(([key]) => key.startsWith(prefix))
            .sort(([a], [b]) => compareKeys(a, b))
            .map(([key, object]) => toInfo(key, object))
        )
      ),

    scan: (bucket, prefix) => Stream.unwrap(Effect.map(service.list(bucket, prefix), Stream.fromIterable)),

    remove: (bucket, key) =>
      update((state) =>
        Either.map(findBucket(state, bucket), () => {
          const buckets = HashMap.modify(state.buckets, bucket, (objects) => HashMap.remove(objects, key))
          return [undefined, { ...state, buckets }] as const
        })
      ),

    copy: (source, destination) =>
      update((state, now) =>
        Either.gen(function* () {
          yield* findBucket(state, destination.bucket)
          const object = yield* findObject(state, source.bucket, source.key)
          if (source.bucket === destination.bucket && source.key === destination.key) {
            const detail = "copying an object onto itself without changing its metadata is not allowed"
            return yield* Either.left(storeError("copy", source.bucket, source.key, "InvalidRequest", detail))
          }
          const copied = { ...object, etag: md5Hex(object.body), lastModified: now }
          return [undefined, writeObject(state, destination.bucket, destination.key, copied)] as const
        })
      ),

    compose: (destination, sources, options) =>
      update((state, now) =>
        Either.gen(function* () {
          const { bucket, key } = destination
          if (sources.length === 0) {
            return yield* Either.left(storeError("compose", bucket, key, "InvalidArgument", "no source objects"))
          }
          const objects: Array<StoredObject> = []
          for (const source of sources) objects.push(yield* findObject(state, source.bucket, source.key))
          for (const [index, object] of objects.entries()) {
            if (index < objects.length - 1 && object.body.length < minPartSize) {
              const detail = `source ${index} is ${object.body.length} bytes, below the ${minPartSize}-byte minimum part size`
              return yield* Either.left(storeError("compose", bucket, key, "EntityTooSmall", detail))
            }
          }
          yield* findBucket(state, bucket)
          const composed: StoredObject = {
            body: concat(objects.map((object) => object.body)),
            etag: multipartEtag(objects.map((object) => md5Hex(object.body))),
            lastModified: now,
            contentType: options?.contentType ?? objects[0]?.contentType
          }
          return [undefined, writeObject(state, bucket, key, composed)] as const
        })
      ),

    createMultipartUpload: (bucket, key, options) =>
      update((state, now) =>
        Either.map(findBucket(state, bucket), () => {
          const seq = state.uploadSeq + 1
          const uploadId = `memory-upload-${seq.toString(16).padStart(8, "0")}`
          const contentType = options?.contentType
          const upload: Upload = { bucket, key, uploadId, initiated: now, contentType, parts: HashMap.empty() }
          const uploads = HashMap.set(state.uploads, uploadId, upload)
          return [uploadId, { ...state, uploads, uploadSeq: seq }] as const
        })
      ),

    uploadPart: (bucket, key, uploadId, partNumber, body) =>
      update((state) =>
        Either.gen(function* () {
          if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > maxPartNumber) {
            const detail = `part number must be an integer between 1 and ${maxPartNumber}, got ${partNumber}`
            return yield* Either.left(storeError("uploadPart", bucket, key, "InvalidArgument", detail))
          }
          const upload = yield* findUpload(state, bucket, key, uploadId)
          const part: Part = { body: body.slice(), etag: md5Hex(body) }
          const updated: Upload = { ...upload, parts: HashMap.set(upload.parts, partNumber, part) }
          const completed: CompletedPart = { partNumber, etag: part.etag }
          return [completed, { ...state, uploads: HashMap.set(state.uploads, uploadId, updated) }] as const
        })
      ),

    completeMultipartUpload: (bucket, key, uploadId, parts) =>
      update((state, now) =>
        Either.gen(function* () {
          const fail = (code: string, detail: string) =>
            Either.left(storeError("completeMultipartUpload", bucket, key, code, detail))
          if (parts.length === 0) return yield* fail("MalformedXML", "no parts listed")
          if (parts.some((part, index) => index > 0 && part.partNumber <= (parts[index - 1]?.partNumber ?? 0))) {
            return yield* fail("InvalidPartOrder", "parts must be listed in ascending order of part number")
          }
          const upload = yield* findUpload(state, bucket, key, uploadId)
          const chosen: Array<Part> = []
          for (const [index, listed] of parts.entries()) {
            const part = Option.getOrUndefined(HashMap.get(upload.parts, listed.partNumber))
            if (part === undefined || part.etag !== unquote(listed.etag)) {
              return yield* fail("InvalidPart", `part ${listed.partNumber} was not uploaded with ETag ${listed.etag}`)
            }
            if (index < parts.length - 1 && part.body.length < minPartSize) {
              return yield* fail("EntityTooSmall", `part ${listed.partNumber} is ${part.body.length} bytes`)
            }
            chosen.push(part)
          }
          const object: StoredObject = {
            body: concat(chosen.map((part) => part.body)),
            etag: multipartEtag(chosen.map((part) => part.etag)),
            lastModified: now,
            contentType: upload.contentType
          }
          return [{ etag: object.etag }, writeObject(withoutUpload(state, uploadId), bucket, key, object)] as const
        })
      ),

    abortMultipartUpload: (bucket, key, uploadId) =>
      update((state) =>
        Either.map(findUpload(state, bucket, key, uploadId), () => [undefined, withoutUpload(state, uploadId)] as const)
      ),

    listIncompleteUploads: (bucket, prefix = "") =>
      read((state) =>
        Either.map(findBucket(state, bucket), () =>
          incompleteUploads(
            Array.from(HashMap.values(state.uploads)).filter((upload) => upload.bucket === bucket),
            prefix
          )
        )
      )
  }
  return service
})

export const layer: Layer.Layer<ObjectStore> = Layer.effect(ObjectStore, make)
