/**
 * One container's process: spawned in its own process group with its env and a lifeline to this process
 * (Lifeline.ts: the group is killed when `dev` dies), recorded in the kubelet's process record while it runs, its
 * output appended to the container's log, signalled as a group, and stopped gracefully (SIGTERM, the grace period,
 * SIGKILL). When its process exits, the lifeline is cut, so nothing it started outlives it (as a container's
 * processes end with its first one in Kubernetes).
 */
import { type ChildProcess, spawn } from "node:child_process"
import type { WriteStream } from "node:fs"
import { Clock, Duration, Effect, Option, Ref, type Scope } from "effect"
import { lifelineFd, withLifeline } from "./Lifeline.ts"
import type { Command } from "./PodEnvironment.ts"
import type { ProcessTable } from "./ProcessRecord.ts"

/**
 * How a process ended: its exit code (128 + 9 when killed by a signal) and the container state's reason; `StartError`
 * with the error's message when it could not be started.
 */
export interface Exit {
  readonly code: number
  readonly reason: string
  readonly message?: string
}

export interface ContainerProcess {
  /** `undefined` when it could not be spawned at all. */
  readonly child: ChildProcess | undefined
  readonly exited: Promise<Exit>
}

export const signalGroup = (child: ChildProcess | undefined, signal: NodeJS.Signals): void => {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
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
 * Starts the process (its own process group, behind its lifeline, in `processes` until it has ended), its stdout
 * and stderr written to `log` and handed to `onOutput`; it is killed when the scope closes, if still running.
 */
export const spawnContainer = (
  command: () => Command,
  env: Record<string, string>,
  log: WriteStream,
  onOutput: (chunk: Buffer) => void,
  processes: ProcessTable
): Effect.Effect<ContainerProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync((): ContainerProcess => {
      const target = command()
      const { file, args, cwd } = withLifeline(target)
      const cannotStart = (error: unknown): Exit => {
        const message = `cannot start ${target.file}: ${error instanceof Error ? error.message : String(error)}`
        log.write(`kubelet: ${message}\n`)
        return { code: 128, reason: "StartError", message }
      }
      let child: ChildProcess
      try {
        child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe", "pipe"] })
      } catch (error) {
        // Node throws some spawn errors (E2BIG: an argument or variable over 128 KiB) instead of emitting them
        return { child: undefined, exited: Promise.resolve(cannotStart(error)) }
      }
      const pid = child.pid
      if (pid !== undefined) processes.add(pid)
      const lifeline = child.stdio[lifelineFd]
      lifeline?.on("error", () => undefined)
      // the first process has ended: the watcher reads end-of-file and kills what is left of the group
      child.once("exit", () => lifeline?.destroy())
      const exited = new Promise<Exit>((resolve) => {
        child.once("error", (error) => {
          lifeline?.destroy()
          resolve(cannotStart(error))
        })
        child.once("close", (code, signal) => {
          if (pid !== undefined) processes.remove(pid)
          resolve({ code: code ?? (signal === null ? 1 : 128 + 9), reason: code === 0 ? "Completed" : "Error" })
        })
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
        child?.stdio[lifelineFd]?.destroy()
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
