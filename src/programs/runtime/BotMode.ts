/**
 * Bot mode of `execute` (docs/contracts.md, "Runtime commands"): code, exec bits, state (neither downloaded under `--skip-download`: the
 * Pod's `restore` init container put them on the volumes), the logs directory, the in-process sync runner
 * (unless `--skip-sync`), the query server child for realtime bots (unless `--skip-query-server`), then the bot with
 * its output teed into `bot.log`. On a stop request the bot gets SIGTERM and a grace period; then the query child is
 * stopped and the final sync runs, in that order (scope finalizers), before the exit code is returned.
 */
import { mkdir, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Duration, Effect } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { childEnv } from "./ChildEnv.ts"
import { runProcess, startBackground } from "./ChildProcess.ts"
import { type CodeDownloadError, downloadCode } from "./CodeBundle.ts"
import { DeadlineExceeded } from "./Deadline.ts"
import type { ExecuteSettings } from "./ExecuteSettings.ts"
import { botCommand, ensureExecutable, queryCommand } from "./Launchers.ts"
import { logFileName } from "./LogSyncer.ts"
import { downloadState } from "./StateTransfer.ts"
import { startSyncRunner } from "./SyncRunner.ts"

/** How long `execute` waits for the in-process sync runner to start before running the bot without it. */
export const syncReadyTimeout = Duration.seconds(10)

/** Logged instead of the downloads under `--skip-download`. */
export const skipDownloadMessage = "Skipping code and state download (--skip-download flag set: restored by the Pod)"

/** The exit code the0 gives when the runtime was told to stop. */
export const stoppedExitCode = 1

export const stateLocation = (settings: ExecuteSettings) => ({
  bucket: settings.storage.stateBucket,
  botId: settings.botId,
  statePath: settings.statePath,
  maxStateFileSize: settings.storage.maxStateFileSize,
  maxStateSize: settings.storage.maxStateSize
})

export const envFor = (settings: ExecuteSettings, entrypoint: string, queryPath: string) =>
  childEnv(settings.env, {
    botId: settings.botId,
    botConfig: settings.botConfig,
    stateDir: settings.stateDir,
    codePath: settings.codePath,
    entrypoint,
    runtime: settings.runtime,
    botType: settings.botType,
    queryPath,
    queryParams: settings.queryParams
  })

export const runBot = (
  settings: ExecuteSettings,
  stopRequested: Effect.Effect<void>
): Effect.Effect<number, CodeDownloadError, ObjectStore> =>
  Effect.scoped(
    Effect.gen(function* () {
      if (settings.flags.skipDownload) yield* Effect.logInfo(skipDownloadMessage)
      else yield* downloadCode(settings.storage.codeBucket, settings.codeFile, settings.codePath)
      yield* ensureExecutable(settings.runtime, settings.codePath, settings.entrypoint, settings.queryEntrypoint).pipe(
        Effect.catchAll((error) => Effect.logWarning(error.message))
      )
      if (!settings.flags.skipDownload)
        yield* downloadState(stateLocation(settings)).pipe(
          Effect.catchAll((error) => Effect.logWarning(`No existing state or download failed: ${error.message}`))
        )
      yield* Effect.promise(() => mkdir(settings.logsPath, { recursive: true }).catch(() => undefined))

      if (settings.flags.skipSync) {
        yield* Effect.logInfo("Skipping sync (--skip-sync flag set)")
      } else {
        yield* startSyncRunner({
          botId: settings.botId,
          statePath: settings.statePath,
          logsPath: settings.logsPath,
          storage: settings.storage
        }).pipe(
          Effect.timeoutFail({
            duration: syncReadyTimeout,
            onTimeout: () => new DeadlineExceeded({ detail: "sync runner initialization timeout" })
          }),
          Effect.catchAll((error) =>
            Effect.logWarning(`Sync runner failed to start, running without sync: ${error.message}`)
          )
        )
      }

      if (settings.botType === "realtime" && settings.queryEntrypoint !== "") {
        if (settings.flags.skipQueryServer) {
          yield* Effect.logInfo("Skipping query server subprocess (--skip-query-server flag set)")
        } else {
          const pid = yield* startBackground({
            command: queryCommand(settings.runtime, settings.queryEntrypoint, settings.codePath),
            cwd: settings.codePath,
            env: envFor(settings, settings.queryEntrypoint, ""),
            stopGrace: Duration.seconds(1)
          })
          if (pid !== undefined) yield* Effect.logInfo(`Query server subprocess started (PID: ${pid})`)
        }
      }

      const result = yield* runProcess(
        {
          command: botCommand(settings.runtime, settings.entrypoint, settings.codePath, settings.wrappersDir),
          cwd: settings.codePath,
          env: envFor(settings, settings.entrypoint, ""),
          logFile: path.join(settings.logsPath, logFileName),
          stopGrace: settings.stopGrace
        },
        stopRequested
      )
      const exitCode = result.stopped ? stoppedExitCode : result.exitCode
      yield* Effect.logInfo(
        `Bot process exited with code ${result.exitCode}${result.stopped ? " after a stop request" : ""}`
      )
      if (settings.isScheduled) {
        yield* Effect.tryPromise(async () => {
          await mkdir(path.dirname(settings.doneFile), { recursive: true })
          await writeFile(settings.doneFile, String(exitCode), { mode: 0o644 })
        }).pipe(Effect.catchAll((error) => Effect.logWarning(`Failed to write done file: ${String(error.error)}`)))
      }
      yield* Effect.logInfo("Cleaning up...")
      return exitCode
    })
  )
