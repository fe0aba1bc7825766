/**
 * Controller settings as CLI options: the0's flags and env vars (docs/contracts.md, "Controller flags and environment") plus our own, each with
 * a flag, an env var and a default shown in `--help`. Shared by `controller` and `render`, so `render` prints
 * exactly what a controller started with the same settings creates.
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Config, Duration, Effect, Option } from "effect"
import * as ControllerSettings from "../controller/ControllerSettings.ts"
import { type ImagePullPolicy, imagePullPolicies, type ManifestSettings } from "../manifests/ManifestSettings.ts"
import * as QuerySettings from "../query/QuerySettings.ts"

const d = ControllerSettings.defaults
const m = d.manifest

export const text = (name: string, env: string, fallback: string, description: string) =>
  Options.text(name).pipe(
    Options.withFallbackConfig(Config.string(env).pipe(Config.withDefault(fallback))),
    Options.withDescription(`${description} (env ${env}, default ${JSON.stringify(fallback)})`)
  )

export const integer = (name: string, env: string, fallback: number, description: string) =>
  Options.integer(name).pipe(
    Options.withFallbackConfig(Config.integer(env).pipe(Config.withDefault(fallback))),
    Options.withDescription(`${description} (env ${env}, default ${fallback})`)
  )

export const flag = (name: string, env: string, description: string) =>
  Options.boolean(name).pipe(
    Options.withFallbackConfig(Config.boolean(env).pipe(Config.withDefault(false))),
    Options.withDescription(`${description} (env ${env}, default false)`)
  )

/** A Go-style duration (`30s`, `1m30s`, `500ms`) or an Effect one (`30 seconds`). */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const go = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text.trim())
  if (!go) return Duration.decodeUnknown(text)
  let millis = 0
  for (const [, amount, unit] of text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    millis += Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"]
  return millis > 0 ? Option.some(Duration.millis(millis)) : Option.none()
}

export const duration = (name: string, env: string, fallback: string, description: string) =>
  text(name, env, fallback, description).pipe(
    Options.mapEffect((value) =>
      Option.match(parseDuration(value), {
        onNone: () => Effect.fail(invalid(`--${name}`, `${JSON.stringify(value)} is not a duration (e.g. 30s, 1m)`)),
        onSome: Effect.succeed
      })
    )
  )

const invalid = (field: string, message: string) => ValidationError.invalidValue(HelpDoc.p(`${field}: ${message}`))

const pullPolicy = text(
  "runtime-image-pull-policy",
  "RUNTIME_IMAGE_PULL_POLICY",
  m.imagePullPolicy,
  `Image pull policy of bot Pods: ${imagePullPolicies.join(", ")}`
).pipe(
  Options.mapEffect((value) =>
    imagePullPolicies.includes(value as ImagePullPolicy)
      ? Effect.succeed(value as ImagePullPolicy)
      : Effect.fail(
          invalid(
            "--runtime-image-pull-policy",
            `${JSON.stringify(value)} is not one of ${imagePullPolicies.join(", ")}`
          )
        )
  )
)

const useSsl = Options.boolean("minio-use-ssl").pipe(
  Options.withFallbackConfig(
    Config.string("MINIO_USE_SSL").pipe(
      Config.map((v) => v === "true"),
      Config.withDefault(false)
    )
  ),
  Options.withDescription(
    'TLS to MinIO; as in the0 only the literal "true" enables it (env MINIO_USE_SSL, default false)'
  )
)

export const manifestOptions: Options.Options<ManifestSettings> = Options.all({
  namespace: text("namespace", "NAMESPACE", m.namespace, "Namespace of bot Pods and CronJobs"),
  runtimeImage: text("runtime-image", "RUNTIME_IMAGE", m.runtimeImage, "Image of every bot container"),
  imagePullPolicy: pullPolicy,
  minioEndpoint: text("minio-endpoint", "MINIO_ENDPOINT", m.minioEndpoint, "MinIO host:port, no scheme"),
  minioUseSSL: useSsl,
  minioSecretName: text(
    "minio-secret-name",
    "MINIO_SECRET_NAME",
    m.minioSecret.name,
    "Secret holding the MinIO credentials bot Pods read"
  ),
  accessKeyKey: text(
    "minio-secret-access-key-key",
    "MINIO_SECRET_ACCESS_KEY_KEY",
    m.minioSecret.accessKeyKey,
    "Key of the access key in that Secret"
  ),
  secretKeyKey: text(
    "minio-secret-secret-key-key",
    "MINIO_SECRET_SECRET_KEY_KEY",
    m.minioSecret.secretKeyKey,
    "Key of the secret key in that Secret"
  ),
  terminationGracePeriodSeconds: integer(
    "termination-grace-period",
    "TERMINATION_GRACE_PERIOD_SECONDS",
    m.terminationGracePeriodSeconds,
    "Seconds a bot Pod gets to stop and sync before it is killed"
  ),
  queryJobTtlSeconds: integer(
    "query-job-ttl",
    "QUERY_JOB_TTL_SECONDS",
    m.queryJobTtlSeconds,
    "ttlSecondsAfterFinished of query Jobs (a backstop)"
  )
}).pipe(
  Options.map(({ minioSecretName, accessKeyKey, secretKeyKey, ...rest }) => ({
    ...rest,
    minioSecret: { name: minioSecretName, accessKeyKey, secretKeyKey }
  }))
)

