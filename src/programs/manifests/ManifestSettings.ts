/**
 * What the manifest generators need from the controller's configuration (docs/contracts.md, "Controller flags and environment", "Pod shapes"),
 * plus our own settings: the Secret that carries the MinIO credentials, the Pods' termination grace period and
 * the query Jobs' TTL.
 */

export type ImagePullPolicy = "Always" | "IfNotPresent" | "Never"

export const imagePullPolicies: ReadonlyArray<ImagePullPolicy> = ["Always", "IfNotPresent", "Never"]

/** The Secret bot Pods read the MinIO credentials from (through `secretKeyRef`), and its two keys. */
export interface MinioCredentialsSecret {
  readonly name: string
  readonly accessKeyKey: string
  readonly secretKeyKey: string
}

export interface ManifestSettings {
  /** `--namespace` / `NAMESPACE`. */
  readonly namespace: string
  /** `--runtime-image` / `RUNTIME_IMAGE`: the image of every container of every bot Pod. */
  readonly runtimeImage: string
  /** `--runtime-image-pull-policy` / `RUNTIME_IMAGE_PULL_POLICY`. */
  readonly imagePullPolicy: ImagePullPolicy
  /** `--minio-endpoint` / `MINIO_ENDPOINT`: `host:port`, no scheme. */
  readonly minioEndpoint: string
  /** `MINIO_USE_SSL`. */
  readonly minioUseSSL: boolean
  readonly minioSecret: MinioCredentialsSecret
  /** Time the final state and log sync has after SIGTERM. */
  readonly terminationGracePeriodSeconds: number
  /** `ttlSecondsAfterFinished` of query Jobs. */
  readonly queryJobTtlSeconds: number
}

/**
 * The Secret the controller maintains itself, from the credentials it was started with, when the operator names
 * none. Its keys are those of the0's Helm chart (`<release>-secrets`), so pointing `minioSecret.name` at the
 * chart's Secret needs no other change.
 */
export const controllerOwnedMinioSecret: MinioCredentialsSecret = {
  name: "the0-runtime-minio",
  accessKeyKey: "minio-access-key",
  secretKeyKey: "minio-secret-key"
}

export const defaults: ManifestSettings = {
  namespace: "the0",
  runtimeImage: "runtime:latest",
  imagePullPolicy: "IfNotPresent",
  minioEndpoint: "minio:9000",
  minioUseSSL: false,
  minioSecret: controllerOwnedMinioSecret,
  terminationGracePeriodSeconds: 60,
  queryJobTtlSeconds: 300
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const secretKey = /^[-._a-zA-Z0-9]+$/

const isNonNegativeInt = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/**
 * What is wrong with these settings, as messages naming the setting; empty when they are usable. Meant for the
 * configuration layer, so that a bad setting stops the controller at startup instead of failing every bot.
 */
export const settingsProblems = (settings: ManifestSettings): ReadonlyArray<string> => {
  const problems: Array<string> = []
  if (!(settings.namespace.length <= 63 && dns1123Label.test(settings.namespace)))
    problems.push(`namespace ${JSON.stringify(settings.namespace)} is not a DNS-1123 label`)
  if (settings.runtimeImage.trim() === "") problems.push("runtimeImage is required")
  if (!imagePullPolicies.includes(settings.imagePullPolicy))
    problems.push(`imagePullPolicy must be one of ${imagePullPolicies.join(", ")}`)
  if (settings.minioEndpoint.trim() === "") problems.push("minioEndpoint is required")
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(settings.minioEndpoint))
    problems.push("minioEndpoint must be host:port, without a scheme")
  const { name, accessKeyKey, secretKeyKey } = settings.minioSecret
  if (!(name.length <= 253 && dns1123Subdomain.test(name)))
    problems.push(`minioSecret.name ${JSON.stringify(name)} is not a DNS-1123 subdomain`)
  for (const [setting, key] of [
    ["minioSecret.accessKeyKey", accessKeyKey],
    ["minioSecret.secretKeyKey", secretKeyKey]
  ] as const)
    if (!(key.length <= 253 && secretKey.test(key)))
      problems.push(`${setting} ${JSON.stringify(key)} is not a valid key`)
  if (accessKeyKey === secretKeyKey) problems.push("minioSecret.accessKeyKey and secretKeyKey must differ")
  if (!isNonNegativeInt(settings.terminationGracePeriodSeconds))
    problems.push("terminationGracePeriodSeconds must be a non-negative integer")
  if (!isNonNegativeInt(settings.queryJobTtlSeconds)) problems.push("queryJobTtlSeconds must be a non-negative integer")
  return problems
}
