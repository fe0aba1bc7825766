/**
 * The ObjectStore port over the MinIO JavaScript client (`minio@8`), for MinIO, S3 and R2 (docs/contracts.md,
 * "MinIO buckets and keys"). S3 error codes become the port's tagged errors. Server-side compose is our own multipart flow of part copies:
 * an upload that fails after it was created is aborted on a fresh, uninterruptible context with its own deadline,
 * so a cancelled caller never leaves an incomplete upload behind.
 *
 * Configuration is the0's: `MINIO_ENDPOINT` (`host:port`, no scheme), `MINIO_ACCESS_KEY`, `MINIO_SECRET_KEY`,
 * `MINIO_USE_SSL` (only `true` enables TLS), with the0's messages for missing values, checked in that order.
 */

import type { Readable } from "node:stream"
import { Deferred, Duration, Effect, Fiber, Layer, Option, Stream } from "effect"
import * as Minio from "minio"
import {
  type CompletedPart,
  type IncompleteUpload,
  NoSuchBucket,
  NoSuchKey,
  NoSuchUpload,
  type ObjectInfo,
  type ObjectRef,
  ObjectStore,
  ObjectStoreError,
  type ObjectStoreService
} from "../../services/ObjectStore.ts"
import { compareKeys } from "../S3Semantics.ts"
import {
  configFromEnv,
  type MinioConfig,
  MinioConfigError,
  parseEndpoint,
  readConfig,
  unconfigured
} from "./MinioConfig.ts"
import { type Context, errorCode, errorDetail, mapError } from "./MinioErrors.ts"

export { configFromEnv, type MinioConfig, MinioConfigError, parseEndpoint, unconfigured } from "./MinioConfig.ts"

/** Bounded time for an abort or a cleanup that runs after a failure. */
const cleanupDeadline = Duration.seconds(30)

const readAll = (stream: Readable): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    stream.on("data", (chunk: Buffer) => chunks.push(chunk))
    stream.on("error", reject)
    stream.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))))
  })

const collect = <A>(stream: NodeJS.ReadableStream): Promise<Array<A>> =>
  new Promise((resolve, reject) => {
    const items: Array<A> = []
    stream.on("data", (item: A) => items.push(item))
    stream.on("error", reject)
    stream.on("end", () => resolve(items))
  })

const unquote = (etag: string): string => etag.replace(/^"|"$/g, "")

const copySource = (source: ObjectRef): string =>
  `${source.bucket}/${source.key.split("/").map(encodeURIComponent).join("/")}`

/** S3 sorts keys by their UTF-8 bytes; so do we, whatever order pages come in. */

