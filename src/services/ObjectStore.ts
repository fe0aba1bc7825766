import { Context, Data, type Effect, type Stream } from "effect"

/** The key does not exist in the bucket. */
export class NoSuchKey extends Data.TaggedError("NoSuchKey")<{ readonly bucket: string; readonly key: string }> {
  override get message(): string {
    return `no such key: ${this.bucket}/${this.key}`
  }
}

/** The bucket does not exist. */
export class NoSuchBucket extends Data.TaggedError("NoSuchBucket")<{ readonly bucket: string }> {
  override get message(): string {
    return `no such bucket: ${this.bucket}`
  }
}

/** The multipart upload does not exist (completed, aborted, or never created). */
export class NoSuchUpload extends Data.TaggedError("NoSuchUpload")<{
  readonly bucket: string
  readonly key: string
  readonly uploadId: string
}> {
  override get message(): string {
    return `no such upload: ${this.uploadId} for ${this.bucket}/${this.key}`
  }
}

/** Any other failure: the S3 error code when the server gave one (e.g. `EntityTooSmall`, `InvalidPart`). */
export class ObjectStoreError extends Data.TaggedError("ObjectStoreError")<{
  readonly operation: string
  readonly bucket: string
  readonly key?: string
  readonly code: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.operation} ${this.bucket}${this.key === undefined ? "" : `/${this.key}`}: ${this.code}: ${this.detail}`
  }
}

export interface ObjectRef {
  readonly bucket: string
  readonly key: string
}

export interface ObjectInfo {
  readonly key: string
  readonly size: number
  /** The ETag without quotes. */
  readonly etag: string
  readonly lastModified: Date
  readonly contentType?: string
}

export interface IncompleteUpload {
  readonly key: string
  readonly uploadId: string
  readonly initiated: Date
}

export interface CompletedPart {
  readonly partNumber: number
  readonly etag: string
}

/** S3 refuses multipart parts smaller than this, except the last one. */
export const minPartSize = 5 * 1024 * 1024

/**
 * Object storage with S3 semantics (MinIO in production). Every operation on a missing bucket fails with
 * `NoSuchBucket`; removing a missing key succeeds, as in S3.
 */
export interface ObjectStoreService {
  readonly bucketExists: (bucket: string) => Effect.Effect<boolean, ObjectStoreError>
  /** Creates the bucket; succeeds when it already exists. */
  readonly ensureBucket: (bucket: string) => Effect.Effect<void, ObjectStoreError>
  readonly get: (bucket: string, key: string) => Effect.Effect<Uint8Array, NoSuchKey | NoSuchBucket | ObjectStoreError>
  readonly put: (
    bucket: string,
    key: string,
    body: Uint8Array,
    options?: { readonly contentType?: string }
  ) => Effect.Effect<{ readonly etag: string }, NoSuchBucket | ObjectStoreError>
  readonly stat: (bucket: string, key: string) => Effect.Effect<ObjectInfo, NoSuchKey | NoSuchBucket | ObjectStoreError>
  /** Every object whose key starts with `prefix` (recursive), in key order. */
  readonly list: (
    bucket: string,
    prefix?: string
  ) => Effect.Effect<ReadonlyArray<ObjectInfo>, NoSuchBucket | ObjectStoreError>
  /**
   * Every object whose key starts with `prefix` (recursive), one page at a time as the server sends them (S3 sends
   * key order): for sweeps of buckets too large to hold in memory.
   */
  readonly scan: (bucket: string, prefix?: string) => Stream.Stream<ObjectInfo, NoSuchBucket | ObjectStoreError>
  readonly remove: (bucket: string, key: string) => Effect.Effect<void, NoSuchBucket | ObjectStoreError>
  /** Server-side copy of one whole object. */
  readonly copy: (
    source: ObjectRef,
    destination: ObjectRef
  ) => Effect.Effect<void, NoSuchKey | NoSuchBucket | ObjectStoreError>
  /**
   * Server-side concatenation of `sources` into `destination` through a multipart upload of part copies. Every
   * source but the last must be at least `minPartSize` bytes (`EntityTooSmall` otherwise). The result has `contentType`, or
   * the first source's when none is given.
   */
  readonly compose: (
    destination: ObjectRef,
    sources: ReadonlyArray<ObjectRef>,
    options?: { readonly contentType?: string }
  ) => Effect.Effect<void, NoSuchKey | NoSuchBucket | ObjectStoreError>
  readonly createMultipartUpload: (
    bucket: string,
    key: string,
    options?: { readonly contentType?: string }
  ) => Effect.Effect<string, NoSuchBucket | ObjectStoreError>
  readonly uploadPart: (
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array
  ) => Effect.Effect<CompletedPart, NoSuchUpload | NoSuchBucket | ObjectStoreError>
  readonly completeMultipartUpload: (
    bucket: string,
    key: string,
    uploadId: string,
    parts: ReadonlyArray<CompletedPart>
  ) => Effect.Effect<{ readonly etag: string }, NoSuchUpload | NoSuchBucket | ObjectStoreError>
  readonly abortMultipartUpload: (
    bucket: string,
    key: string,
    uploadId: string
  ) => Effect.Effect<void, NoSuchUpload | NoSuchBucket | ObjectStoreError>
  /**
   * Open multipart uploads. S3 and R2 filter by key prefix; MinIO lists every upload for an empty prefix and
   * otherwise only the uploads of the key equal to `prefix`, so portable callers pass the exact key or nothing.
   */
  readonly listIncompleteUploads: (
    bucket: string,
    prefix?: string
  ) => Effect.Effect<ReadonlyArray<IncompleteUpload>, NoSuchBucket | ObjectStoreError>
}

export class ObjectStore extends Context.Tag("the0/ObjectStore")<ObjectStore, ObjectStoreService>() {}
