/**
 * Change triggers for the syncers: recursive watches on the logs and state directories (created when missing), with
 * a trailing-edge debounce bounded by a maximum wait, so a burst of writes gives one sync shortly after it ends and
 * a bot that writes without pause still syncs at least every `maxWait` (the0 watched non-recursively with a
 * leading-edge throttle that dropped events).
 */
import { type FSWatcher, watch } from "node:fs"
import { mkdir } from "node:fs/promises"
import { Clock, Duration, Effect, Queue, type Scope } from "effect"

export interface DebounceOptions {
  /** Quiet time after the last event (default 200 ms). */
  readonly debounce: Duration.Duration
  /** Longest delay between the first pending event and the trigger (default 1 s). */
  readonly maxWait: Duration.Duration
}

export const defaultDebounce: DebounceOptions = { debounce: Duration.millis(200), maxWait: Duration.seconds(1) }

/** Files we write ourselves next to the watched data; their changes trigger nothing. */
const ignored = (name: string | null): boolean => name !== null && /(^|\/)\.bot\.log\.offset/.test(name)

/**
 * Watches `dirs` recursively for the life of the scope, offering to `events` on each change. A directory that
 * cannot be watched is logged and left to the periodic sync.
 */
export const watchDirectories = (
  dirs: ReadonlyArray<string>,
  events: Queue.Queue<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.forEach(
    dirs,
    (dir) =>
      Effect.acquireRelease(
        Effect.tryPromise(async () => {
          await mkdir(dir, { recursive: true })
          const watcher: FSWatcher = watch(dir, { recursive: true }, (_event, name) => {
            if (!ignored(name)) Queue.unsafeOffer(events, undefined)
          })
          watcher.on("error", () => undefined)
          return watcher
        }).pipe(
          Effect.tapError((error) => Effect.logWarning(`Cannot watch ${dir}: ${String(error.error)}`)),
          Effect.option
        ),
        (watcher) => Effect.sync(() => watcher.pipe((w) => (w._tag === "Some" ? w.value.close() : undefined)))
      ),
    { discard: true }
  )

/**
 * Takes the next trigger from `events`: waits for one event, then until `debounce` passes without another, or
 * `maxWait` after the first.
 */
export const nextTrigger = (
  events: Queue.Queue<void>,
  options: DebounceOptions = defaultDebounce
): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* Queue.take(events)
    const first = yield* Clock.currentTimeMillis
    const maxWait = Duration.toMillis(options.maxWait)
    for (;;) {
      const left = maxWait - ((yield* Clock.currentTimeMillis) - first)
      if (left <= 0) return
      const quiet = Duration.min(options.debounce, Duration.millis(left))
      const more = yield* Queue.take(events).pipe(
        Effect.as(true),
        Effect.timeoutTo({ duration: quiet, onTimeout: () => false, onSuccess: (value) => value })
      )
      if (!more) return
    }
  })
