/**
 * The pieces every generated bot Pod shares (docs/contracts.md, "Pod shapes", "Query Job"): security contexts, the five emptyDir
 * volumes and their mounts, the environment (rows 1-9; the MinIO variables, whose credentials come from a Secret
 * through `secretKeyRef`, only for the `restore` init container and the sidecars), resources with the per-bot
 * overrides, the containers that talk to the object store, and the Pod-level settings.
 */
import { Either } from "effect"
import type { Container, EnvVar, PodSpec, ResourceRequirements, SecurityContext, Volume } from "../../domain/Kube.ts"
import { sanitizeLabelValue } from "../../domain/Labels.ts"
import type { BotSpec } from "./BotSpec.ts"
import { goJson } from "./Fingerprint.ts"
import { ManifestError } from "./ManifestError.ts"
import type { ManifestSettings } from "./ManifestSettings.ts"

type VolumeMount = NonNullable<Container["volumeMounts"]>[number]

export const runtimeBinary = "/app/runtime"
export const syncReadinessPort = 8079

/** The names of the containers of the generated Pods, and of the `query-server` container's port. */
export const ContainerName = {
  restore: "restore",
  sync: "sync",
  result: "result",
  bot: "bot",
  queryServer: "query-server"
} as const
export const queryPortName = "query"

/** A label value the API server accepts: valid values are kept, others sanitised; `""` stays `""`. */
export const labelValue = (value: string): string => (value === "" ? "" : sanitizeLabelValue(value))

export const podSecurityContext: SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  seccompProfile: { type: "RuntimeDefault" }
}

export const containerSecurityContext: SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] }
}

/** The five volumes, in the0's order, and where each is mounted. */
export const standardMounts: ReadonlyArray<VolumeMount> = [
  { name: "bot-code", mountPath: "/bot" },
  { name: "bot-state", mountPath: "/state" },
  { name: "the0", mountPath: "/var/the0" },
  { name: "tmp", mountPath: "/tmp" },
  { name: "query", mountPath: "/query" }
]

export const volumes: ReadonlyArray<Volume> = standardMounts.map(({ name }) => ({ name, emptyDir: {} }))

const mountsOf = (...names: ReadonlyArray<string>): ReadonlyArray<VolumeMount> =>
  standardMounts.filter(({ name }) => names.includes(name))

/** The sync sidecar mounts only the state and `/var/the0` (logs, done file). */
export const syncMounts: ReadonlyArray<VolumeMount> = mountsOf("bot-state", "the0")

/** The `restore` init container writes the code and the state. */
export const restoreMounts: ReadonlyArray<VolumeMount> = mountsOf("bot-code", "bot-state")

/** The query Job's `result` sidecar reads `/query/result.json`. */
export const resultMounts: ReadonlyArray<VolumeMount> = mountsOf("query")

/** `MINIO_ENDPOINT`, `MINIO_ACCESS_KEY`, `MINIO_SECRET_KEY`, `MINIO_USE_SSL`; the keys from the Secret. */
export const minioEnv = (settings: ManifestSettings): ReadonlyArray<EnvVar> => [
  { name: "MINIO_ENDPOINT", value: settings.minioEndpoint },
  {
    name: "MINIO_ACCESS_KEY",
    valueFrom: { secretKeyRef: { name: settings.minioSecret.name, key: settings.minioSecret.accessKeyKey } }
  },
  {
    name: "MINIO_SECRET_KEY",
    valueFrom: { secretKeyRef: { name: settings.minioSecret.name, key: settings.minioSecret.secretKeyKey } }
  },
  { name: "MINIO_USE_SSL", value: settings.minioUseSSL ? "true" : "false" }
]

/** The first nine variables of a bot container (docs/contracts.md, "In-pod env and files"), with `entrypoint` as `ENTRYPOINT`. `BOT_CONFIG` is Go's JSON of `config` (sorted keys). */
export const baseEnv = (spec: BotSpec, entrypoint: string): ReadonlyArray<EnvVar> => [
  { name: "BOT_ID", value: spec.id },
  { name: "CODE_FILE", value: spec.filePath },
  { name: "RUNTIME", value: spec.runtime },
  { name: "ENTRYPOINT", value: entrypoint },
  { name: "BOT_CONFIG", value: goJson(spec.config) },
  { name: "CODE_PATH", value: "/bot" },
  { name: "STATE_PATH", value: "/state" },
  { name: "LOGS_PATH", value: "/var/the0/logs" },
  { name: "STATE_DIR", value: "/state/.the0-state" }
]

const quantityPattern = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/

const suffixFactor: Readonly<Record<string, number>> = {
  "": 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18
}

/**
 * The value of a Kubernetes resource quantity (`768Mi`, `500m`, `1e3`), or `undefined` when it is not one the
 * API server accepts for a request or limit (unparseable, negative, or beyond its int64 range).
 */
export const quantityValue = (text: unknown): number | undefined => {
  if (typeof text !== "string") return undefined
  const match = quantityPattern.exec(text)
  if (match === null) return undefined
  const suffix = match[2] ?? ""
  const factor = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : suffixFactor[suffix]
  const value = factor === undefined ? Number.NaN : Number(match[1]) * factor
  return Number.isFinite(value) && value <= 2 ** 63 ? value : undefined
}

export const defaultBotResources = {
  limits: { memory: "768Mi", cpu: "500m" },
  requests: { memory: "256Mi", cpu: "100m" }
} as const

