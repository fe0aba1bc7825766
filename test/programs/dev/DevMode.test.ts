/**
 * `the0-runtime dev` end to end, in this process with real child processes: the controller manager and the
 * QueryServer on the embedded backends, a bot added through the admin API from the demo ticker's bundle, run by
 * the process kubelet (sync sidecar, bot, query server), queried through :9477's protocol, reconfigured (restarted
 * with the new config, state kept), disabled (stopped, final state and logs saved), and everything back after a
 * restart of `dev` on the same data directory.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { accepts, type Dev, eventually, repo, startDev } from "./DevHarness.ts"

const stateOf = (dev: Dev, id: string) =>
  Effect.map(dev.admin("GET", `/bots/${id}`), (r) => (r.body as { state?: string }).state)

const status = (dev: Dev, id: string) =>
  Effect.map(dev.query(id, "/status"), (r) => {
    const body = r.body as { status?: string; data?: { symbol: string; ticks: number; starts: number } }
    return body.status === "ok" ? body.data : undefined
  })

describe("the0-runtime dev end to end", () => {
  it.live(
    "add, run, query, reconfigure (state kept), disable (final state and logs saved), restart dev: all back",
    () =>
      Effect.gen(function* () {
        const dataDir = mkdtempSync(path.join(tmpdir(), "the0-dev-e2e-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
        const bundle = repo("assets/demo/realtime-ticker")

        const before = yield* Effect.scoped(
          Effect.gen(function* () {
            const dev = yield* startDev(dataDir)
            // bad input is refused with a message naming the problem
            const notZip = yield* dev.admin("POST", "/bots", { path: repo("package.json"), config: {} })
            expect(notZip.status).toBe(400)
            expect((notZip.body as { error: string }).error).toContain("is not a valid zip file")
            const noConfig = yield* dev.admin("POST", "/bots", { path: bundle, config: "x" })
            expect(noConfig.status).toBe(400)
            expect((noConfig.body as { error: string }).error).toContain('"config" must be a JSON object')
            const unknown = yield* dev.admin("POST", "/bots/nope/disable")
            expect(unknown.status).toBe(404)
            expect((unknown.body as { error: string }).error).toContain('unknown bot id "nope"')

            const added = yield* dev.admin("POST", "/bots", {
              path: bundle,
              id: "e2e-ticker",
              config: { symbol: "BTC/USD", base_price: 100, interval_ms: 200 }
            })
            expect(added.status).toBe(201)
            yield* eventually(
              "the bot running",
              90,
              Effect.map(stateOf(dev, "e2e-ticker"), (s) => (s === "running" ? s : undefined))
            )
            const first = yield* eventually("an answer to /status", 30, status(dev, "e2e-ticker"))
            expect(first).toMatchObject({ symbol: "BTC/USD", starts: 1 })
            // the Pod's listeners (the bot's query server, the sidecar's /readyz) are on loopback only:
            // 127.0.0.2, also loopback on Linux, is not answered
            const ports = yield* dev.podPorts
            expect(ports.length).toBeGreaterThanOrEqual(2)
            for (const port of ports) {
              expect(yield* accepts("127.0.0.1", port), String(port)).toBe(true)
              expect(yield* accepts("127.0.0.2", port), String(port)).toBe(false)
            }

            const changed = yield* dev.admin("PUT", "/bots/e2e-ticker/config", {
              config: { symbol: "ETH/USD", base_price: 100, interval_ms: 200 }
            })
            expect(changed.status).toBe(200)
            const restarted = yield* eventually(
              "the bot restarted with the new config",
              90,
              Effect.map(status(dev, "e2e-ticker"), (s) => (s?.symbol === "ETH/USD" ? s : undefined))
            )
            expect(restarted.starts).toBe(2)
            expect(restarted.ticks).toBeGreaterThanOrEqual(first.ticks)

            const disabled = yield* dev.admin("POST", "/bots/e2e-ticker/disable")
            expect(disabled.status).toBe(200)
            yield* eventually(
              "the bot stopped",
              60,
              Effect.map(stateOf(dev, "e2e-ticker"), (s) => (s === "stopped" ? s : undefined))
            )
            const logs = yield* dev.admin("GET", "/bots/e2e-ticker/logs?tail=1000")
            const lines = (logs.body as { lines: ReadonlyArray<string> }).lines.join("\n")
            expect(lines).toContain("ticker started")
            expect(lines).toContain("ticker stopping")
            return restarted
          })
        )

        yield* Effect.scoped(
          Effect.gen(function* () {
            const dev = yield* startDev(dataDir)
            const listed = yield* dev.admin("GET", "/bots")
            expect(listed.body).toMatchObject([{ id: "e2e-ticker", enabled: false, state: "stopped" }])
            yield* dev.admin("POST", "/bots/e2e-ticker/enable")
            const back = yield* eventually(
              "the bot back with its state",
              90,
              Effect.map(status(dev, "e2e-ticker"), (s) => (s !== undefined && s.starts === 3 ? s : undefined))
            )
            expect(back.symbol).toBe("ETH/USD")
            expect(back.ticks).toBeGreaterThanOrEqual(before.ticks)
          })
        )
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)),
    300_000
  )
})
