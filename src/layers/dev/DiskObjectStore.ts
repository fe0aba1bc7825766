/**
 * An object store on the local disk with the S3 semantics of the ObjectStore port (the same contract suite as
 * MinIO and the memory fake), for `the0-runtime dev`: the dev process and every bot process it starts share one
 * directory, so each write is a temporary file renamed into place (atomic on one file system) and every read goes
 * to the disk, never to a cache.
 *
 * Layout under the root: `<bucket>/objects/<sha256 of key>` holds one object (a 4-byte header length, the JSON
 * header `{key, etag, contentType, lastModified}`, then the bytes); `<bucket>/uploads/<uploadId>/upload.json` and
 * `<partNumber>.part` hold an open multipart upload; `<bucket>/tmp/` the files being written.
 */

import { createHash, randomBytes } from "node:crypto"
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Clock, Effect, Layer, Stream } from "effect"
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

interface Header {
  readonly key: string
  readonly etag: string
  readonly contentType?: string
  readonly lastModified: number
}

interface UploadMeta {
  readonly key: string
  readonly uploadId: string
  readonly initiated: number
  readonly contentType?: string
}

const maxPartNumber = 10_000

const unquote = (etag: string): string => etag.replace(/^"|"$/g, "")

const isValidBucketName = (name: string): boolean =>
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(name)

const isMissing = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ENOENT"

const toInfo = (header: Header, size: number): ObjectInfo => ({
  key: header.key,
  size,
  etag: header.etag,
  lastModified: new Date(header.lastModified),
  ...(header.contentType === undefined ? {} : { contentType: header.contentType })
})