export const syncResources: ResourceRequirements = {
  limits: { memory: "128Mi", cpu: "100m" },
  requests: { memory: "64Mi", cpu: "10m" }
}

export const queryServerResources: ResourceRequirements = {
  limits: { memory: "128Mi", cpu: "200m" },
  requests: { memory: "32Mi", cpu: "10m" }
}

/** `config[key]` when it is a valid quantity, else the default (the0 falls back silently, and so do we). */
const override = (spec: BotSpec, key: string, fallback: string): string => {
  const value = spec.config?.[key]
  return typeof value === "string" && quantityValue(value) !== undefined ? value : fallback
}

/**
 * The bot container's resources: `config.memory_limit`, `cpu_limit`, `memory_request`, `cpu_request` over the
 * defaults. A request above its limit, which the API server refuses, is an error on the request's field.
 */
export const botResources = (spec: BotSpec): Either.Either<ResourceRequirements, ManifestError> => {
  const { limits, requests } = defaultBotResources
  const resources = {
    limits: { memory: override(spec, "memory_limit", limits.memory), cpu: override(spec, "cpu_limit", limits.cpu) },
    requests: {
      memory: override(spec, "memory_request", requests.memory),
      cpu: override(spec, "cpu_request", requests.cpu)
    }
  }
  for (const resource of ["memory", "cpu"] as const) {
    const request = resources.requests[resource]
    const limit = resources.limits[resource]
    if ((quantityValue(request) ?? 0) > (quantityValue(limit) ?? 0))
      return Either.left(
        new ManifestError({
          botId: spec.id,
          field: `config.${resource}_request`,
          message: `${resource} request ${JSON.stringify(request)} must be less than or equal to the ${resource} limit ${JSON.stringify(limit)}`
        })
      )
  }
  return Either.right(resources)
}

/** A container running the runtime image with the0's security context. */
export const runtimeContainer = (
  settings: ManifestSettings,
  container: Omit<Container, "image" | "imagePullPolicy" | "securityContext">
): Container => {
  const { name, ...rest } = container
  return {
    name,
    image: settings.runtimeImage,
    imagePullPolicy: settings.imagePullPolicy,
    ...rest,
    securityContext: containerSecurityContext
  }
}

/**
 * The command of every `bot` and `query-server` container: the0's `execute` flags (`mode`) and `--skip-download`,
 * since the `restore` init container has put the code and state on the volumes and only it and the sidecar hold
 * the object-store credentials (docs/operations.md, "MinIO credentials").
 */
export const executeCommand = (...mode: ReadonlyArray<string>): ReadonlyArray<string> => [
  runtimeBinary,
  "execute",
  ...mode,
  "--skip-download"
]

/** The startup probe of a sidecar on `syncReadinessPort`: the main containers start once it answers 200. */
const sidecarStartupProbe: Container["startupProbe"] = {
  httpGet: { path: "/readyz", port: syncReadinessPort },
  initialDelaySeconds: 0,
  periodSeconds: 1,
  failureThreshold: 30
}

/**
 * The `restore` init container (`daemon restore`): downloads the code and restores the state before any other
 * container starts, with the bot's resources (it did this inside the bot container before) and the credentials.
 */
export const restoreContainer = (
  settings: ManifestSettings,
  spec: BotSpec,
  resources: ResourceRequirements
): Container =>
  runtimeContainer(settings, {
    name: ContainerName.restore,
    command: [runtimeBinary, "daemon", "restore"],
    args: ["--bot-id", spec.id, "--code-path", "/bot", "--state-path", "/state", "--code-file", spec.filePath],
    env: minioEnv(settings),
    resources,
    volumeMounts: restoreMounts
  })

/**
 * The native `sync` sidecar (`daemon sync`) of realtime Pods and scheduled runs: uploads state and logs while the
 * bot runs and once more when the kubelet stops it, after the main containers have ended.
 */
export const syncSidecar = (settings: ManifestSettings, botId: string): Container =>
  runtimeContainer(settings, {
    name: ContainerName.sync,
    command: [runtimeBinary, "daemon", "sync"],
    args: [
      "--bot-id",
      botId,
      "--state-path",
      "/state",
      "--logs-path",
      "/var/the0/logs",
      "--readiness-port",
      String(syncReadinessPort)
    ],
    env: minioEnv(settings),
    resources: syncResources,
    volumeMounts: syncMounts,
    startupProbe: sidecarStartupProbe,
    restartPolicy: "Always"
  })

/** The native `result` sidecar of a query Job (`daemon query-result`): uploads `/query/result.json` when stopped. */
export const resultSidecar = (settings: ManifestSettings, resultKey: string): Container =>
  runtimeContainer(settings, {
    name: ContainerName.result,
    command: [runtimeBinary, "daemon", "query-result"],
    args: ["--result-key", resultKey, "--query-dir", "/query", "--readiness-port", String(syncReadinessPort)],
    env: minioEnv(settings),
    resources: syncResources,
    volumeMounts: resultMounts,
    startupProbe: sidecarStartupProbe,
    restartPolicy: "Always"
  })

/** The Pod-level part of every bot PodSpec: no service-account token, a grace period for the final sync. */
export const podSpec = (
  settings: ManifestSettings,
  restartPolicy: "Always" | "Never",
  containers: Pick<PodSpec, "initContainers" | "containers">
): PodSpec => ({
  restartPolicy,
  automountServiceAccountToken: false,
  terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
  securityContext: podSecurityContext,
  ...containers,
  volumes
})
