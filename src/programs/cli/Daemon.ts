/**
 * `the0-runtime daemon sync --bot-id ID [--state-path] [--logs-path] [--interval] [--watch-done] [--readiness-port]`,
 * the0's sync sidecar (docs/contracts.md, "Runtime commands"); and ours (docs/operations.md, "MinIO credentials"): `daemon restore
 * --bot-id ID [--code-path] [--state-path] [--code-file]`, the Pods' `restore` init container (the0's legacy
 * `daemon init` stays refused), and `daemon query-result --result-key KEY [--query-dir] [--readiness-port]`, the
 * query Jobs' `result` sidecar. `/readyz` listens on every interface, or on `THE0_READINESS_HOST` when set (`dev`
 * sets it to its Pod IP, 127.0.0.1). `sync` exits 0 after the final sync; each exits 1 with `Error: <err>` when it
 * fails (e.g. `MINIO_ENDPOINT is required`).
 */
import { Command, Options } from "@effect/cli"
import { Config, Data, Effect } from "effect"
import { everyInterface } from "../ListenAddress.ts"
import { daemonRestore } from "../runtime/DaemonRestore.ts"
import { daemonSync, parseGoDuration } from "../runtime/DaemonSync.ts"
import { daemonQueryResult } from "../runtime/QueryResultSidecar.ts"
import { storageSettings } from "../runtime/StorageSettings.ts"
import { runToExit } from "./ProcessExit.ts"

/** `--interval` that is not a Go duration. */
class InvalidInterval extends Data.TaggedError("InvalidInterval")<{ readonly value: string }> {
  override get message(): string {
    return `invalid --interval ${JSON.stringify(this.value)}`
  }
}

/** `/readyz` and `/healthz` of `sync` and `query-result`. */
const readinessPort = Options.integer("readiness-port").pipe(
  Options.withDefault(0),
  Options.withDescription("Serve /readyz and /healthz on this port (0: off)")
)

/**
 * The daemons' settings from the environment (the ConfigProvider): each has a default, so reading one cannot fail
 * and a ConfigError would be a defect.
 */
const storage = Effect.orDie(storageSettings)
/** Where `/readyz` listens: `THE0_READINESS_HOST`, or every interface. */
const readinessHost = Effect.orDie(Config.string("THE0_READINESS_HOST").pipe(Config.withDefault(everyInterface)))

/**
 * The edge of a daemon: success exits 0; a failure is logged, printed as `Error: <message>` on stderr (as the0's
 * daemon does) and exits 1.
 */
const exitCode = <R>(program: Effect.Effect<void, { readonly message: string }, R>): Effect.Effect<number, never, R> =>
  program.pipe(
    Effect.as(0),
    Effect.catchAll((error) =>
      Effect.as(
        Effect.zipRight(
          Effect.logError(error.message),
          Effect.sync(() => process.stderr.write(`Error: ${error.message}\n`))
        ),
        1
      )
    )
  )

const syncOptions = {
  botId: Options.text("bot-id").pipe(Options.withDescription("The bot whose state and logs to sync (required)")),
  statePath: Options.text("state-path").pipe(Options.withDefault("/state"), Options.withDescription("State directory")),
  logsPath: Options.text("logs-path").pipe(
    Options.withDefault("/var/the0/logs"),
    Options.withDescription("Directory of bot.log")
  ),
  interval: Options.text("interval").pipe(
    Options.withDefault("60s"),
    Options.withDescription("Periodic sync interval, a Go duration")
  ),
  watchDone: Options.text("watch-done").pipe(
    Options.withDefault(""),
    Options.withDescription("Stop after a final sync when this file appears")
  ),
  readinessPort
}

const sync = Command.make("sync", syncOptions, (options) =>
  runToExit((stopRequested) =>
    exitCode(
      Effect.gen(function* () {
        const interval = parseGoDuration(options.interval)
        if (interval === undefined) return yield* new InvalidInterval({ value: options.interval })
        yield* daemonSync(
          {
            botId: options.botId,
            statePath: options.statePath,
            logsPath: options.logsPath,
            interval,
            watchDone: options.watchDone,
            readinessPort: options.readinessPort,
            readinessHost: yield* readinessHost,
            storage: yield* storage
          },
          stopRequested
        )
      })
    )
  )
).pipe(Command.withDescription("Sync the state directory and bot.log to object storage (the sync sidecar)"))

const restoreOptions = {
  botId: Options.text("bot-id").pipe(Options.withDescription("The bot whose code and state to restore (required)")),
  codePath: Options.text("code-path").pipe(Options.withDefault("/bot"), Options.withDescription("Code directory")),
  statePath: Options.text("state-path").pipe(Options.withDefault("/state"), Options.withDescription("State directory")),
  codeFile: Options.text("code-file").pipe(
    Options.withDefault(""),
    Options.withDescription("The code archive's key in the code bucket (empty: no code download)")
  )
}

const restore = Command.make("restore", restoreOptions, (options) =>
  runToExit(() => exitCode(Effect.flatMap(storage, (settings) => daemonRestore({ ...options, storage: settings }))))
).pipe(Command.withDescription("Download the code and restore the state (the Pods' restore init container)"))

const queryResultOptions = {
  resultKey: Options.text("result-key").pipe(
    Options.withDescription("Where in the query-results bucket to upload result.json (required)")
  ),
  queryDir: Options.text("query-dir").pipe(
    Options.withDefault("/query"),
    Options.withDescription("Directory of the query's result.json")
  ),
  readinessPort
}

const queryResult = Command.make("query-result", queryResultOptions, (options) =>
  runToExit((stopRequested) =>
    exitCode(
      Effect.gen(function* () {
        const { queryResultsBucket } = yield* storage
        yield* daemonQueryResult(
          { ...options, bucket: queryResultsBucket, readinessHost: yield* readinessHost },
          stopRequested
        )
      })
    )
  )
).pipe(Command.withDescription("Upload a query Job's result.json when stopped (the query Job's result sidecar)"))

export const command = Command.make("daemon").pipe(
  Command.withDescription("In-Pod daemons"),
  Command.withSubcommands([sync, restore, queryResult])
)
