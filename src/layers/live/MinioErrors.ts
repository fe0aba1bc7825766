/** S3 errors from the MinIO client, as the ObjectStore port's tagged errors. */
import { NoSuchBucket, NoSuchKey, NoSuchUpload, ObjectStoreError } from "../../services/ObjectStore.ts"

interface S3ErrorShape {
  readonly code?: unknown
  readonly message?: unknown
  readonly bucketname?: unknown
  readonly key?: unknown
  readonly name?: unknown
}

export const errorCode = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return "Unknown"
  const { code, name } = error as S3ErrorShape
  if (typeof code === "string" && code !== "") return code
  return typeof name === "string" && name !== "" && name !== "Error" ? name : "Unknown"
}

export const errorDetail = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "unknown error"

export interface Context {
  readonly operation: string
  readonly bucket: string
  readonly key?: string
  readonly uploadId?: string
}

/** The port's error for a client failure in `context`. `NotFound` comes from HEAD requests, which have no body. */
export const mapError = (
  context: Context,
  error: unknown
): NoSuchKey | NoSuchBucket | NoSuchUpload | ObjectStoreError => {
  const code = errorCode(error)
  const { bucket, key = "" } = context
  switch (code) {
    case "NoSuchBucket":
      return new NoSuchBucket({ bucket: bucketOf(error) ?? bucket })
    case "NoSuchKey":
      return new NoSuchKey({ bucket, key })
    case "NoSuchUpload":
      return new NoSuchUpload({ bucket, key, uploadId: context.uploadId ?? "" })
    default:
      return new ObjectStoreError({
        operation: context.operation,
        bucket,
        ...(context.key === undefined ? {} : { key: context.key }),
        code,
        detail: errorDetail(error),
        cause: error
      })
  }
}

const bucketOf = (error: unknown): string | undefined => {
  const value = typeof error === "object" && error !== null ? (error as S3ErrorShape).bucketname : undefined
  return typeof value === "string" && value !== "" ? value : undefined
}
