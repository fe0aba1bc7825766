/**
 * A bot that cannot run is `failed` with the reason in `dev list` and `dev show` (README.md, "Dev mode"), not
 * "starting" or "pending" for ever: a config the controller cannot build a Pod from (a request above its limit),
 * and a config too large for a process's environment (one variable over 128 KiB: the spawn fails with E2BIG).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { table, type View } from "../../../src/programs/cli/Dev.ts"
import { type Dev, eventually, repo, startDev } from "./DevHarness.ts"

const bundle = repo("assets/demo/realtime-ticker")

const failed = (dev: Dev, id: string) =>
  Effect.map(dev.admin("GET", `/bots/${id}`), (r) => {
    const view = r.body as View
    return view.state === "failed" ? view : undefined
  })

describe("dev shows why a bot cannot run", () => {
  it.live(
    "a Pod the controller cannot build, a container that cannot be started: failed, with the reason",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(path.join(tmpdir(), "the0-dev-failures-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const dev = yield* startDev(dataDir)
        const unbuildable = yield* dev.admin("POST", "/bots", {
          path: bundle,
          id: "unbuildable",
          config: { memory_request: "2Gi", memory_limit: "1Gi" }
        })
        expect(unbuildable.status).toBe(201)
        // under the 256 KiB the admin API accepts, over the 128 KiB one variable (BOT_CONFIG) may have
        const huge = yield* dev.admin("POST", "/bots", {
          path: bundle,
          id: "huge-env",
          config: { blob: "x".repeat(200 * 1024) }
        })
        expect(huge.status).toBe(201)

        const shown = yield* eventually("unbuildable failed", 60, failed(dev, "unbuildable"))
        expect(shown.reason).toBe(
          'the controller cannot build its Pod: config.memory_request: memory request "2Gi" must be less than or equal to the memory limit "1Gi"'
        )
        const cannotStart = yield* eventually("huge-env failed", 60, failed(dev, "huge-env"))
        expect(cannotStart.reason).toMatch(/^container [a-z-]+: RunContainerError: cannot start .+: spawn E2BIG$/)

        const listed = (yield* dev.admin("GET", "/bots")).body as ReadonlyArray<View>
        expect(listed.map((v) => [v.id, v.state, v.reason])).toEqual([
          ["unbuildable", "failed", shown.reason],
          ["huge-env", "failed", cannotStart.reason]
        ])
        const printed = table(listed)
        expect(printed).toContain(`unbuildable: failed: ${shown.reason}`)
        expect(printed).toContain(`huge-env: failed: ${cannotStart.reason}`)
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)),
    180_000
  )
})
