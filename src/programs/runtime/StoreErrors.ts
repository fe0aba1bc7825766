/** Object-store errors in words, with the0's prefix for missing MinIO settings (`failed to load storage config`). */
import type { NoSuchBucket, NoSuchKey, NoSuchUpload, ObjectStoreError } from "../../services/ObjectStore.ts"

export const describeStoreError = (error: NoSuchKey | NoSuchBucket | NoSuchUpload | ObjectStoreError): string =>
  error._tag === "ObjectStoreError" && error.code === "ConfigError"
    ? `failed to load storage config: ${error.detail}`
    : error.message
