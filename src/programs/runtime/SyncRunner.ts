/**
 * The sync loop shared by `execute` (in-process) and `daemon sync` (the sidecar) (docs/contracts.md, "Sync"): the state
 * syncer then the logs syncer, serialized, on every debounced file change and every `interval`; and, when the scope
 * closes, a final sync in which each syncer has a fresh deadline of its own (state 180 s, logs 120 s) on an
 * uninterruptible context, so a cancelled caller never cuts it short.
 */
import { Duration, Effect, Fiber, Option, Queue, type Scope } from "effect"
import { EventBus } from "../../services/EventBus.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import { withDeadline } from "./Deadline.ts"
import { type DebounceOptions, defaultDebounce, nextTrigger, watchDirectories } from "./FileWatcher.ts"
import { makeLogSyncer } from "./LogSyncer.ts"
import { makeStateSyncer, stateUploadDeadline } from "./StateSyncer.ts"
import type { StorageSettings } from "./StorageSettings.ts"
import { describeStoreError } from "./StoreErrors.ts"
import { SyncInitError } from "./SyncInitError.ts"

export interface SyncRunnerOptions {
  readonly botId: string
  readonly statePath: string
  readonly logsPath: string
  readonly storage: StorageSettings
  /** The periodic safety net (default 60 s). */
  readonly interval?: Duration.Duration
  readonly debounce?: DebounceOptions
  readonly finalStateDeadline?: Duration.Duration
  readonly finalLogsDeadline?: Duration.Duration
}

export interface SyncRunner {
  /** One sync now (serialized with the others). */
  readonly syncNow: Effect.Effect<void>
}

/** `the0.bot.logs.<id>` with every character outside `[A-Za-z0-9_-]` replaced by `_`; `unknown` for an empty id. */
export const logSubject = (botId: string): string =>
  `the0.bot.logs.${botId === "" ? "unknown" : botId.replace(/[^A-Za-z0-9_-]/g, "_")}`

/**
 * Starts the runner for the life of the scope. Fails when the storage settings are missing (the0's message); a
 * storage error at start is logged and retried at each sync.
 */
export const startSyncRunner = (
  options: SyncRunnerOptions
): Effect.Effect<SyncRunner, SyncInitError, ObjectStore | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const context = yield* Effect.context<ObjectStore>()
    const { storage } = options
    let logsBucketReady = false
    const ensureLogsBucket = Effect.suspend(() =>
      logsBucketReady
        ? Effect.void
        : store.ensureBucket(storage.logsBucket).pipe(
            Effect.tap(() => {
              logsBucketReady = true
            })
          )
    )
    yield* ensureLogsBucket.pipe(
      Effect.catchAll((error) =>
        error.code === "ConfigError"
          ? Effect.fail(new SyncInitError({ detail: describeStoreError(error) }))
          : Effect.logWarning(`Failed to create log uploader, retrying at each sync: ${error.message}`)
      )
    )
    const bus = yield* Effect.serviceOption(EventBus)
    const subject = logSubject(options.botId)
    const stateSyncer = yield* makeStateSyncer({
      bucket: storage.stateBucket,
      botId: options.botId,
      statePath: options.statePath,
      maxStateFileSize: storage.maxStateFileSize,
      maxStateSize: storage.maxStateSize
    })
    const logSyncer = yield* makeLogSyncer({
      bucket: storage.logsBucket,
      botId: options.botId,
      logsPath: options.logsPath,
      ...(Option.isSome(bus) ? { publish: (chunk: Uint8Array) => bus.value.publish(subject, chunk) } : {})
    })
    const syncLogs = Effect.zipRight(
      ensureLogsBucket.pipe(Effect.catchAll((error) => Effect.logWarning(`Log bucket unavailable: ${error.message}`))),
      logSyncer.sync
    )
    const lock = yield* Effect.makeSemaphore(1)
    const syncNow = lock
      .withPermits(1)(Effect.zipRight(stateSyncer.sync, syncLogs))
      .pipe(Effect.asVoid, Effect.provide(context))

    const events = yield* Queue.sliding<void>(1)
    yield* watchDirectories([options.logsPath, options.statePath], events)
    const interval = options.interval ?? Duration.seconds(60)
    const ticker = yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(interval), Queue.offer(events, undefined)))
    )
    const loop = yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(nextTrigger(events, options.debounce ?? defaultDebounce), syncNow))
    )

    /** Waits for a sync in flight, stops the loop, then syncs once more. */
    const finalSync = lock.withPermits(1)(
      Effect.gen(function* () {
        yield* Fiber.interrupt(loop)
        yield* Fiber.interrupt(ticker)
        yield* Effect.logInfo("Final sync")
        const within = (label: string, deadline: Duration.Duration, effect: Effect.Effect<boolean>) =>
          Effect.flatMap(withDeadline(effect, deadline), (result) =>
            Option.isSome(result)
              ? Effect.void
              : Effect.logWarning(`Final ${label} sync exceeded ${Duration.format(deadline)}`)
          )
        yield* within(
          "state",
          options.finalStateDeadline ?? stateUploadDeadline,
          stateSyncer.sync.pipe(Effect.provide(context))
        )
        yield* within(
          "logs",
          options.finalLogsDeadline ?? Duration.seconds(120),
          syncLogs.pipe(Effect.provide(context))
        )
        yield* Effect.logInfo("Sync runner stopped")
      })
    )
    yield* Effect.addFinalizer(() => Effect.uninterruptible(finalSync))
    yield* Effect.logInfo("Sync runner ready")
    return { syncNow }
  })