export const controllerOptions: Options.Options<ControllerSettings.ControllerSettings> = Options.all({
  manifest: manifestOptions,
  resyncInterval: duration(
    "reconcile-interval",
    "RECONCILE_INTERVAL",
    "30s",
    "Full resync interval, the safety net behind events and watches"
  ),
  workers: integer("workers", "WORKERS", d.workers, "Reconcile workers per controller"),
  ingestConcurrency: integer(
    "ingest-concurrency",
    "INGEST_CONCURRENCY",
    d.ingestConcurrency,
    "Events applied at once (each bot's still in publish order); also how many JetStream delivers ahead"
  ),
  rollLimit: integer(
    "roll-limit",
    "ROLL_LIMIT",
    d.rollLimit,
    "Pods recreated at once for a template-only change or to replace Pods made by the0's controller"
  ),
  allowMassDelete: flag(
    "allow-mass-delete",
    "ALLOW_MASS_DELETE",
    "Let a resync delete more than max(10, 50%) of the managed objects"
  ),
  watchdog: duration(
    "watch-timeout",
    "WATCH_TIMEOUT",
    "90s",
    "A watch silent this long is restarted from a fresh list"
  ),
  leaseName: text("lease-name", "LEASE_NAME", d.leaderElection.leaseName, "Lease used for leader election"),
  identity: text(
    "identity",
    "POD_NAME",
    "",
    "This replica's identity in the Lease (default: hostname plus a random suffix)"
  ),
  leaseDuration: duration("lease-duration", "LEASE_DURATION", "15s", "Leader election lease duration"),
  renewDeadline: duration(
    "renew-deadline",
    "RENEW_DEADLINE",
    "10s",
    "Leader gives up when it could not renew for this long"
  ),
  retryPeriod: duration("retry-period", "RETRY_PERIOD", "2s", "Leader election retry period")
}).pipe(
  Options.map(({ leaseName, identity, leaseDuration, renewDeadline, retryPeriod, ...rest }) => ({
    ...rest,
    leaderElection: { leaseName, identity, leaseDuration, renewDeadline, retryPeriod }
  }))
)

const q = QuerySettings.defaults

/** The QueryServer's settings; `manifest` is the controller's and is filled in by the caller. */
export const queryOptions: Options.Options<QuerySettings.QuerySettings> = Options.all({
  port: integer("query-port", "QUERY_SERVER_PORT", q.port, "Port of the QueryServer (POST /query, GET /health)"),
  host: text(
    "query-host",
    "QUERY_SERVER_HOST",
    q.host,
    "Interface the QueryServer binds (empty: every interface, IPv6 and IPv4)"
  ),
  maxBodyBytes: integer(
    "query-max-body-bytes",
    "QUERY_MAX_BODY_BYTES",
    q.maxBodyBytes,
    "Larger request bodies get 413"
  ),
  maxJobsInFlight: integer(
    "query-max-jobs",
    "QUERY_MAX_JOBS_IN_FLIGHT",
    q.maxJobsInFlight,
    "Ephemeral query Jobs at once; one more gets 429"
  ),
  defaultTimeoutSec: integer(
    "query-default-timeout",
    "QUERY_DEFAULT_TIMEOUT_SEC",
    q.defaultTimeoutSec,
    "timeout_sec when a request has none"
  ),
  maxTimeoutSec: integer("query-max-timeout", "QUERY_MAX_TIMEOUT_SEC", q.maxTimeoutSec, "Largest timeout_sec honoured"),
  authToken: Options.text("query-auth-token").pipe(
    Options.withFallbackConfig(Config.string("QUERY_AUTH_TOKEN")),
    Options.optional,
    Options.map(Option.getOrUndefined),
    Options.withDescription(
      "Bearer token every QueryServer route but /health requires (env QUERY_AUTH_TOKEN, default: no auth)"
    )
  ),
  maxResultBytes: integer(
    "query-max-result-bytes",
    "QUERY_MAX_RESULT_BYTES",
    q.maxResultBytes,
    "Largest bot answer accepted"
  ),
  cleanupTimeoutSec: integer(
    "query-cleanup-timeout",
    "QUERY_CLEANUP_TIMEOUT_SEC",
    q.cleanupTimeoutSec,
    "Time for each cleanup step"
  ),
  failureLogTailLines: integer(
    "query-log-lines",
    "QUERY_FAILURE_LOG_LINES",
    q.failureLogTailLines,
    "Log lines returned when a query Job fails"
  )
}).pipe(Options.map((settings) => ({ ...settings, checkHost: q.checkHost, manifest: q.manifest })))
