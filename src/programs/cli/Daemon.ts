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
import { Effect } from "effect"
import { everyInterface } from "../ListenAddress.ts"
import { daemonRestore } from "../runtime/DaemonRestore.ts"
import { daemonSync, parseGoDuration } from "../runtime/DaemonSync.ts"
import { daemonQueryResult } from "../runtime/QueryResultSidecar.ts"
import { storageSettings } from "../runtime/StorageSettings.ts"
import { runToExit } from "./ProcessExit.ts"

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
  readinessPort: Options.integer("readiness-port").pipe(
    Options.withDefault(0),
    Options.withDescription("Serve /readyz and /healthz on this port (0: off)")
  )
}

const sync = Command.make("sync", syncOptions, (options) =>
  runToExit((stopRequested) =>
    Effect.gen(function* () {
      const interval = parseGoDuration(options.interval)
      if (interval === undefined) {
        process.stderr.write(`Error: invalid --interval ${JSON.stringify(options.interval)}\n`)
        return 1
      }
      const result = yield* Effect.either(
        daemonSync(
          {
            botId: options.botId,
            statePath: options.statePath,
            logsPath: options.logsPath,
            interval,
            watchDone: options.watchDone,
            readinessPort: options.readinessPort,
            readinessHost: process.env.THE0_READINESS_HOST ?? everyInterface,
            storage: storageSettings(process.env)
          },
          stopRequested
        )
      )
      if (result._tag === "Left") {
        yield* Effect.logError(result.left.message)
        process.stderr.write(`Error: ${result.left.message}\n`)
        return 1
      }
      return 0
    })
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
  runToExit(() =>
    Effect.gen(function* () {
      const result = yield* Effect.either(daemonRestore({ ...options, storage: storageSettings(process.env) }))
      if (result._tag === "Left") {
        yield* Effect.logError(result.left.message)
        process.stderr.write(`Error: ${result.left.message}\n`)
        return 1
      }
      return 0
    })
  )
).pipe(Command.withDescription("Download the code and restore the state (the Pods' restore init container)"))

const queryResultOptions = {
  resultKey: Options.text("result-key").pipe(
    Options.withDescription("Where in the query-results bucket to upload result.json (required)")
  ),
  queryDir: Options.text("query-dir").pipe(
    Options.withDefault("/query"),
    Options.withDescription("Directory of the query's result.json")
  ),
  readinessPort: Options.integer("readiness-port").pipe(
    Options.withDefault(0),
    Options.withDescription("Serve /readyz and /healthz on this port (0: off)")
  )
}

const queryResult = Command.make("query-result", queryResultOptions, (options) =>
  runToExit((stopRequested) =>
    daemonQueryResult(
      {
        ...options,
        bucket: storageSettings(process.env).queryResultsBucket,
        readinessHost: process.env.THE0_READINESS_HOST ?? everyInterface
      },
      stopRequested
    ).pipe(
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
  )
).pipe(Command.withDescription("Upload a query Job's result.json when stopped (the query Job's result sidecar)"))

export const command = Command.make("daemon").pipe(
  Command.withDescription("In-Pod daemons"),
  Command.withSubcommands([sync, restore, queryResult])
)
