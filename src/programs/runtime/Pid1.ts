/**
 * Running as PID 1 (runtime spec §10). The kernel delivers no signal to PID 1 that has no handler, so SIGTERM and
 * SIGINT are always handled explicitly by the commands. Node reaps its own children but cannot wait for orphans
 * reparented to it, so as PID 1 we run ourselves under `tini -s -g` when the image has it (tini reaps them and
 * forwards signals), and say so in the log when it does not.
 */
import { spawn } from "node:child_process"
import { access, constants } from "node:fs/promises"
import { Effect, Option } from "effect"

export const reaperCandidates = ["/usr/bin/tini", "/sbin/tini", "/usr/local/bin/tini", "/usr/bin/tini-static"]
const marker = "THE0_UNDER_REAPER"

const findReaper = Effect.promise(async () => {
  for (const candidate of reaperCandidates) {
    const ok = await access(candidate, constants.X_OK).then(
      () => true,
      () => false
    )
    if (ok) return Option.some(candidate)
  }
  return Option.none<string>()
})

/**
 * As PID 1 with tini available: runs this same command under tini and answers its exit code (the caller exits
 * with it). Otherwise `none`, and the caller runs the command itself.
 */
export const underReaper: Effect.Effect<Option.Option<number>> = Effect.gen(function* () {
  if (process.pid !== 1 || process.env[marker] === "1") return Option.none()
  const reaper = yield* findReaper
  if (Option.isNone(reaper)) {
    yield* Effect.logWarning("Running as PID 1 without tini: orphaned grandchildren will not be reaped")
    return Option.none()
  }
  const code = yield* Effect.async<number>((resume) => {
    const child = spawn(
      reaper.value,
      ["-s", "-g", "--", process.execPath, ...process.execArgv, ...process.argv.slice(1)],
      { stdio: "inherit", env: { ...process.env, [marker]: "1" } }
    )
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
    const onTerm = forward("SIGTERM")
    const onInt = forward("SIGINT")
    process.on("SIGTERM", onTerm)
    process.on("SIGINT", onInt)
    child.once("error", () => resume(Effect.succeed(1)))
    child.once("exit", (exitCode, signal) => {
      process.off("SIGTERM", onTerm)
      process.off("SIGINT", onInt)
      resume(Effect.succeed(exitCode ?? (signal === null ? 1 : 255)))
    })
  })
  return Option.some(code)
})
