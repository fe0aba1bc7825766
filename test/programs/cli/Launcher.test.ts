/**
 * The launcher (bin/the0-runtime) picks each command's bundle and its process tuning (docs/operations.md,
 * "Controller footprint"). A stand-in for node (THE0_NODE) prints what it was given.
 */
import { execFileSync } from "node:child_process"
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const launcher = new URL("../../../bin/the0-runtime", import.meta.url).pathname
const fakeNode = join(mkdtempSync(join(tmpdir(), "launcher-")), "node")
writeFileSync(
  fakeNode,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell script's parameter expansions
  '#!/bin/sh\nprintf "%s\\n%s\\n%s\\n%s\\n" "${NODE_OPTIONS-unset}" "${MALLOC_ARENA_MAX-unset}" "${MALLOC_TRIM_THRESHOLD_-unset}" "$*"\n'
)
chmodSync(fakeNode, 0o755)

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const { NODE_OPTIONS: _n, MALLOC_ARENA_MAX: _m, MALLOC_TRIM_THRESHOLD_: _t, ...rest } = process.env
  const [nodeOptions, arenas, trim, argv] = execFileSync(launcher, args, {
    env: { ...rest, ...env, THE0_NODE: fakeNode }
  })
    .toString()
    .split("\n")
  return { nodeOptions, arenas, trim, argv: argv ?? "" }
}

describe("the launcher", () => {
  it("starts the controller with a smaller young generation and glibc's memory handed back", () => {
    const started = run(["controller", "--namespace=x"])
    expect(started).toMatchObject({ nodeOptions: "--max-semi-space-size=8", arenas: "2", trim: "131072" })
    expect(started.argv).toMatch(/controller(\.mjs|\.ts) controller --namespace=x$/)
    // the0's chart puts its persistent flags first
    expect(run(["--mongo-uri", "mongodb://m", "controller"]).nodeOptions).toBe("--max-semi-space-size=8")
  })

  it("lets the operator's own values win", () => {
    expect(
      run(["controller"], {
        NODE_OPTIONS: "--max-semi-space-size=16",
        MALLOC_ARENA_MAX: "4",
        MALLOC_TRIM_THRESHOLD_: "1"
      })
    ).toMatchObject({ nodeOptions: "--max-semi-space-size=8 --max-semi-space-size=16", arenas: "4", trim: "1" })
  })

  it("leaves the other commands' environment alone", () => {
    for (const command of ["execute", "gc", "dev"])
      expect(run([command])).toMatchObject({ nodeOptions: "unset", arenas: "unset", trim: "unset" })
    expect(run(["execute"]).argv).toMatch(/^--lite-mode --no-expose-wasm /)
  })
})
