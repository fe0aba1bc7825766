/**
 * Query-server-only mode, the `query-server` container of a realtime Pod (docs/contracts.md, "The bot's query server"). The bot container
 * writes the code on the shared `/bot`; we wait up to 60 s for the query entrypoint to appear there and use it as it
 * is (re-extracting would hit "text file busy"). Only when it does not appear do we download the code and the state
 * ourselves; otherwise the bot container restores the shared `/state`, and a second extraction here would overwrite
 * the bot's newer writes with the stored state (a fix, COMPATIBILITY.md). Under `--skip-download` (the generated Pods)
 * the `restore` init container has put both on the volumes before this container starts: no wait, no download.
 */
import { access } from "node:fs/promises"
import * as path from "node:path"
import { Data, Duration, Effect, Schedule } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { envFor, skipDownloadMessage, stateLocation } from "./BotMode.ts"
import { runProcess } from "./ChildProcess.ts"
import { type CodeDownloadError, downloadCode } from "./CodeBundle.ts"
import type { ExecuteSettings } from "./ExecuteSettings.ts"
import { ensureExecutable, queryCommand } from "./Launchers.ts"
import { downloadState } from "./StateTransfer.ts"

const exists = (file: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    access(file).then(
      () => true,
      () => false
    )
  )

/** Polls once a second until `file` exists or `wait` has passed. */
export const waitForFile = (file: string, wait: Duration.Duration): Effect.Effect<boolean> =>
  exists(file).pipe(
    Effect.filterOrFail((found) => found),
    Effect.retry(Schedule.spaced(Duration.seconds(1))),
    Effect.timeoutTo({ duration: wait, onSuccess: () => true, onTimeout: () => false }),
    Effect.orElseSucceed(() => false)
  )

/** A query server without `QUERY_ENTRYPOINT`. */
export class QueryEntrypointMissing extends Data.TaggedError("QueryEntrypointMissing") {
  override get message(): string {
    return "QUERY_ENTRYPOINT not set, cannot run query server"
  }
}

export const runQueryServer = (
  settings: ExecuteSettings,
  stopRequested: Effect.Effect<void>
): Effect.Effect<number, CodeDownloadError | QueryEntrypointMissing, ObjectStore> =>
  Effect.gen(function* () {
    if (settings.flags.skipDownload) yield* Effect.logInfo(skipDownloadMessage)
    const found =
      settings.flags.skipDownload ||
      (settings.queryEntrypoint !== "" &&
        (yield* waitForFile(path.join(settings.codePath, settings.queryEntrypoint), settings.codeWait)))
    if (!found) {
      if (settings.queryEntrypoint !== "") {
        yield* Effect.logInfo(`Code not found after ${Duration.format(settings.codeWait)}, downloading`)
      }
      yield* downloadCode(settings.storage.codeBucket, settings.codeFile, settings.codePath)
      yield* downloadState(stateLocation(settings)).pipe(
        Effect.catchAll((error) => Effect.logWarning(`No existing state or download failed: ${error.message}`))
      )
    }
    if (settings.queryEntrypoint === "") return yield* new QueryEntrypointMissing()
    yield* ensureExecutable(settings.runtime, settings.codePath, settings.queryEntrypoint, "").pipe(
      Effect.catchAll((error) => Effect.logWarning(error.message))
    )
    const result = yield* runProcess(
      {
        command: queryCommand(settings.runtime, settings.queryEntrypoint, settings.codePath),
        cwd: settings.codePath,
        env: envFor(settings, settings.queryEntrypoint, ""),
        stopGrace: settings.stopGrace
      },
      stopRequested
    )
    return result.stopped ? 1 : result.exitCode
  })
