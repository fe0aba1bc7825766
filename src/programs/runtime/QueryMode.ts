/**
 * One-shot query mode (docs/contracts.md, "The bot's query server"): code and state (read-only by convention, never uploaded; neither downloaded
 * under `--skip-download`), then the query entrypoint with `QUERY_PATH`/`QUERY_PARAMS`, then `<query dir>/result.json`
 * uploaded to `QUERY_RESULT_KEY` in the query-results bucket, even when the query failed. The generated query Jobs set
 * no `QUERY_RESULT_KEY` in this container: their `result` sidecar uploads the file (`daemon query-result`). Unlike the0, compiled query entrypoints are made executable.
 */
import { mkdir, readFile } from "node:fs/promises"
import * as path from "node:path"
import { Data, Effect } from "effect"
import { ObjectStore } from "../../services/ObjectStore.ts"
import { envFor, skipDownloadMessage, stateLocation } from "./BotMode.ts"
import { runProcess } from "./ChildProcess.ts"
import { type CodeDownloadError, downloadCode } from "./CodeBundle.ts"
import type { ExecuteSettings } from "./ExecuteSettings.ts"
import { ensureExecutable, queryCommand } from "./Launchers.ts"
import { downloadState } from "./StateTransfer.ts"
import { describeStoreError } from "./StoreErrors.ts"

export class QueryResultError extends Data.TaggedError("QueryResultError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** The query's directory could not be made. */
export class QueryDirError extends Data.TaggedError("QueryDirError")<{
  readonly dir: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `Failed to create ${this.dir}: ${String(this.cause)}`
  }
}

export const resultFileName = "result.json"

/** Uploads `<queryDir>/result.json` to `key` in `bucket`, creating the bucket when missing. */
export const uploadQueryResult = (
  queryDir: string,
  bucket: string,
  key: string
): Effect.Effect<void, QueryResultError, ObjectStore> =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const file = path.join(queryDir, resultFileName)
    const body = yield* Effect.tryPromise({
      try: () => readFile(file),
      catch: (error) => new QueryResultError({ detail: `failed to read result file ${file}: ${String(error)}` })
    })
    const fail = (error: Parameters<typeof describeStoreError>[0]) =>
      new QueryResultError({
        detail: `failed to upload query result to ${bucket}/${key}: ${describeStoreError(error)}`
      })
    yield* Effect.mapError(store.ensureBucket(bucket), fail)
    yield* Effect.mapError(store.put(bucket, key, body, { contentType: "application/json" }), fail)
  })

export const runQuery = (
  settings: ExecuteSettings,
  stopRequested: Effect.Effect<void>
): Effect.Effect<number, CodeDownloadError | QueryDirError | QueryResultError, ObjectStore> =>
  Effect.gen(function* () {
    yield* Effect.logInfo(`Running ephemeral query: ${settings.queryPath}`)
    if (settings.flags.skipDownload) yield* Effect.logInfo(skipDownloadMessage)
    else {
      yield* downloadCode(settings.storage.codeBucket, settings.codeFile, settings.codePath)
    }
    const entrypoint = settings.queryEntrypoint !== "" ? settings.queryEntrypoint : settings.entrypoint
    yield* ensureExecutable(settings.runtime, settings.codePath, entrypoint, "").pipe(
      Effect.catchAll((error) => Effect.logWarning(error.message))
    )
    if (!settings.flags.skipDownload)
      yield* downloadState(stateLocation(settings)).pipe(
        Effect.catchAll((error) => Effect.logWarning(`No existing state: ${error.message}`))
      )
    yield* Effect.tryPromise({
      try: () => mkdir(settings.queryDir, { recursive: true }),
      catch: (cause) => new QueryDirError({ dir: settings.queryDir, cause })
    })
    const result = yield* runProcess(
      {
        command: queryCommand(settings.runtime, entrypoint, settings.codePath),
        cwd: settings.codePath,
        env: envFor(settings, entrypoint, settings.queryPath),
        stopGrace: settings.stopGrace
      },
      stopRequested
    )
    yield* Effect.logInfo(`Query process completed with exit code: ${result.exitCode}`)
    if (settings.queryResultKey !== "") {
      yield* Effect.logInfo(`Uploading query result to MinIO key: ${settings.queryResultKey}`)
      yield* uploadQueryResult(settings.queryDir, settings.storage.queryResultsBucket, settings.queryResultKey)
    }
    return result.stopped ? 1 : result.exitCode
  })
