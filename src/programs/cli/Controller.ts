/**
 * `the0-runtime controller`: the0's flags and env vars (docs/contracts.md, "Controller flags and environment") plus
 * ours, read into the settings of the controller process (programs/controller/App.ts), run on the backends the
 * composition root gives it.
 */

import { hostname } from "node:os"
import { Command } from "@effect/cli"
import { Config, Console, Data, Effect, Layer, Redacted } from "effect"
import * as App from "../controller/App.ts"
import type { ControllerSettings } from "../controller/ControllerSettings.ts"
import * as MinioCredentialsSource from "../controller/MinioCredentialsSource.ts"
import { settingsProblems } from "../query/QuerySettings.ts"
import { controllerOptions, integer, queryOptions, text } from "./SettingsOptions.ts"

/** Where the backends are: what the composition root needs to build the live layers. */
export interface BackendSettings {
  readonly mongoUri: string
  readonly natsUrl: string
  readonly kubeconfig: string
  readonly kubeQps: number
  readonly kubeBurst: number
  /** The controller's own MinIO endpoint: `--minio-endpoint` (or `MINIO_ENDPOINT`), the one bot Pods get too. */
  readonly minioEndpoint: string
  /** How many JetStream messages the durable consumer is handed ahead: ingest's concurrency. */
  readonly natsPrefetch: number
}

/**
 * The client-side limit of API requests by default: 1,000 Pods in 10 s. Beyond it the API server protects itself with
 * API Priority and Fairness, whose 429 answers the client honours (docs/operations.md, "API request pacing").
 */
export const kubeRateDefaults = { qps: 100, burst: 200 } as const

const options = {
  settings: controllerOptions,
  query: queryOptions,
  healthPort: integer("health-port", "HEALTH_PORT", 8080, "Port of /healthz, /readyz and /metrics"),
  mongoUri: text(
    "mongo-uri",
    "MONGO_URI",
    "mongodb://localhost:27017",
    "MongoDB connection string (any the driver accepts)"
  ),
  natsUrl: text("nats-url", "NATS_URL", "", "NATS server URL(s); empty: no event ingest, as in the0"),
  kubeconfig: text("kubeconfig", "KUBECONFIG", "", "kubeconfig outside a cluster; empty: the Pod's service account"),
  kubeQps: integer(
    "kube-qps",
    "KUBE_QPS",
    kubeRateDefaults.qps,
    "Client-side rate limit of Kubernetes API requests per second (429 answers slow us further)"
  ),
  kubeBurst: integer("kube-burst", "KUBE_BURST", kubeRateDefaults.burst, "Burst of that rate limit"),
  minioBucket: text(
    "minio-bucket",
    "MINIO_BUCKET",
    "the0-custom-bots",
    "Accepted for the0's Helm chart and ignored: the0 never uses it either (bot Pods use the0's bucket names)"
  )
}

/** Settings the controller cannot start with; the command prints the message and exits 1. */
export class ControllerSettingsError extends Data.TaggedError("ControllerSettingsError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** The MinIO credentials are env-only, as in the0 ("for security"), and required. */
const credentials = Effect.gen(function* () {
  const accessKey = yield* Config.redacted("MINIO_ACCESS_KEY").pipe(Config.withDefault(Redacted.make("")))
  const secretKey = yield* Config.redacted("MINIO_SECRET_KEY").pipe(Config.withDefault(Redacted.make("")))
  if (Redacted.value(accessKey) === "" || Redacted.value(secretKey) === "")
    return yield* new ControllerSettingsError({
      detail: "ERROR: MinIO credentials (MINIO_ACCESS_KEY, MINIO_SECRET_KEY) are required"
    })
  return { accessKey: Redacted.value(accessKey), secretKey: Redacted.value(secretKey) }
})

/** This Pod's name (the Downward API's `POD_NAME`), or the host name outside a Pod. */
const podName = Config.string("POD_NAME").pipe(
  Config.withDefault(""),
  Effect.map((name) => name || hostname())
)

export const command = (backends: (settings: BackendSettings) => App.Backends) =>
  Command.make("controller", options, (input) =>
    Effect.gen(function* () {
      const creds = yield* credentials
      yield* Effect.logDebug(`--minio-bucket ${JSON.stringify(input.minioBucket)} is accepted and not used, as in the0`)
      const problems = [
        ...settingsProblems({ ...input.query, manifest: input.settings.manifest }),
        ...(input.settings.ingestConcurrency >= 1 ? [] : ["--ingest-concurrency must be at least 1"]),
        ...(input.settings.workers >= 1 ? [] : ["--workers must be at least 1"])
      ]
      if (problems.length > 0)
        return yield* new ControllerSettingsError({ detail: `invalid settings: ${problems.join("; ")}` })
      const identity =
        input.settings.leaderElection.identity || `${hostname()}-${Math.random().toString(36).slice(2, 8)}`
      const backendSettings: BackendSettings = {
        mongoUri: input.mongoUri,
        natsUrl: input.natsUrl,
        kubeconfig: input.kubeconfig,
        kubeQps: input.kubeQps,
        kubeBurst: input.kubeBurst,
        minioEndpoint: input.settings.manifest.minioEndpoint,
        natsPrefetch: input.settings.ingestConcurrency
      }
      const namespace = input.settings.manifest.namespace
      // which Secret bot Pods read the MinIO credentials from is settled before anything starts
      const controller = Layer.unwrapEffect(
        Effect.gen(function* () {
          const source = yield* MinioCredentialsSource.resolve(
            input.settings.manifest.minioSecret,
            namespace,
            yield* podName
          )
          yield* Effect.logInfo(MinioCredentialsSource.describe(source))
          const manifest = { ...input.settings.manifest, minioSecret: source.secret }
          const settings: ControllerSettings = {
            ...input.settings,
            manifest,
            leaderElection: { ...input.settings.leaderElection, identity },
            ...(source._tag === "Owned" ? { ownedMinioCredentials: creds } : {})
          }
          const app: App.AppSettings = {
            settings,
            query: { ...input.query, manifest },
            healthPort: input.healthPort
          }
          yield* Effect.logInfo(
            `Starting the0 runtime controller: namespace ${namespace}, identity ${identity}, ` +
              `resync ${JSON.stringify(settings.resyncInterval)}, health :${app.healthPort}, query :${app.query.port}`
          )
          return App.layer(app)
        })
      )
      return yield* Layer.launch(controller.pipe(Layer.provide(backends(backendSettings))))
    }).pipe(
      Effect.catchIf(
        (error): error is ControllerSettingsError => error instanceof ControllerSettingsError,
        (error) =>
          Console.error(error.message).pipe(
            Effect.andThen(
              Effect.sync(() => {
                process.exitCode = 1
              })
            )
          )
      )
    )
  ).pipe(Command.withDescription("Run the controller manager (Kubernetes mode)"))
