/**
 * The settings of `the0-runtime execute` (docs/contracts.md, "In-pod env and files"): the0's environment variables and flags, plus our own
 * few (`THE0_*`) for what the0 hard-codes, read through the ConfigProvider (the environment in a Pod). `CODE_PATH`,
 * `STATE_PATH` and `LOGS_PATH` use "set but empty is empty", as Go's LookupEnv does.
 */
import { Config, Data, Duration, Effect } from "effect"
import { type Env, envInt, type StorageSettings, storageSettings, variable } from "./StorageSettings.ts"

export class ConfigurationError extends Data.TaggedError("ConfigurationError")<{ readonly variable: string }> {
  override get message(): string {
    return `${this.variable} environment variable is required`
  }
}

export interface ExecuteFlags {
  readonly skipSync: boolean
  readonly skipQueryServer: boolean
  readonly queryServerOnly: boolean
  /**
   * `--skip-download` (ours): the code and state are already on the volumes, restored by the Pod's `restore` init
   * container, and this container has no object-store credentials (docs/operations.md, "MinIO credentials").
   */
  readonly skipDownload: boolean
  /** `--query`: overrides `QUERY_PATH` when non-empty. */
  readonly query: string
}

export interface ExecuteSettings {
  readonly botId: string
  readonly runtime: string
  readonly entrypoint: string
  readonly codeFile: string
  readonly botConfig: string
  readonly botType: string
  readonly queryEntrypoint: string
  readonly queryPath: string
  readonly queryParams: string
  readonly queryResultKey: string
  readonly codePath: string
  readonly statePath: string
  readonly logsPath: string
  readonly isScheduled: boolean
  readonly stateDir: string
  readonly flags: ExecuteFlags
  readonly storage: StorageSettings
  /** Where the wrappers live (`THE0_WRAPPERS_DIR`, default `/app/wrappers`). */
  readonly wrappersDir: string
  /** Where a one-shot query writes `result.json` (`THE0_QUERY_DIR`, default `/query`, the SDKs' path). */
  readonly queryDir: string
  /** The scheduled "done" marker (`THE0_DONE_FILE`, default `/var/the0/done`). */
  readonly doneFile: string
  /** How long a stopped bot gets between SIGTERM and SIGKILL (`THE0_STOP_GRACE_SECONDS`, default 15). */
  readonly stopGrace: Duration.Duration
  /** How long the query sidecar waits for the bot container's code (60 s, as the0). */
  readonly codeWait: Duration.Duration
  /** The environment the runtime itself was started with; the children's is derived from it. */
  readonly env: Env
}

/** Go's `LookupEnv` with a fallback: set but empty is empty. */
const lookup = (name: string, fallback: string): Config.Config<string> =>
  Config.string(name).pipe(Config.withDefault(fallback))

export const defaultFlags: ExecuteFlags = {
  skipSync: false,
  skipQueryServer: false,
  queryServerOnly: false,
  skipDownload: false,
  query: ""
}

/** A required variable: unset or empty fails with the0's message naming it. */
const required = (name: string): Effect.Effect<string, ConfigurationError> =>
  Effect.flatMap(Effect.orDie(variable(name)), (value) =>
    value === "" ? Effect.fail(new ConfigurationError({ variable: name })) : Effect.succeed(value)
  )

/**
 * The settings, or the0's configuration error for the first missing required variable. `env` is the environment the
 * children's is derived from (the whole of it, so it is passed in, not read variable by variable).
 */
export const executeSettings = (flags: ExecuteFlags, env: Env): Effect.Effect<ExecuteSettings, ConfigurationError> =>
  Effect.gen(function* () {
    const botId = yield* required("BOT_ID")
    const runtime = yield* required("RUNTIME")
    const entrypoint = yield* required("ENTRYPOINT")
    const optional = yield* Effect.orDie(
      Config.all({
        codeFile: variable("CODE_FILE"),
        botConfig: variable("BOT_CONFIG"),
        botType: variable("BOT_TYPE"),
        queryEntrypoint: variable("QUERY_ENTRYPOINT"),
        queryPath: variable("QUERY_PATH"),
        queryParams: variable("QUERY_PARAMS"),
        queryResultKey: variable("QUERY_RESULT_KEY"),
        codePath: lookup("CODE_PATH", "/bot"),
        statePath: lookup("STATE_PATH", "/state"),
        logsPath: lookup("LOGS_PATH", "/var/the0/logs"),
        isScheduled: Config.map(variable("IS_SCHEDULED"), (value) => value === "true"),
        stateDir: variable("STATE_DIR"),
        storage: storageSettings,
        wrappersDir: lookup("THE0_WRAPPERS_DIR", "/app/wrappers"),
        queryDir: lookup("THE0_QUERY_DIR", "/query"),
        doneFile: lookup("THE0_DONE_FILE", "/var/the0/done"),
        stopGrace: Config.map(envInt("THE0_STOP_GRACE_SECONDS", 15), Duration.seconds)
      })
    )
    return {
      ...optional,
      botId,
      runtime,
      entrypoint,
      queryPath: flags.query !== "" ? flags.query : optional.queryPath,
      stateDir: optional.stateDir !== "" ? optional.stateDir : `${optional.statePath}/.the0-state`,
      flags,
      codeWait: Duration.seconds(60),
      env
    }
  })
