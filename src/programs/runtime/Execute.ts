/**
 * `the0-runtime execute` (docs/contracts.md, "Runtime commands"): picks the mode. `--query-server-only` wins over `QUERY_PATH`
 * (or `--query`), which wins over bot mode. Returns the process exit code.
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
  })
