/**
 * MinIO settings from the environment (the ConfigProvider), as the0 reads them (docs/contracts.md, "MinIO buckets and keys"): `MINIO_ENDPOINT` (`host:port`, no
 * scheme), `MINIO_ACCESS_KEY`, `MINIO_SECRET_KEY` (required, checked in that order, with the0's messages) and
 * `MINIO_USE_SSL` (only `true` enables TLS); and the store that stands in when they are missing.
 */
import { Config, Data, Effect, Stream } from "effect"
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

/** A variable's value, `""` when unset; string settings cannot be invalid, so a ConfigError is a defect. */
const variable = (name: string): Effect.Effect<string> => Effect.orDie(Config.string(name).pipe(Config.withDefault("")))

/** A required variable: unset or empty fails with the0's message (`MINIO_ENDPOINT is required`). */
const required = (name: string): Effect.Effect<string, MinioConfigError> =>
  Effect.filterOrFail(
    variable(name),
    (value) => value !== "",
    () => new MinioConfigError({ detail: `${name} is required` })
  )

/**
 * Reads the settings, as the0's `LoadConfigFromEnv` does: the required ones in its order, `endpoint` instead of
 * `MINIO_ENDPOINT` when given (the controller's `--minio-endpoint`).
 */
export const readConfig = (endpoint?: string): Effect.Effect<MinioConfig, MinioConfigError> =>
  Effect.gen(function* () {
    const endpointSetting =
      endpoint === undefined
        ? yield* required("MINIO_ENDPOINT")
        : endpoint === ""
          ? yield* new MinioConfigError({ detail: "MINIO_ENDPOINT is required" })
          : endpoint
    const accessKey = yield* required("MINIO_ACCESS_KEY")
    const secretKey = yield* required("MINIO_SECRET_KEY")
    const useSSL = (yield* variable("MINIO_USE_SSL")) === "true"
    const region = yield* variable("MINIO_REGION")
    return { endpoint: endpointSetting, accessKey, secretKey, useSSL, ...(region === "" ? {} : { region }) }
  })

/** The settings from the environment (the ConfigProvider). */
export const configFromEnv: Effect.Effect<MinioConfig, MinioConfigError> = readConfig()

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
