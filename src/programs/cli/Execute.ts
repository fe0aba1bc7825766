/**
 * `the0-runtime execute [--skip-sync] [--skip-query-server] [--query-server-only] [--query PATH]`, the0's flags
 * (docs/contracts.md, "Runtime commands"), and our `--skip-download` (the generated Pods pass it: their `restore` init container
 * holds the credentials). Configuration comes from the environment (docs/contracts.md, "In-pod env and files"); the exit code is the mode's (docs/contracts.md, "Runtime commands").
 */
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { execute } from "../runtime/Execute.ts"
import { executeSettings } from "../runtime/ExecuteSettings.ts"
import { runToExit } from "./ProcessExit.ts"

const flags = {
  skipSync: Options.boolean("skip-sync").pipe(Options.withDescription("Do not run the in-process sync")),
  skipQueryServer: Options.boolean("skip-query-server").pipe(
    Options.withDescription("Do not start the query server child for realtime bots")
  ),
  queryServerOnly: Options.boolean("query-server-only").pipe(
    Options.withDescription("Run only the query server (the query-server container of a realtime Pod)")
  ),
  skipDownload: Options.boolean("skip-download").pipe(
    Options.withDescription(
      "Code and state are already on the volumes (restored by `daemon restore`): do not download them"
    )
  ),
  query: Options.text("query").pipe(
    Options.withDefault(""),
    Options.withDescription("Run this one-shot query (overrides QUERY_PATH)")
  )
}

export const command = Command.make("execute", flags, (options) =>
  runToExit(
    (stopRequested): Effect.Effect<number, never, ObjectStore> =>
      Effect.logInfo("Execute command starting...").pipe(
        // the children's environment is derived from the whole of ours (docs/contracts.md, "Bot processes")
        Effect.zipRight(Effect.suspend(() => executeSettings(options, process.env))),
        Effect.flatMap((settings) => execute(settings, stopRequested)),
        Effect.catchTag("ConfigurationError", (error) =>
          Effect.as(Effect.logError(`Configuration error: ${error.message}`), 1)
        )
      )
  )
).pipe(Command.withDescription("Run a bot, a one-shot query or a query server inside a bot container"))
