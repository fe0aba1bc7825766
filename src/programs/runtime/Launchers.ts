/**
 * The commands that run a bot or a query per runtime id (docs/contracts.md, "Bot processes"), and `EnsureExecutable` (docs/contracts.md, "Runtime commands").
 * Python and Node bots go through our wrappers; compiled bots run directly; the working directory is the code path.
 */
import { chmod } from "node:fs/promises"
import * as path from "node:path"
import { Data, Effect } from "effect"

export interface Command {
  readonly file: string
  readonly args: ReadonlyArray<string>
}

export const pythonWrapper = "python_bot.py"
export const nodeWrapper = "node_bot.js"

const compiledRuntimes = new Set(["rust-stable", "gcc13", "cpp-gcc13", "ghc96"])

/** Scala's `jar:MainClass`: a `:` after index 0 whose rest does not start with `:\` (a Windows drive). */
const scalaCommand = (entrypoint: string): Command => {
  const colon = entrypoint.lastIndexOf(":")
  if (colon > 0 && !entrypoint.slice(colon).startsWith(":\\")) {
    return { file: "java", args: ["-cp", entrypoint.slice(0, colon), entrypoint.slice(colon + 1)] }
  }
  return { file: "java", args: ["-jar", entrypoint] }
}

const directCommand = (runtime: string, entrypoint: string, codePath: string): Command => {
  if (runtime === "dotnet8") {
    return entrypoint.endsWith(".dll")
      ? { file: "dotnet", args: [entrypoint] }
      : { file: "dotnet", args: ["run", "--project", entrypoint] }
  }
  if (compiledRuntimes.has(runtime)) return { file: path.join(codePath, entrypoint), args: [] }
  if (runtime === "scala3") return scalaCommand(entrypoint)
  return { file: entrypoint, args: [] }
}

/** The bot process: the wrapper for Python and Node (the entrypoint goes through `SCRIPT_PATH`). */
export const botCommand = (runtime: string, entrypoint: string, codePath: string, wrappersDir: string): Command => {
  if (runtime === "python3.11") return { file: "python3", args: [path.join(wrappersDir, pythonWrapper)] }
  if (runtime === "nodejs20") return { file: "node", args: [path.join(wrappersDir, nodeWrapper)] }
  return directCommand(runtime, entrypoint, codePath)
}

/** A query process: the script itself, without the wrapper. */
export const queryCommand = (runtime: string, entrypoint: string, codePath: string): Command => {
  if (runtime === "python3.11") return { file: "python3", args: [entrypoint] }
  if (runtime === "nodejs20") return { file: "node", args: [entrypoint] }
  return directCommand(runtime, entrypoint, codePath)
}

export class ChmodError extends Data.TaggedError("ChmodError")<{ readonly file: string; readonly cause: unknown }> {
  override get message(): string {
    return `failed to chmod entrypoint ${this.file}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/**
 * Zips lose the exec bit: for compiled runtimes, make the entrypoint executable (an error is
 * returned) and the query entrypoint too when given (its error is ignored).
 */
export const ensureExecutable = (
  runtime: string,
  codePath: string,
  entrypoint: string,
  queryEntrypoint: string
): Effect.Effect<void, ChmodError> =>
  compiledRuntimes.has(runtime)
    ? Effect.gen(function* () {
        const file = path.join(codePath, entrypoint)
        yield* Effect.tryPromise({ try: () => chmod(file, 0o755), catch: (cause) => new ChmodError({ file, cause }) })
        if (queryEntrypoint !== "") {
          yield* Effect.promise(() => chmod(path.join(codePath, queryEntrypoint), 0o755).catch(() => undefined))
        }
      })
    : Effect.void
