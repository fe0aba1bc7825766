/**
 * The in-Pod runtime against the testbed's MinIO, through the real CLI (`bin/the0-runtime`): a Node bot as the
 * generated Pods run it (the `restore` init container, the sync sidecar, the bot and query-server containers without
 * MinIO variables), a Python bot on the0's SDK (the `the0-sdk` package from PyPI, vendored into the bundle with pip
 * as the0's CLI does) through `execute` on its own (the0's single-container modes), one-shot queries, the query
 * server, and SIGTERM leading to a clean stop with the final state saved.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  buckets,
  type Container,
  freePort,
  getJson,
  getObject,
  logRecords,
  pod,
  removeWork,
  restoreArgs,
  run,
  start,
  storedState,
  uploadFixtureBots,
  waitFor,
  withoutStore
} from "./support/PodWorld.ts"

/** `daemon sync` as the Pods' `sync` sidecar runs it, for `container`'s volumes. */
const syncArgs = (container: Container, readinessPort: number) => [
  "daemon",
  "sync",
  "--bot-id",
  container.env.BOT_ID ?? "",
  "--state-path",
  container.dirs.state,
  "--logs-path",
  container.dirs.logs,
  "--readiness-port",
  String(readinessPort)
]

const readyz = (port: number) =>
  fetch(`http://127.0.0.1:${port}/readyz`).then(
    (r) => r.status,
    () => 0
  )

beforeAll(uploadFixtureBots, 120_000)
afterAll(removeWork)