/** The ObjectStore over the directory `root` (created when missing). */
export const make = (root: string): Effect.Effect<ObjectStoreService> =>
  Effect.sync(() => {
    const bucketDir = (bucket: string) => path.join(root, bucket)
    const objectFile = (bucket: string, key: string) =>
      path.join(bucketDir(bucket), "objects", createHash("sha256").update(key, "utf8").digest("hex"))
    const uploadDir = (bucket: string, uploadId: string) => path.join(bucketDir(bucket), "uploads", uploadId)

    const fsError = (operation: string, bucket: string, key: string | undefined, cause: unknown) =>
      new ObjectStoreError({
        operation,
        bucket,
        ...(key === undefined ? {} : { key }),
        code: "InternalError",
        detail: cause instanceof Error ? cause.message : String(cause),
        cause
      })

    const storeError = (operation: string, bucket: string, key: string, code: string, detail: string) =>
      new ObjectStoreError({ operation, bucket, key, code, detail })

    const io = <A>(operation: string, bucket: string, key: string | undefined, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => fsError(operation, bucket, key, cause) })

    const exists = (bucket: string) =>
      io("bucketExists", bucket, undefined, () =>
        stat(bucketDir(bucket)).then(
          (s) => s.isDirectory(),
          (error: unknown) => (isMissing(error) ? false : Promise.reject(error))
        )
      )

    const requireBucket = (operation: string, bucket: string) =>
      Effect.flatMap(
        io(operation, bucket, undefined, () =>
          stat(bucketDir(bucket)).then(
            (s) => s.isDirectory(),
            (error: unknown) => (isMissing(error) ? false : Promise.reject(error))
          )
        ),
        (found) => (found ? Effect.void : Effect.fail(new NoSuchBucket({ bucket })))
      )

    /** Writes `data` to `target` through a temporary file in the bucket, renamed into place. */
    const atomicWrite = async (bucket: string, target: string, data: Uint8Array) => {
      const tmp = path.join(bucketDir(bucket), "tmp")
      await mkdir(tmp, { recursive: true })
      await mkdir(path.dirname(target), { recursive: true })
      const file = path.join(tmp, `${process.pid}-${randomBytes(8).toString("hex")}`)
      await writeFile(file, data)
      await rename(file, target)
    }

    const encode = (header: Header, body: Uint8Array): Uint8Array => {
      const json = Buffer.from(JSON.stringify(header), "utf8")
      const length = Buffer.alloc(4)
      length.writeUInt32BE(json.length, 0)
      return Buffer.concat([length, json, body])
    }

    const decode = (data: Buffer): { header: Header; body: Uint8Array } => {
      const length = data.readUInt32BE(0)
      const header = JSON.parse(data.subarray(4, 4 + length).toString("utf8")) as Header
      return { header, body: new Uint8Array(data.subarray(4 + length)) }
    }

    /** The header and size of the object stored in `file`, reading only its header; undefined when absent. */
    const readHeader = async (file: string): Promise<{ header: Header; size: number } | undefined> => {
      const handle = await open(file, "r").catch((error: unknown) =>
        isMissing(error) ? undefined : Promise.reject(error)
      )
      if (handle === undefined) return undefined
      try {
        const { size } = await handle.stat()
        const prefix = Buffer.alloc(4)
        await handle.read(prefix, 0, 4, 0)
        const length = prefix.readUInt32BE(0)
        const json = Buffer.alloc(length)
        await handle.read(json, 0, length, 4)
        return { header: JSON.parse(json.toString("utf8")) as Header, size: size - 4 - length }
      } finally {
        await handle.close()
      }
    }

    const readObject = (operation: string, bucket: string, key: string) =>
      Effect.gen(function* () {
        yield* requireBucket(operation, bucket)
        const data = yield* io(operation, bucket, key, () =>
          readFile(objectFile(bucket, key)).catch((error: unknown) =>
            isMissing(error) ? undefined : Promise.reject(error)
          )
        )
        if (data === undefined) return yield* Effect.fail(new NoSuchKey({ bucket, key }))
        return decode(data)
      })

    const writeObject = (
      operation: string,
      bucket: string,
      key: string,
      body: Uint8Array,
      header: Omit<Header, "key">
    ) =>
      io(operation, bucket, key, () => atomicWrite(bucket, objectFile(bucket, key), encode({ key, ...header }, body)))

    const readUpload = (bucket: string, key: string, uploadId: string) =>
      Effect.gen(function* () {
        const invalidId = !/^[a-f0-9]{32}$/.test(uploadId)
        const meta = invalidId
          ? undefined
          : yield* io("upload", bucket, key, () =>
              readFile(path.join(uploadDir(bucket, uploadId), "upload.json"), "utf8").then(
                (text) => JSON.parse(text) as UploadMeta,
                (error: unknown) => (isMissing(error) ? undefined : Promise.reject(error))
              )
            )
        if (meta === undefined || meta.key !== key)
          return yield* Effect.fail(new NoSuchUpload({ bucket, key, uploadId }))
        return meta
      })

    const now = Clock.currentTimeMillis

    const service: ObjectStoreService = {
      bucketExists: exists,

      ensureBucket: (bucket) =>
        isValidBucketName(bucket)
          ? io("ensureBucket", bucket, undefined, () =>
              mkdir(path.join(bucketDir(bucket), "objects"), { recursive: true })
            )
          : Effect.fail(
              new ObjectStoreError({
                operation: "ensureBucket",
                bucket,
                code: "InvalidBucketName",
                detail: "invalid bucket name"
              })
            ),

      get: (bucket, key) => Effect.map(readObject("get", bucket, key), ({ body }) => body),

      put: (bucket, key, body, options) =>
        Effect.gen(function* () {
          yield* requireBucket("put", bucket)
          const etag = md5Hex(body)
          const contentType = options?.contentType
          yield* writeObject("put", bucket, key, body, {
            etag,
            lastModified: yield* now,
            ...(contentType === undefined ? {} : { contentType })
          })
          return { etag }
        }),

      stat: (bucket, key) =>
        Effect.gen(function* () {
          yield* requireBucket("stat", bucket)
          const found = yield* io("stat", bucket, key, () => readHeader(objectFile(bucket, key)))
          if (found === undefined) return yield* Effect.fail(new NoSuchKey({ bucket, key }))
          return toInfo(found.header, found.size)
        }),

      list: (bucket, prefix = "") =>
        Effect.gen(function* () {
          yield* requireBucket("list", bucket)
          return yield* io("list", bucket, prefix, async () => {
            const dir = path.join(bucketDir(bucket), "objects")
            const names = await readdir(dir).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)))
            const infos: Array<ObjectInfo> = []
            for (const name of names) {
              const found = await readHeader(path.join(dir, name))
              if (found?.header.key.startsWith(prefix)) infos.push(toInfo(found.header, found.size))
            }
            return infos.sort((a, b) => compareKeys(a.key, b.key))
          })
        }),

      scan: (bucket, prefix) => Stream.unwrap(Effect.map(service.list(bucket, prefix), Stream.fromIterable)),

      remove: (bucket, key) =>
        Effect.zipRight(
          requireBucket("remove", bucket),
          io("remove", bucket, key, () => rm(objectFile(bucket, key), { force: true }))
        ),

      copy: (source, destination) =>
        Effect.gen(function* () {
          yield* requireBucket("copy", destination.bucket)
          const { header, body } = yield* readObject("copy", source.bucket, source.key)
          if (source.bucket === destination.bucket && source.key === destination.key) {
            const detail = "copying an object onto itself without changing its metadata is not allowed"
            return yield* Effect.fail(storeError("copy", source.bucket, source.key, "InvalidRequest", detail))
          }
          yield* writeObject("copy", destination.bucket, destination.key, body, {
            etag: md5Hex(body),
            lastModified: yield* now,
            ...(header.contentType === undefined ? {} : { contentType: header.contentType })
          })
        }),

      compose: (destination, sources, options) =>
        Effect.gen(function* () {
          const { bucket, key } = destination
          if (sources.length === 0)
            return yield* Effect.fail(storeError("compose", bucket, key, "InvalidArgument", "no source objects"))
          const objects: Array<{ header: Header; body: Uint8Array }> = []
          for (const source of sources) objects.push(yield* readObject("compose", source.bucket, source.key))
          for (const [index, object] of objects.entries()) {
            if (index < objects.length - 1 && object.body.length < minPartSize) {
              const detail = `source ${index} is ${object.body.length} bytes, below the ${minPartSize}-byte minimum part size`
              return yield* Effect.fail(storeError("compose", bucket, key, "EntityTooSmall", detail))
            }
          }
          yield* requireBucket("compose", bucket)
          const contentType = options?.contentType ?? objects[0]?.header.contentType
          yield* writeObject("compose", bucket, key, Buffer.concat(objects.map((o) => o.body)), {
            etag: multipartEtag(objects.map((o) => md5Hex(o.body))),
            lastModified: yield* now,
            ...(contentType === undefined ? {} : { contentType })
          })
        }),

      createMultipartUpload: (bucket, key, options) =>
        Effect.gen(function* () {
          yield* requireBucket("createMultipartUpload", bucket)
          const uploadId = randomBytes(16).toString("hex")
          const contentType = options?.contentType
          const meta: UploadMeta = {
            key,
            uploadId,
            initiated: yield* now,
            ...(contentType === undefined ? {} : { contentType })
          }
          yield* io("createMultipartUpload", bucket, key, () =>
            atomicWrite(
              bucket,
              path.join(uploadDir(bucket, uploadId), "upload.json"),
              Buffer.from(JSON.stringify(meta), "utf8")
            )
          )
          return uploadId
        }),

      uploadPart: (bucket, key, uploadId, partNumber, body) =>
        Effect.gen(function* () {
          if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > maxPartNumber) {
            const detail = `part number must be an integer between 1 and ${maxPartNumber}, got ${partNumber}`
            return yield* Effect.fail(storeError("uploadPart", bucket, key, "InvalidArgument", detail))
          }
          yield* readUpload(bucket, key, uploadId)
          yield* io("uploadPart", bucket, key, () =>
            atomicWrite(bucket, path.join(uploadDir(bucket, uploadId), `${partNumber}.part`), body)
          )
          const completed: CompletedPart = { partNumber, etag: md5Hex(body) }
          return completed
        }),

      completeMultipartUpload: (bucket, key, uploadId, parts) =>
        Effect.gen(function* () {
          const fail = (code: string, detail: string) =>
            Effect.fail(storeError("completeMultipartUpload", bucket, key, code, detail))
          if (parts.length === 0) return yield* fail("MalformedXML", "no parts listed")
          if (parts.some((part, index) => index > 0 && part.partNumber <= (parts[index - 1]?.partNumber ?? 0)))
            return yield* fail("InvalidPartOrder", "parts must be listed in ascending order of part number")
          const meta = yield* readUpload(bucket, key, uploadId)
          const bodies: Array<Uint8Array> = []
          const etags: Array<string> = []
          for (const [index, listed] of parts.entries()) {
            const body = yield* io("completeMultipartUpload", bucket, key, () =>
              readFile(path.join(uploadDir(bucket, uploadId), `${listed.partNumber}.part`)).catch((error: unknown) =>
                isMissing(error) ? undefined : Promise.reject(error)
              )
            )
            const etag = body === undefined ? undefined : md5Hex(body)
            if (body === undefined || etag !== unquote(listed.etag))
              return yield* fail("InvalidPart", `part ${listed.partNumber} was not uploaded with ETag ${listed.etag}`)
            if (index < parts.length - 1 && body.length < minPartSize)
              return yield* fail("EntityTooSmall", `part ${listed.partNumber} is ${body.length} bytes`)
            bodies.push(body)
            etags.push(etag)
          }
          const etag = multipartEtag(etags)
          yield* writeObject("completeMultipartUpload", bucket, key, Buffer.concat(bodies), {
            etag,
            lastModified: yield* now,
            ...(meta.contentType === undefined ? {} : { contentType: meta.contentType })
          })
          yield* io("completeMultipartUpload", bucket, key, () =>
            rm(uploadDir(bucket, uploadId), { recursive: true, force: true })
          )
          return { etag }
        }),

      abortMultipartUpload: (bucket, key, uploadId) =>
        Effect.gen(function* () {
          yield* readUpload(bucket, key, uploadId)
          yield* io("abortMultipartUpload", bucket, key, () =>
            rm(uploadDir(bucket, uploadId), { recursive: true, force: true })
          )
        }),

      listIncompleteUploads: (bucket, prefix = "") =>
        Effect.gen(function* () {
          yield* requireBucket("listIncompleteUploads", bucket)
          return yield* io("listIncompleteUploads", bucket, prefix, async () => {
            const dir = path.join(bucketDir(bucket), "uploads")
            const ids = await readdir(dir).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)))
            const uploads: Array<UploadMeta> = []
            for (const id of ids) {
              const text = await readFile(path.join(dir, id, "upload.json"), "utf8").catch((error: unknown) =>
                isMissing(error) ? undefined : Promise.reject(error)
              )
              if (text !== undefined) uploads.push(JSON.parse(text) as UploadMeta)
            }
            return incompleteUploads(uploads, prefix)
          })
        })
    }
    return service
  })

/** The ObjectStore over the directory `root`. */
export const layer = (root: string): Layer.Layer<ObjectStore> => Layer.effect(ObjectStore, make(root))
