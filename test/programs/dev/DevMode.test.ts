/**
 * `the0-runtime dev` end to end, in this process with real child processes: the controller manager and the
 * QueryServer on the embedded backends, a bot added through the admin API from the demo ticker's bundle, run by
 * the process kubelet (sync sidecar, bot, query server), queried through :9477's protocol, reconfigured (restarted
 * with the new config, state kept), disabled (stopped, final state and logs saved), and everything back after a
 * restart of `dev` on the same data directory.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, type Scope } from "effect"
import * as DevBackends from "../../../src/layers/dev/DevBackends.ts"
import * as DevApp from "../../../src/programs/dev/DevApp.ts"

const repo = (relative: string) => fileURLToPath(new URL(`../../../${relative}`, import.meta.url))

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

interface Dev {
  readonly settings: DevApp.DevSettings
  readonly admin: (method: string, route: string, body?: unknown) => Effect.Effect<{ status: number; body: unknown }>
  readonly query: (botId: string, queryPath: string) => Effect.Effect<{ status: number; body: Record<string, unknown> }>
}

const http = (url: string, method: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    const text = await response.text()
    return { status: response.status, body: JSON.parse(text) as unknown }
  })

/** Starts dev on `dataDir` in the current scope (closing the scope stops it, as Ctrl-C does). */
const startDev = (dataDir: string): Effect.Effect<Dev, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const settings: DevApp.DevSettings = {
      dataDir,
      namespace: "the0",
      host: "127.0.0.1",
      queryPort: yield* freePort,
      adminPort: yield* freePort,
      healthPort: yield* freePort,
      demo: false,
      demoDir: repo("assets/demo"),
      gracePeriodSeconds: 20
    }
    const paths = DevApp.layout(dataDir)
    const backends = DevBackends.layer({
      namespace: settings.namespace,
      objectsDir: paths.objects,
      podsDir: paths.pods,
      runtime: { file: repo("bin/the0-runtime"), args: [] },
      wrappersDir: repo("assets/wrappers")
    })
    const context = yield* Layer.build(DevApp.layer(settings, backends))
    yield* Effect.provide(DevApp.start(settings), context)
    const admin = `http://127.0.0.1:${settings.adminPort}`
    return {
      settings,
      admin: (method, route, body) => http(`${admin}${route}`, method, body),
      query: (botId, queryPath) =>
        Effect.map(
          http(`http://127.0.0.1:${settings.queryPort}/query`, "POST", { bot_id: botId, query_path: queryPath }),
          (r) => ({ status: r.status, body: r.body as Record<string, unknown> })
        )
    }
  })

/** Polls `check` every 250 ms until it returns a value, failing the test after `seconds`. */
const eventually = <A>(what: string, seconds: number, check: Effect.Effect<A | undefined>) =>
  Effect.gen(function* () {
    const deadline = Date.now() + seconds * 1000
    while (Date.now() < deadline) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("250 millis")
    }
    return yield* Effect.die(new Error(`timed out after ${seconds} s waiting for ${what}`))
  })

const stateOf = (dev: Dev, id: string) =>
  Effect.map(dev.admin("GET", `/bots/${id}`), (r) => (r.body as { state?: string }).state)

const status = (dev: Dev, id: string) =>
  Effect.map(dev.query(id, "/status"), (r) =>
    r.body.status === "ok" ? (r.body.data as { symbol: string; ticks: number; starts: number }) : undefined
  )

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
