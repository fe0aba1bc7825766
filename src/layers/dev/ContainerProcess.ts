/**
 * One container's process: spawned in its own process group with its env, its output appended to the container's
 * log, signalled as a group, and stopped gracefully (SIGTERM, the grace period, SIGKILL).
 */
import { type ChildProcess, spawn } from "node:child_process"
import type { WriteStream } from "node:fs"
import { Clock, Duration, Effect, Option, Ref, type Scope } from "effect"
import type { Command } from "./PodEnvironment.ts"

/** How a process ended: its exit code (128 + 9 when killed by a signal) and the container state's reason. */
export interface Exit {
  readonly code: number
  readonly reason: string
}

export interface ContainerProcess {
  readonly child: ChildProcess
  readonly exited: Promise<Exit>
}

export const signalGroup = (child: ChildProcess, signal: NodeJS.Signals): void => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    try {
      child.kill(signal)
    } catch {
      // already gone
    }
  }
}

/**
 * Starts the process (its own process group), its stdout and stderr written to `log` and handed to `onOutput`; it
 * is killed when the scope closes, if still running.
 */
export const spawnContainer = (
  command: () => Command,
  env: Record<string, string>,
  log: WriteStream,
  onOutput: (chunk: Buffer) => void
): Effect.Effect<ContainerProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const { file, args, cwd } = command()
      const child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
      const exited = new Promise<Exit>((resolve) => {
        child.once("error", (error) => {
          log.write(`kubelet: cannot start ${file}: ${error.message}\n`)
          resolve({ code: 128, reason: "StartError" })
        })
        child.once("close", (code, signal) =>
          resolve({ code: code ?? (signal === null ? 1 : 128 + 9), reason: code === 0 ? "Completed" : "Error" })
        )
      })
      const forward = (chunk: Buffer) => {
        log.write(chunk)
        onOutput(chunk)
      }
      child.stdout?.on("data", forward)
      child.stderr?.on("data", forward)
      return { child, exited }
    }),
    ({ child }) =>
      Effect.sync(() => {
        signalGroup(child, "SIGKILL")
      })
  )

/** SIGTERM to the group, up to the grace deadline (at least 2 s), then SIGKILL; resolves when it has exited. */
export const stopProcess = (graceDeadline: Ref.Ref<number>, { child, exited }: ContainerProcess): Effect.Effect<Exit> =>
  Effect.gen(function* () {
    signalGroup(child, "SIGTERM")
    const deadline = yield* Ref.get(graceDeadline)
    const now = yield* Clock.currentTimeMillis
    const wait = Math.max(deadline - now, 2000)
    const done = yield* Effect.promise(() => exited).pipe(Effect.timeout(Duration.millis(wait)), Effect.option)
    if (Option.isSome(done)) return done.value
    signalGroup(child, "SIGKILL")
    return yield* Effect.promise(() => exited)
  })
