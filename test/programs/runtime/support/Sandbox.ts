/** Per-test directories standing in for a bot container's volumes, and the settings `execute` would read. */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { ConfigProvider, Effect } from "effect"
import {
  defaultFlags,
  type ExecuteFlags,
  type ExecuteSettings,
  executeSettings
} from "../../../../src/programs/runtime/ExecuteSettings.ts"

export const repoRoot = path.resolve(import.meta.dirname, "../../../..")
export const wrappersDir = path.join(repoRoot, "assets/wrappers")
export const fixtureDir = (name: string): string => path.join(repoRoot, "test/fixtures/bots", name)

export interface Sandbox {
  readonly root: string
  readonly codePath: string
  readonly statePath: string
  readonly logsPath: string
  readonly queryDir: string
  readonly doneFile: string
}

/** Fresh directories for the life of the scope. */
export const sandbox = Effect.acquireRelease(
  Effect.sync((): Sandbox => {
    const root = mkdtempSync(path.join(tmpdir(), "the0-runtime-test-"))
    return {
      root,
      codePath: path.join(root, "bot"),
      statePath: path.join(root, "state"),
      logsPath: path.join(root, "var/the0/logs"),
      queryDir: path.join(root, "query"),
      doneFile: path.join(root, "var/the0/done")
    }
  }),
  (box) => Effect.sync(() => rmSync(box.root, { recursive: true, force: true }))
)

/** The env a bot container gets (BotPod.ts), pointing at the sandbox, plus `extra`. */
export const podEnv = (box: Sandbox, extra: Record<string, string>): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: box.root,
  CODE_PATH: box.codePath,
  STATE_PATH: box.statePath,
  LOGS_PATH: box.logsPath,
  STATE_DIR: path.join(box.statePath, ".the0-state"),
  THE0_WRAPPERS_DIR: wrappersDir,
  THE0_QUERY_DIR: box.queryDir,
  THE0_DONE_FILE: box.doneFile,
  THE0_STOP_GRACE_SECONDS: "5",
  MINIO_ACCESS_KEY: "secret-access",
  MINIO_SECRET_KEY: "secret-secret",
  ...extra
})

export const settingsFor = (
  box: Sandbox,
  extra: Record<string, string>,
  flags: Partial<ExecuteFlags> = {}
): ExecuteSettings => {
  const env = podEnv(box, extra)
  return Effect.runSync(executeSettings({ ...defaultFlags, ...flags }, env).pipe(withEnv(env)))
}

/** Runs `effect` with `env` as the environment its Config reads. */
export const withEnv =
  (env: Readonly<Record<string, string>>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map(Object.entries(env))))
