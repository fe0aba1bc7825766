import { chmodSync, mkdtempSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { botCommand, ensureExecutable, queryCommand } from "../../../src/programs/runtime/Launchers.ts"

const argv = (command: { file: string; args: ReadonlyArray<string> }) => [command.file, ...command.args]

describe("Launchers", () => {
  it("bot commands per runtime", () => {
    const bot = (runtime: string, entrypoint: string) => argv(botCommand(runtime, entrypoint, "/bot", "/app/wrappers"))
    expect(bot("python3.11", "main.py")).toEqual(["python3", "/app/wrappers/python_bot.py"])
    expect(bot("nodejs20", "index.js")).toEqual(["node", "/app/wrappers/node_bot.js"])
    expect(bot("dotnet8", "app.dll")).toEqual(["dotnet", "app.dll"])
    expect(bot("dotnet8", "app.csproj")).toEqual(["dotnet", "run", "--project", "app.csproj"])
    for (const runtime of ["rust-stable", "gcc13", "cpp-gcc13", "ghc96"])
      expect(bot(runtime, "bot")).toEqual(["/bot/bot"])
    expect(bot("scala3", "app.jar")).toEqual(["java", "-jar", "app.jar"])
    expect(bot("scala3", "target/app.jar:com.example.QueryMain")).toEqual([
      "java",
      "-cp",
      "target/app.jar",
      "com.example.QueryMain"
    ])
    expect(bot("scala3", "C:\\app.jar")).toEqual(["java", "-jar", "C:\\app.jar"])
    expect(bot("unknown", "run.sh")).toEqual(["run.sh"])
  })

  it("query commands run the script without the wrapper", () => {
    expect(argv(queryCommand("python3.11", "query.py", "/bot"))).toEqual(["python3", "query.py"])
    expect(argv(queryCommand("nodejs20", "query.js", "/bot"))).toEqual(["node", "query.js"])
    expect(argv(queryCommand("rust-stable", "query", "/bot"))).toEqual(["/bot/query"])
  })

  it.effect("ensureExecutable makes compiled entrypoints 0755 and leaves interpreted ones alone", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(path.join(tmpdir(), "launchers-"))
      for (const name of ["bot", "query", "main.py"]) {
        writeFileSync(path.join(dir, name), "x")
        chmodSync(path.join(dir, name), 0o644)
      }
      const mode = (name: string) => statSync(path.join(dir, name)).mode & 0o777
      yield* ensureExecutable("python3.11", dir, "main.py", "")
      expect(mode("main.py")).toBe(0o644)
      yield* ensureExecutable("gcc13", dir, "bot", "query")
      expect(mode("bot")).toBe(0o755)
      expect(mode("query")).toBe(0o755)
      const error = yield* Effect.flip(ensureExecutable("rust-stable", dir, "missing", ""))
      expect(error.message).toContain("failed to chmod entrypoint")
      yield* ensureExecutable("ghc96", dir, "bot", "missing-query")
    })
  )
})
