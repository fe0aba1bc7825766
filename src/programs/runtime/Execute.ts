/**
 * `the0-runtime execute` (docs/contracts.md, "Runtime commands"): picks the mode. `--query-server-only` wins over `QUERY_PATH`
 * (or `--query`), which wins over bot mode. Returns the process exit code: the mode's, or 1 with the error logged
 * when a mode fails (docs/architecture.md, "Errors and configuration").
 */
import { Effect } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { runBot } from "./BotMode.ts"
import type { ExecuteSettings } from "./ExecuteSettings.ts"
import { runQuery } from "./QueryMode.ts"
import { runQueryServer } from "./QueryServerMode.ts"

export const execute = (
  settings: ExecuteSettings,
  stopRequested: Effect.Effect<void>
): Effect.Effect<number, never, ObjectStore> =>
  Effect.gen(function* () {
    yield* Effect.logInfo(`Bot ID: ${settings.botId}, Runtime: ${settings.runtime}, Entrypoint: ${settings.entrypoint}`)
    if (settings.flags.queryServerOnly) return yield* runQueryServer(settings, stopRequested)
    if (settings.queryPath !== "") return yield* runQuery(settings, stopRequested)
    return yield* runBot(settings, stopRequested)
  }).pipe(
    Effect.catchAll((error) =>
      Effect.as(
        Effect.logError(
          error._tag === "CodeDownloadError" ? `Failed to download code: ${error.message}` : error.message
        ),
        1
      )
    )
  )
