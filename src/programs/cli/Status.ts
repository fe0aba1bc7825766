/**
 * `the0-runtime status [--bot ID] [--output table|json] [--all]`: what runs, what fails and why, the schedules'
 * runs, the leader, where event ingest stands and the roll-out, read once from the cluster, the store and NATS with
 * the controller's connection options (docs/operations.md, "`the0-runtime status`"). Exits 1 when either cannot be read.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Logger, LogLevel, Option } from "effect"
import type { BotStore } from "../../services/BotStore.ts"
import type { EventBus } from "../../services/EventBus.ts"
import type { KubeApi } from "../../services/KubeApi.ts"
import * as ControllerSettings from "../controller/ControllerSettings.ts"
import { gather, gatherBot, type StatusTarget } from "../status/Gather.ts"
import { renderReport } from "../status/ReportText.ts"
import { renderJson } from "../status/StatusJson.ts"
import { renderStory } from "../status/StoryText.ts"
import { kubeRateDefaults } from "./Controller.ts"
import { integer, text } from "./SettingsOptions.ts"

export interface StatusBackendSettings {
  readonly mongoUri: string
  readonly kubeconfig: string
  readonly kubeQps: number
  readonly kubeBurst: number
}

export interface StatusBackends {
  readonly cluster: (settings: StatusBackendSettings) => Layer.Layer<KubeApi | BotStore, unknown>
  /** The event bus at `--nats-url`, asked only where ingest stands. */
  readonly events: (natsUrl: string) => Layer.Layer<EventBus, unknown>
}

const d = ControllerSettings.defaults

const options = {
  bot: Options.text("bot").pipe(Options.withDescription("Tell one bot's story instead"), Options.optional),
  output: Options.choice("output", ["table", "json"]).pipe(
    Options.withAlias("o"),
    Options.withDescription("table for people, json for scripts"),
    Options.withDefault("table" as const)
  ),
  all: Options.boolean("all").pipe(Options.withDescription("List running bots and schedules on time too")),
  namespace: text("namespace", "NAMESPACE", d.manifest.namespace, "Namespace of bot Pods and CronJobs"),
  leaseName: text("lease-name", "LEASE_NAME", d.leaderElection.leaseName, "Lease used for leader election"),
  mongoUri: text("mongo-uri", "MONGO_URI", "mongodb://localhost:27017", "MongoDB connection string"),
  natsUrl: text("nats-url", "NATS_URL", "", "NATS server URL(s), to show where event ingest stands; empty: not shown"),
  kubeconfig: text("kubeconfig", "KUBECONFIG", "", "kubeconfig outside a cluster; empty: the Pod's service account"),
  kubeQps: integer("kube-qps", "KUBE_QPS", kubeRateDefaults.qps, "Client-side rate limit of Kubernetes API requests"),
  kubeBurst: integer("kube-burst", "KUBE_BURST", kubeRateDefaults.burst, "Burst of that rate limit")
}

/** stdout holds only the screen or the JSON: log lines go to stderr, and only warnings and errors. */
const logToStderr = Layer.mergeAll(
  Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
  Logger.replace(Logger.prettyLoggerDefault, Logger.withConsoleError(Logger.logfmtLogger)),
  Logger.minimumLogLevel(LogLevel.Warning)
)

const detail = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const command = (backends: StatusBackends) =>
  Command.make("status", options, (input) => {
    const target: StatusTarget = {
      namespace: input.namespace,
      leaseName: input.leaseName,
      ...(input.natsUrl === "" ? {} : { events: backends.events(input.natsUrl) })
    }
    const shown = Option.match(input.bot, {
      onNone: () =>
        Effect.flatMap(gather(target), (report) =>
          Console.log(input.output === "json" ? renderJson(report) : renderReport(report, { all: input.all }).trimEnd())
        ),
      onSome: (id) =>
        Effect.flatMap(gatherBot(target, id), (story) =>
          Console.log(input.output === "json" ? renderJson(story) : renderStory(story).trimEnd())
        )
    })
    return shown.pipe(
      Effect.provide(backends.cluster(input)),
      Effect.catchAll((error) =>
        Console.error(`status: cannot read the cluster or the store: ${detail(error)}`).pipe(
          Effect.andThen(
            Effect.sync(() => {
              process.exitCode = 1
            })
          )
        )
      ),
      Effect.provide(logToStderr)
    )
  }).pipe(
    Command.withDescription(
      "Show bots desired, running and failing with reasons, schedules, the leader and the roll-out"
    )
  )
