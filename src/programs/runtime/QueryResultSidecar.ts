/**
 * `the0-runtime daemon query-result`, the `result` sidecar of a query Job (docs/operations.md, "MinIO credentials"):
 * the `bot` container runs the query without object-store credentials and writes `<query dir>/result.json`; when
 * it has ended the kubelet stops this sidecar (SIGTERM), which then uploads the file to its key in the query-results
 * bucket (created when missing), as the0's `execute` did after the query (docs/contracts.md, "The bot's query server"). `/readyz` answers 200
 * once the stop request is being listened for, so that the startup probe holds the query back until then. Exit 0
 * after the upload; a failure is the command's, exit 1 (the Pod's phase follows its main container only).
 */
import { Effect } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { type QueryResultError, uploadQueryResult } from "./QueryMode.ts"
import { type ReadinessServerError, serveReadiness } from "./ReadinessServer.ts"

export interface QueryResultOptions {
  readonly resultKey: string
  readonly queryDir: string
  readonly bucket: string
  readonly readinessPort: number
  readonly readinessHost: string
}

export const daemonQueryResult = (
  options: QueryResultOptions,
  stopRequested: Effect.Effect<void>
): Effect.Effect<void, ReadinessServerError | QueryResultError, ObjectStore> =>
  Effect.scoped(
    Effect.gen(function* () {
      if (options.readinessPort > 0) {
        const readiness = yield* serveReadiness(options.readinessPort, options.readinessHost)
        yield* readiness.setReady
      }
      yield* Effect.logInfo(`Waiting for the query to end, then uploading its result to ${options.resultKey}`)
      yield* stopRequested
      yield* Effect.logInfo(`Uploading query result to MinIO key: ${options.resultKey}`)
      yield* uploadQueryResult(options.queryDir, options.bucket, options.resultKey)
      yield* Effect.logInfo("Query result uploaded")
    })
  )
