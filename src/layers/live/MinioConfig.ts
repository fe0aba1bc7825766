/**
 * MinIO settings from the environment, as the0 reads them (docs/contracts.md, "MinIO buckets and keys"): `MINIO_ENDPOINT` (`host:port`, no
 * scheme), `MINIO_ACCESS_KEY`, `MINIO_SECRET_KEY` (required, checked in that order, with the0's messages) and
 * `MINIO_USE_SSL` (only `true` enables TLS); and the store that stands in when they are missing.
 */
import { Data, Effect, Stream } from "effect"
import { ObjectStoreError, type ObjectStoreService } from "../../services/ObjectStore.ts"

/** A missing or malformed MinIO setting; the message is the0's (`MINIO_ENDPOINT is required`). */
export class MinioConfigError extends Data.TaggedError("MinioConfigError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export interface MinioConfig {
  readonly endpoint: string
  readonly accessKey: string
  readonly secretKey: string
  readonly useSSL: boolean
  /** Skips the client's bucket-location lookups when set (`MINIO_REGION`, ours; R2 wants `auto`). */
  readonly region?: string
}

/** Reads the settings from an environment, as the0's `LoadConfigFromEnv` does. */
export const configFromEnv = (
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<MinioConfig, MinioConfigError> => {
  for (const name of ["MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"] as const) {
    if ((env[name] ?? "") === "") return Effect.fail(new MinioConfigError({ detail: `${name} is required` }))
  }
  const region = env.MINIO_REGION ?? ""
  return Effect.succeed({
    endpoint: env.MINIO_ENDPOINT ?? "",
    accessKey: env.MINIO_ACCESS_KEY ?? "",
    secretKey: env.MINIO_SECRET_KEY ?? "",
    useSSL: env.MINIO_USE_SSL === "true",
    ...(region === "" ? {} : { region })
  })
}

/** `host:port`, `host` or `[v6]:port` into the client's parts; a scheme or a bad port is an error naming the value. */
export const parseEndpoint = (
  endpoint: string,
  useSSL: boolean
): Effect.Effect<{ readonly host: string; readonly port: number }, MinioConfigError> => {
  const bad = (why: string) =>
    Effect.fail(new MinioConfigError({ detail: `MINIO_ENDPOINT ${JSON.stringify(endpoint)} ${why}` }))
  if (endpoint.includes("://")) return bad("must be host:port without a scheme")
  const match = /^(\[[^\]]+\]|[^:/]+)(?::(\d+))?$/.exec(endpoint)
  if (match === null) return bad("is not host:port")
  const host = (match[1] ?? "").replace(/^\[|\]$/g, "")
  const port = match[2] === undefined ? (useSSL ? 443 : 80) : Number(match[2])
  if (port < 1 || port > 65535) return bad("has an invalid port")
  return Effect.succeed({ host, port })
}

/**
 * A store whose every operation fails with `ObjectStoreError` code `ConfigError` and the0's message: for the in-Pod
 * runtime, where missing MinIO settings fail the storage steps that need them, not the process (docs/contracts.md, "In-pod env and files").
 */
export const unconfigured = (error: MinioConfigError): ObjectStoreService => {
  const fail = (operation: string, bucket: string) =>
    Effect.fail(new ObjectStoreError({ operation, bucket, code: "ConfigError", detail: error.detail }))
  return {
    bucketExists: (bucket) => fail("bucketExists", bucket),
    ensureBucket: (bucket) => fail("ensureBucket", bucket),
    get: (bucket) => fail("get", bucket),
    put: (bucket) => fail("put", bucket),
    stat: (bucket) => fail("stat", bucket),
    list: (bucket) => fail("list", bucket),
    scan: (bucket) => Stream.fromEffect(fail("scan", bucket)),
    remove: (bucket) => fail("remove", bucket),
    copy: (_source, destination) => fail("copy", destination.bucket),
    compose: (destination) => fail("compose", destination.bucket),
    createMultipartUpload: (bucket) => fail("createMultipartUpload", bucket),
    uploadPart: (bucket) => fail("uploadPart", bucket),
    completeMultipartUpload: (bucket) => fail("completeMultipartUpload", bucket),
    abortMultipartUpload: (bucket) => fail("abortMultipartUpload", bucket),
    listIncompleteUploads: (bucket) => fail("listIncompleteUploads", bucket)
  }
}
