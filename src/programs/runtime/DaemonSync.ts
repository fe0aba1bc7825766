/**
 * `the0-runtime daemon sync`, the sync sidecar (docs/contracts.md, "Runtime commands"): `/readyz` and `/healthz` first (when a
 * readiness port is given), then the sync runner; ready once it has started; on a stop request, or when the
 * `--watch-done` file appears, the final sync (each syncer with its own deadline) and exit 0. Missing storage
 * settings fail with the0's message (exit 1).
 */
import { access } from "node:fs/promises"
import { Duration, Effect, Schedule } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { type ReadinessServerError, serveReadiness } from "./ReadinessServer.ts"
import type { StorageSettings } from "./StorageSettings.ts"
import type { SyncInitError } from "./SyncInitError.ts"
import { startSyncRunner } from "./SyncRunner.ts"

export interface DaemonSyncOptions {
  readonly botId: string
  readonly statePath: string
  readonly logsPath: string
  readonly interval: Duration.Duration
  readonly watchDone: string
  readonly readinessPort: number
  /** Interface of `/readyz` and `/healthz`: every interface when empty (in a Pod); `dev` gives its Pod IP. */
  readonly readinessHost: string
  readonly storage: StorageSettings
}

/** Go's `time.ParseDuration` for the forms a flag takes: `60s`, `1m30s`, `500ms`, `1.5h`; undefined if invalid. */
export const parseGoDuration = (text: string): Duration.Duration | undefined => {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  if (text === "0") return Duration.zero
  const pattern = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y
  let millis = 0
  let index = 0
  while (index < text.length) {
    pattern.lastIndex = index
    const match = pattern.exec(text)
    if (match === null) return undefined
    millis += Number(match[1]) * (units[match[2] ?? ""] ?? Number.NaN)
    index = pattern.lastIndex
  }
  return index === 0 || !Number.isFinite(millis) ? undefined : Duration.millis(millis)
}

const fileExists = (file: string) =>
  Effect.promise(() =>
    access(file).then(
      () => true,
      () => false
    )
  )

export const daemonSync = (
  options: DaemonSyncOptions,
  stopRequested: Effect.Effect<void>
): Effect.Effect<void, SyncInitError | ReadinessServerError, ObjectStore> =>
  Effect.scoped(
    Effect.gen(function* () {
      const readiness =
        options.readinessPort > 0 ? yield* serveReadiness(options.readinessPort, options.readinessHost) : undefined
      yield* startSyncRunner({
        botId: options.botId,
        statePath: options.statePath,
        logsPath: options.logsPath,
        storage: options.storage,
        interval: options.interval
      })
      if (readiness !== undefined) yield* readiness.setReady
      yield* Effect.logInfo(`Sync daemon ready for bot ${options.botId}`)
      const doneAppeared =
        options.watchDone === ""
          ? Effect.never
          : fileExists(options.watchDone).pipe(
              Effect.filterOrFail((found) => found),
              Effect.retry(Schedule.spaced(Duration.millis(500))),
              Effect.orDie
            )
      const reason = yield* Effect.raceFirst(
        Effect.as(stopRequested, "Received signal, performing final sync"),
        Effect.as(doneAppeared, "Done file found, performing final sync")
      )
      yield* Effect.logInfo(reason)
    })
  )
