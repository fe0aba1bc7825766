/**
 * The settings of `the0-runtime execute` (docs/contracts.md, "In-pod env and files"): the0's environment variables and flags, plus our own
 * few (`THE0_*`) for what the0 hard-codes. `CODE_PATH`, `STATE_PATH` and `LOGS_PATH` use "set but empty is empty",
 * as Go's LookupEnv does.
 */
import { Data, Duration } from "effect"
import { type Env, envInt, type StorageSettings, storageSettings } from "./StorageSettings.ts"

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

const lookup = (env: Env, name: string, fallback: string): string => env[name] ?? fallback

export const defaultFlags: ExecuteFlags = {
  skipSync: false,
  skipQueryServer: false,
  queryServerOnly: false,
  skipDownload: false,
  query: ""
}

/** The settings, or the0's configuration error for the first missing required variable. */
export const executeSettings = (env: Env, flags: ExecuteFlags): ConfigurationError | ExecuteSettings => {
  for (const variable of ["BOT_ID", "RUNTIME", "ENTRYPOINT"]) {
    if ((env[variable] ?? "") === "") return new ConfigurationError({ variable })
  }
  const statePath = lookup(env, "STATE_PATH", "/state")
  const stateDir = env.STATE_DIR ?? ""
  return {
    botId: env.BOT_ID ?? "",
    runtime: env.RUNTIME ?? "",
    entrypoint: env.ENTRYPOINT ?? "",
    codeFile: env.CODE_FILE ?? "",
    botConfig: env.BOT_CONFIG ?? "",
    botType: env.BOT_TYPE ?? "",
    queryEntrypoint: env.QUERY_ENTRYPOINT ?? "",
    queryPath: flags.query !== "" ? flags.query : (env.QUERY_PATH ?? ""),
    queryParams: env.QUERY_PARAMS ?? "",
    queryResultKey: env.QUERY_RESULT_KEY ?? "",
    codePath: lookup(env, "CODE_PATH", "/bot"),
    statePath,
    logsPath: lookup(env, "LOGS_PATH", "/var/the0/logs"),
    isScheduled: env.IS_SCHEDULED === "true",
    stateDir: stateDir !== "" ? stateDir : `${statePath}/.the0-state`,
    flags,
    storage: storageSettings(env),
    wrappersDir: lookup(env, "THE0_WRAPPERS_DIR", "/app/wrappers"),
    queryDir: lookup(env, "THE0_QUERY_DIR", "/query"),
    doneFile: lookup(env, "THE0_DONE_FILE", "/var/the0/done"),
    stopGrace: Duration.seconds(envInt(env.THE0_STOP_GRACE_SECONDS, 15)),
    codeWait: Duration.seconds(60),
    env
  }
}
