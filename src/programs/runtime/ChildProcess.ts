/**
 * Running bot and query processes (docs/contracts.md, "Bot processes", "Runtime commands"). A bot's stdout and stderr go to ours and are
 * appended to `bot.log`; a query process shares our stdio. A stop request (or the scope closing) sends SIGTERM to the
 * process, waits up to the grace period, then SIGKILLs its process group (the0 sent SIGKILL at once, after the final
 * sync). Exit codes: the child's own; 255 when a signal killed it (Go's -1); 1 when it could not start.
 */
import { spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs"
import * as path from "node:path"
import { Deferred, Duration, Effect, Option, type Scope } from "effect"
import { withDeadline } from "./Deadline.ts"
import type { Command } from "./Launchers.ts"
import { rfc3339Seconds } from "./NdjsonLogFormat.ts"

export interface ProcessOptions {
  readonly command: Command
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  /** `bot.log`: output is teed there (bot mode); without it the process shares our stdio. */
  readonly logFile?: string
  /** Between SIGTERM and SIGKILL. */
  readonly stopGrace: Duration.Duration
}

export interface ProcessResult {
  readonly exitCode: number
  /** The process ended because a stop was requested. */
  readonly stopped: boolean
  /** The process could not be started. */
  readonly startError?: string
}

/** Exit code of a process that a signal ended (Go's `ExitCode()` is -1, and `os.Exit(-1)` gives 255). */
export const signalExitCode = 255

/** Opens `bot.log` for appending (creating its directory); undefined when that fails, as in the0. */
const openLog = (file: string): number | undefined => {
  try {
    mkdirSync(path.dirname(file), { recursive: true })
    return openSync(file, "a", 0o644)
  } catch {
    return undefined
  }
}

export const startFailureLine = (message: string, now: Date): string =>
  `${JSON.stringify({ level: "error", message: `Failed to start process: ${message}`, timestamp: rfc3339Seconds(now) })}\n`

interface Running {
  readonly pid: number | undefined
  readonly kill: (signal: NodeJS.Signals, group: boolean) => void
  readonly started: Deferred.Deferred<void, Error>
  readonly closed: Deferred.Deferred<number>
}

const start = (options: ProcessOptions): Effect.Effect<Running & { readonly logFd: number | undefined }> =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void, Error>()
    const closed = yield* Deferred.make<number>()
    const logFd = options.logFile === undefined ? undefined : openLog(options.logFile)
    const tee = options.logFile !== undefined
    const child = spawn(options.command.file, [...options.command.args], {
      cwd: options.cwd,
      env: options.env,
      stdio: tee ? ["ignore", "pipe", "pipe"] : ["ignore", "inherit", "inherit"],
      detached: true
    })
    const copy = (target: NodeJS.WriteStream) => (chunk: Buffer) => {
      target.write(chunk)
      if (logFd !== undefined) {
        try {
          writeSync(logFd, chunk)
        } catch {
          // A full or vanished log volume must not stop the bot; its output still reaches our stdio.
        }
      }
    }
    child.stdout?.on("data", copy(process.stdout))
    child.stderr?.on("data", copy(process.stderr))
    let spawned = false
    child.once("spawn", () => {
      spawned = true
      Deferred.unsafeDone(started, Effect.void)
    })
    child.once("error", (error) => {
      if (spawned) return
      Deferred.unsafeDone(started, Effect.fail(error))
      Deferred.unsafeDone(closed, Effect.succeed(1))
    })
    child.once("close", (code, signal) =>
      Deferred.unsafeDone(closed, Effect.succeed(code ?? (signal === null ? 1 : signalExitCode)))
    )
    const kill = (signal: NodeJS.Signals, group: boolean) => {
      try {
        if (group && child.pid !== undefined) process.kill(-child.pid, signal)
        else child.kill(signal)
      } catch {
        // Already gone.
      }
    }
    return { pid: child.pid, kill, started, closed, logFd }
  })

/** SIGTERM, up to `grace` for it to end, then SIGKILL to its group; waits until it has ended. */
const stop = (running: Running, grace: Duration.Duration): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (yield* Deferred.isDone(running.closed)) return
    running.kill("SIGTERM", false)
    const ended = Option.isSome(yield* withDeadline(Deferred.await(running.closed), grace))
    if (!ended) {
      yield* Effect.logWarning(`Process did not stop within ${Duration.format(grace)}, killing it`)
      running.kill("SIGKILL", true)
      yield* Deferred.await(running.closed)
    }
  })

/**
 * Runs the process to its end, or until `stopRequested` completes, then stops it. Closing the scope early stops it
 * as well. A process that cannot start gives exit code 1, a log line and, in bot mode, a JSON line in `bot.log`.
 */
export const runProcess = (options: ProcessOptions, stopRequested: Effect.Effect<void>): Effect.Effect<ProcessResult> =>
  Effect.scoped(
    Effect.gen(function* () {
      const running = yield* Effect.acquireRelease(start(options), (running) =>
        Effect.zipRight(
          stop(running, options.stopGrace),
          Effect.sync(() => (running.logFd === undefined ? undefined : closeSync(running.logFd)))
        )
      )
      const startError = yield* Effect.flip(Deferred.await(running.started)).pipe(
        Effect.map((error) => error.message),
        Effect.orElseSucceed(() => undefined)
      )
      if (startError !== undefined) {
        yield* Effect.logError(`Failed to start process: ${startError}`)
        if (running.logFd !== undefined) {
          const line = startFailureLine(startError, new Date())
          yield* Effect.sync(() => writeSync(running.logFd ?? 0, line))
        }
        return { exitCode: 1, stopped: false, startError }
      }
      let stopping = false
      const exitCode = yield* Effect.raceFirst(
        Deferred.await(running.closed),
        Effect.zipRight(
          stopRequested,
          Effect.suspend(() => {
            stopping = true
            return Effect.zipRight(stop(running, options.stopGrace), Deferred.await(running.closed))
          })
        )
      )
      return { exitCode, stopped: stopping }
    })
  )

/** Starts a background process (the query server child) for the life of the scope; stopped when it closes. */
export const startBackground = (options: ProcessOptions): Effect.Effect<number | undefined, never, Scope.Scope> =>
  Effect.gen(function* () {
    const running = yield* Effect.acquireRelease(start(options), (running) => stop(running, options.stopGrace))
    const error = yield* Effect.flip(Deferred.await(running.started)).pipe(Effect.option)
    if (error._tag === "Some") {
      yield* Effect.logError(`Failed to start query server subprocess: ${error.value.message}`)
      return undefined
    }
    return running.pid
  })