describe("in-Pod runtime on MinIO", () => {
  it("a scheduled Node bot: code downloaded, state restored and saved, logs appended as NDJSON", async () => {
    const botEnv = {
      BOT_ID: `${run}-node-sched`,
      RUNTIME: "nodejs20",
      ENTRYPOINT: "main.js",
      CODE_FILE: "user/node-bot/1.0.0",
      BOT_CONFIG: '{"symbol":"BTC/USD"}',
      BOT_TYPE: "scheduled",
      IS_SCHEDULED: "true"
    }
    // as the CronJob's run Pod runs it: restore, the sync sidecar, the bot container without credentials; the
    // kubelet stops the sidecar once the bot has ended, and its final sync saves the state the next run starts from
    for (const attempt of [1, 2]) {
      const container = pod(`node-sched-${attempt}`, botEnv)
      const restore = start(restoreArgs(container), container.env)
      expect(await restore.exit, restore.output()).toBe(0)
      const readinessPort = await freePort()
      const sidecar = start(syncArgs(container, readinessPort), container.env)
      await waitFor(async () => (await readyz(readinessPort)) === 200, "sidecar readiness")
      const execution = start(
        ["execute", "--skip-sync", "--skip-query-server", "--skip-download"],
        withoutStore(container.env)
      )
      expect(await execution.exit, execution.output()).toBe(0)
      expect(readFileSync(container.env.THE0_DONE_FILE ?? "", "utf8")).toBe("0")
      sidecar.child.kill("SIGTERM")
      expect(await sidecar.exit, sidecar.output()).toBe(0)
    }
    expect(await storedState(botEnv.BOT_ID)).toEqual({ runs: 2 })
    const records = await logRecords(botEnv.BOT_ID)
    expect(records.filter((record) => record.message === `plain text line from ${botEnv.BOT_ID}`)).toHaveLength(2)
    expect(records).toContainEqual({
      _metric: "price",
      symbol: "BTC/USD",
      value: 42,
      timestamp: "2026-01-01T00:00:00.000Z"
    })
    for (const record of records) expect(typeof record.timestamp).toBe("string")
  })

  it("a realtime Node bot as its Pod runs it: restore, sidecar, bot container, query server; SIGTERM stops it cleanly", async () => {
    const botId = `${run}-node-rt`
    const queryPort = await freePort()
    const readinessPort = await freePort()
    const container = pod("node-rt", {
      BOT_ID: botId,
      RUNTIME: "nodejs20",
      ENTRYPOINT: "main.js",
      QUERY_ENTRYPOINT: "query.js",
      CODE_FILE: "user/node-bot/1.0.0",
      BOT_CONFIG: '{"symbol":"ETH/USD","mode":"loop","interval":20}',
      BOT_TYPE: "realtime",
      THE0_QUERY_PORT: String(queryPort)
    })
    const restore = start(restoreArgs(container), container.env)
    expect(await restore.exit, restore.output()).toBe(0)
    const sidecar = start(syncArgs(container, readinessPort), container.env)
    await waitFor(async () => (await readyz(readinessPort)) === 200, "sidecar readiness")
    const bot = start(["execute", "--skip-sync", "--skip-query-server", "--skip-download"], withoutStore(container.env))
    const queryServer = start(["execute", "--query-server-only", "--skip-download"], withoutStore(container.env))
    await waitFor(async () => typeof (await storedState(botId)).ticks === "number", "state in MinIO")
    const answer = await waitFor(
      async () =>
        (await getJson(`http://127.0.0.1:${queryPort}/status?symbol=X`).catch(() => ({ status: 0 }))).status === 200,
      "query server"
    )
    expect(answer).toBeGreaterThanOrEqual(0)
    expect(await getJson(`http://127.0.0.1:${queryPort}/status?symbol=X`)).toEqual({
      status: 200,
      body: { status: "ok", data: { botId, runs: 1, symbol: "X" } }
    })
    bot.child.kill("SIGTERM")
    queryServer.child.kill("SIGTERM")
    expect(await bot.exit, bot.output()).toBe(1)
    expect(await queryServer.exit).toBe(1)
    sidecar.child.kill("SIGTERM")
    expect(await sidecar.exit, sidecar.output()).toBe(0)
    const state = await storedState(botId)
    expect(state.stopped).toBe(true)
    const records = await logRecords(botId)
    const messages = records.map((record) => record.message)
    expect(messages).toContain("stopping on signal")
    expect(messages).toContain("SIGNAL: Received SIGTERM, triggering abort.")
    expect(sidecar.output()).toContain('"msg":"Final sync"')
  })

  it("a Python bot on the0's SDK: runs, its state and logs saved; one-shot query uploaded; query server answers", async () => {
    const botId = `${run}-py`
    const botEnv = {
      BOT_ID: botId,
      RUNTIME: "python3.11",
      ENTRYPOINT: "main.py",
      CODE_FILE: "user/python-bot/1.0.0",
      BOT_CONFIG: '{"symbol":"BTC/USD"}'
    }
    const scheduled = pod("py-sched", { ...botEnv, BOT_TYPE: "scheduled", IS_SCHEDULED: "true" })
    const execution = start(["execute", "--skip-query-server"], scheduled.env)
    expect(await execution.exit, execution.output()).toBe(0)
    expect(await storedState(botId)).toEqual({ runs: 1 })
    const records = await logRecords(botId)
    expect(records.some((record) => record.message === `python sdk bot ${botId} run 1`)).toBe(true)
    expect(records.some((record) => record._metric === "price" && record.symbol === "BTC/USD")).toBe(true)
    expect(records.some((record) => record.level === "info" && record.message === "started")).toBe(true)

    // The SDK writes one-shot results to /query/result.json, its fixed path.
    mkdirSync("/query", { recursive: true })
    const resultKey = `${botId}/1-abc/result.json`
    const queryJob = pod("py-query", {
      ...botEnv,
      ENTRYPOINT: "query.py",
      QUERY_PATH: "/status",
      QUERY_PARAMS: '{"symbol":"DOGE"}',
      QUERY_RESULT_KEY: resultKey,
      THE0_QUERY_DIR: "/query"
    })
    const query = start(["execute", "--skip-sync", "--skip-query-server"], queryJob.env)
    expect(await query.exit, query.output()).toBe(0)
    expect(
      JSON.parse((await getObject(buckets.MINIO_QUERY_RESULTS_BUCKET, resultKey))?.toString("utf8") ?? "")
    ).toEqual({
      status: "ok",
      data: { runs: 1, symbol: "DOGE" }
    })

    const queryPort = await freePort()
    const realtime = pod("py-rt", {
      ...botEnv,
      QUERY_ENTRYPOINT: "query.py",
      BOT_TYPE: "realtime",
      THE0_QUERY_PORT: String(queryPort)
    })
    const server = start(["execute", "--query-server-only"], { ...realtime.env })
    await waitFor(
      async () =>
        (await getJson(`http://127.0.0.1:${queryPort}/status?symbol=ADA`).catch(() => ({ status: 0 }))).status === 200,
      "python query server",
      90_000
    )
    expect(await getJson(`http://127.0.0.1:${queryPort}/status?symbol=ADA`)).toEqual({
      status: 200,
      body: { status: "ok", data: { runs: 1, symbol: "ADA" } }
    })
    server.child.kill("SIGTERM")
    expect(await server.exit).toBe(1)
    expect(existsSync(path.join(realtime.dirs.code, "vendor/the0/__init__.py"))).toBe(true)
  }, 180_000)

  it("daemon sync without MinIO settings exits 1 naming MINIO_ENDPOINT", async () => {
    const container = pod("no-minio", {})
    const { MINIO_ENDPOINT: _omit, ...withoutEndpoint } = container.env
    const daemon = start(
      ["daemon", "sync", "--bot-id", "x", "--state-path", container.dirs.state, "--logs-path", container.dirs.logs],
      withoutEndpoint
    )
    expect(await daemon.exit).toBe(1)
    expect(daemon.output()).toContain("Error: failed to load storage config: MINIO_ENDPOINT is required")
  })
})