/** The service over an existing client. */
export const fromClient = (client: Minio.Client): ObjectStoreService => {
  const call = <A>(context: Context, run: () => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: (error) => mapError(context, error) })

  /** Like `call`, for operations whose port type has no NoSuchKey/NoSuchUpload: those become ObjectStoreError. */
  const callBucket = <A>(context: Context, run: () => Promise<A>): Effect.Effect<A, NoSuchBucket | ObjectStoreError> =>
    Effect.catchTags(call(context, run), {
      NoSuchKey: (error) => Effect.fail(asStoreError(context, "NoSuchKey", error)),
      NoSuchUpload: (error) => Effect.fail(asStoreError(context, "NoSuchUpload", error))
    })

  const bucketError = (context: Context, error: unknown): NoSuchBucket | ObjectStoreError => {
    const mapped = mapError(context, error)
    return mapped._tag === "NoSuchKey" || mapped._tag === "NoSuchUpload"
      ? asStoreError(context, mapped._tag, mapped)
      : mapped
  }

  const asStoreError = (context: Context, code: string, error: Error) =>
    new ObjectStoreError({ operation: context.operation, bucket: context.bucket, code, detail: error.message })

  const onlyStoreError = <A>(effect: Effect.Effect<A, NoSuchKey | NoSuchBucket | NoSuchUpload | ObjectStoreError>) =>
    Effect.mapError(effect, (error) =>
      error._tag === "ObjectStoreError"
        ? error
        : new ObjectStoreError({ operation: "bucket", bucket: "", code: error._tag, detail: error.message })
    )

  const bucketExists = (bucket: string) =>
    onlyStoreError(call({ operation: "bucketExists", bucket }, () => client.bucketExists(bucket)))

  /** HEAD answers a bare 404 for a missing key and a missing bucket alike: ask which. */
  const notFound = (bucket: string, key: string) =>
    Effect.flatMap(bucketExists(bucket), (exists) =>
      Effect.fail(exists ? new NoSuchKey({ bucket, key }) : new NoSuchBucket({ bucket }))
    )

  const stat = (bucket: string, key: string): Effect.Effect<ObjectInfo, NoSuchKey | NoSuchBucket | ObjectStoreError> =>
    call({ operation: "stat", bucket, key }, () => client.statObject(bucket, key)).pipe(
      Effect.catchIf(
        (error) => error._tag === "ObjectStoreError" && error.code === "NotFound",
        () => notFound(bucket, key)
      ),
      Effect.catchTag("NoSuchUpload", (error) =>
        Effect.fail(asStoreError({ operation: "stat", bucket }, "NoSuchUpload", error))
      ),
      Effect.map((info) => {
        const contentType = info.metaData["content-type"]
        return {
          key,
          size: info.size,
          etag: unquote(info.etag),
          lastModified: info.lastModified,
          ...(typeof contentType === "string" ? { contentType } : {})
        }
      })
    )

  /**
   * Runs on its own fiber, detached from the caller's interruption, for at most the cleanup deadline: an interrupted
   * or failed compose still aborts its upload.
   */
  const abortQuietly = (bucket: string, key: string, uploadId: string) =>
    Effect.gen(function* () {
      const done = yield* Deferred.make<void>()
      const abort = Effect.promise(() => client.abortMultipartUpload(bucket, key, uploadId).catch(() => undefined))
      yield* Effect.forkDaemon(Effect.interruptible(Effect.zipRight(abort, Deferred.succeed(done, undefined))))
      const timer = yield* Effect.forkDaemon(
        Effect.interruptible(Effect.zipRight(Effect.sleep(cleanupDeadline), Deferred.succeed(done, undefined)))
      )
      yield* Deferred.await(done)
      yield* Fiber.interruptFork(timer)
    })

  const withoutUploadError = <A>(
    context: Context,
    effect: Effect.Effect<A, NoSuchKey | NoSuchBucket | NoSuchUpload | ObjectStoreError>
  ): Effect.Effect<A, NoSuchKey | NoSuchBucket | ObjectStoreError> =>
    Effect.catchTag(effect, "NoSuchUpload", (error) => Effect.fail(asStoreError(context, "NoSuchUpload", error)))

  const service: ObjectStoreService = {
    bucketExists,

    ensureBucket: (bucket) =>
      Effect.tryPromise({
        try: () => client.makeBucket(bucket),
        catch: (error) => error
      }).pipe(
        Effect.catchAll((error) => {
          const code = errorCode(error)
          return code === "BucketAlreadyOwnedByYou" || code === "BucketAlreadyExists"
            ? Effect.void
            : Effect.fail(
                new ObjectStoreError({
                  operation: "ensureBucket",
                  bucket,
                  code,
                  detail: errorDetail(error),
                  cause: error
                })
              )
        })
      ),

    get: (bucket, key) =>
      withoutUploadError(
        { operation: "get", bucket, key },
        call({ operation: "get", bucket, key }, async () => readAll(await client.getObject(bucket, key)))
      ),

    put: (bucket, key, body, options) =>
      callBucket({ operation: "put", bucket, key }, () =>
        client.putObject(bucket, key, Buffer.from(body.buffer, body.byteOffset, body.byteLength), body.byteLength, {
          "Content-Type": options?.contentType ?? "application/octet-stream"
        })
      ).pipe(Effect.map((info) => ({ etag: unquote(info.etag) }))),

    stat,

    list: (bucket, prefix = "") =>
      callBucket({ operation: "list", bucket }, () =>
        collect<Minio.BucketItem>(client.listObjectsV2(bucket, prefix, true))
      ).pipe(
        Effect.map((items) =>
          items
            .flatMap(
              (item): Array<ObjectInfo> =>
                item.name === undefined
                  ? []
                  : [{ key: item.name, size: item.size, etag: unquote(item.etag), lastModified: item.lastModified }]
            )
            .sort((a, b) => compareKeys(a.key, b.key))
        )
      ),

    scan: (bucket, prefix = "") =>
      Stream.suspend(() =>
        Stream.fromAsyncIterable(
          client.listObjectsV2(bucket, prefix, true) as AsyncIterable<Minio.BucketItem>,
          (error) => bucketError({ operation: "scan", bucket }, error)
        )
      ).pipe(
        Stream.filterMap((item) =>
          item.name === undefined
            ? Option.none()
            : Option.some<ObjectInfo>({
                key: item.name,
                size: item.size,
                etag: unquote(item.etag),
                lastModified: item.lastModified
              })
        )
      ),

    remove: (bucket, key) => callBucket({ operation: "remove", bucket, key }, () => client.removeObject(bucket, key)),

    copy: (source, destination) =>
      withoutUploadError(
        { operation: "copy", bucket: destination.bucket, key: destination.key },
        call({ operation: "copy", bucket: source.bucket, key: source.key }, () =>
          client.copyObject(
            new Minio.CopySourceOptions({ Bucket: source.bucket, Object: source.key }),
            new Minio.CopyDestinationOptions({ Bucket: destination.bucket, Object: destination.key })
          )
        )
      ).pipe(Effect.asVoid),

    compose: (destination, sources, options) =>
      Effect.gen(function* () {
        const { bucket, key } = destination
        const first = sources[0]
        if (first === undefined) {
          return yield* new ObjectStoreError({
            operation: "compose",
            bucket,
            key,
            code: "InvalidArgument",
            detail: "no source objects"
          })
        }
        const contentType = options?.contentType ?? (yield* stat(first.bucket, first.key)).contentType
        const uploadId = yield* withoutUploadError(
          { operation: "compose", bucket, key },
          call({ operation: "compose", bucket, key }, () =>
            client.initiateNewMultipartUpload(
              bucket,
              key,
              contentType === undefined ? {} : { "Content-Type": contentType }
            )
          )
        )
        const copyParts = Effect.forEach(sources, (source, index) =>
          withoutUploadError(
            { operation: "compose", bucket, key },
            call({ operation: "compose", bucket: source.bucket, key: source.key, uploadId }, () =>
              client.uploadPart({
                bucketName: bucket,
                objectName: key,
                uploadID: uploadId,
                partNumber: index + 1,
                headers: { "x-amz-copy-source": copySource(source) }
              })
            )
          ).pipe(Effect.map((part) => ({ part: index + 1, etag: unquote(part.etag) })))
        )
        yield* copyParts.pipe(
          Effect.flatMap((parts) =>
            withoutUploadError(
              { operation: "compose", bucket, key },
              call({ operation: "compose", bucket, key, uploadId }, () =>
                client.completeMultipartUpload(bucket, key, uploadId, parts)
              )
            )
          ),
          Effect.onError(() => abortQuietly(bucket, key, uploadId))
        )
      }),

    createMultipartUpload: (bucket, key, options) =>
      callBucket({ operation: "createMultipartUpload", bucket, key }, () =>
        client.initiateNewMultipartUpload(
          bucket,
          key,
          options?.contentType === undefined ? {} : { "Content-Type": options.contentType }
        )
      ),

    uploadPart: (bucket, key, uploadId, partNumber, body) =>
      Effect.catchTag(
        call({ operation: "uploadPart", bucket, key, uploadId }, () =>
          client.uploadPart(
            { bucketName: bucket, objectName: key, uploadID: uploadId, partNumber, headers: {} },
            Buffer.from(body.buffer, body.byteOffset, body.byteLength)
          )
        ),
        "NoSuchKey",
        () => Effect.fail(new NoSuchUpload({ bucket, key, uploadId }))
      ).pipe(Effect.map((part): CompletedPart => ({ partNumber, etag: unquote(part.etag) }))),

    completeMultipartUpload: (bucket, key, uploadId, parts) =>
      Effect.catchTag(
        call({ operation: "completeMultipartUpload", bucket, key, uploadId }, () =>
          client.completeMultipartUpload(
            bucket,
            key,
            uploadId,
            parts.map((part) => ({ part: part.partNumber, etag: part.etag }))
          )
        ),
        "NoSuchKey",
        () => Effect.fail(new NoSuchUpload({ bucket, key, uploadId }))
      ).pipe(Effect.map((result) => ({ etag: unquote(result.etag) }))),

    /** MinIO answers 204 to an abort of an unknown upload; S3 says NoSuchUpload, and so do we (we look first). */
    abortMultipartUpload: (bucket, key, uploadId) =>
      Effect.gen(function* () {
        const open = yield* Effect.mapError(service.listIncompleteUploads(bucket, key), (error) =>
          error._tag === "NoSuchBucket" ? new NoSuchUpload({ bucket, key, uploadId }) : error
        )
        if (!open.some((upload) => upload.key === key && upload.uploadId === uploadId)) {
          return yield* new NoSuchUpload({ bucket, key, uploadId })
        }
        yield* Effect.catchTag(
          call({ operation: "abortMultipartUpload", bucket, key, uploadId }, () =>
            client.abortMultipartUpload(bucket, key, uploadId)
          ),
          "NoSuchKey",
          () => Effect.fail(new NoSuchUpload({ bucket, key, uploadId }))
        )
      }),

    listIncompleteUploads: (bucket, prefix = "") =>
      Effect.gen(function* () {
        const uploads: Array<IncompleteUpload> = []
        let keyMarker = ""
        let uploadIdMarker = ""
        for (;;) {
          const page = yield* callBucket({ operation: "listIncompleteUploads", bucket }, () =>
            client.listIncompleteUploadsQuery(bucket, prefix, keyMarker, uploadIdMarker, "")
          )
          for (const upload of page.uploads) {
            uploads.push({ key: upload.key, uploadId: upload.uploadId, initiated: new Date(upload.initiated) })
          }
          if (!page.isTruncated) break
          keyMarker = page.nextKeyMarker
          uploadIdMarker = page.nextUploadIdMarker
        }
        return uploads.sort((a, b) => compareKeys(a.key, b.key) || a.initiated.getTime() - b.initiated.getTime())
      })
  }
  return service
}

/** A client for `config`; buffers always go in one PUT (the part size is S3's 5 GiB maximum). */
export const makeClient = (config: MinioConfig): Effect.Effect<Minio.Client, MinioConfigError> =>
  Effect.flatMap(parseEndpoint(config.endpoint, config.useSSL), ({ host, port }) =>
    Effect.try({
      try: () =>
        new Minio.Client({
          endPoint: host,
          port,
          useSSL: config.useSSL,
          accessKey: config.accessKey,
          secretKey: config.secretKey,
          partSize: 5 * 1024 * 1024 * 1024,
          ...(config.region === undefined ? {} : { region: config.region })
        }),
      catch: (error) => new MinioConfigError({ detail: `invalid MinIO settings: ${errorDetail(error)}` })
    })
  )

export const make = (config: MinioConfig): Effect.Effect<ObjectStoreService, MinioConfigError> =>
  Effect.map(makeClient(config), fromClient)

export const layer = (config: MinioConfig): Layer.Layer<ObjectStore, MinioConfigError> =>
  Layer.effect(ObjectStore, make(config))

/** Like `layerFromEnv`, but missing settings give the `unconfigured` store instead of failing the layer. */
export const layerFromEnvDeferred: Layer.Layer<ObjectStore> = Layer.effect(
  ObjectStore,
  configFromEnv.pipe(
    Effect.flatMap(make),
    Effect.catchAll((error) => Effect.succeed(unconfigured(error)))
  )
)

/**
 * The store at `endpoint` (the controller's `--minio-endpoint`, which falls back to `MINIO_ENDPOINT`, as the0 uses
 * the flag's value), with the credentials and TLS setting from the environment.
 */
export const layerAt = (endpoint: string): Layer.Layer<ObjectStore, MinioConfigError> =>
  Layer.effect(ObjectStore, Effect.flatMap(readConfig(endpoint), make))

/** The store configured from the environment, failing with the0's message when a variable is missing. */
export const layerFromEnv: Layer.Layer<ObjectStore, MinioConfigError> = Layer.effect(
  ObjectStore,
  Effect.flatMap(configFromEnv, make)
)
