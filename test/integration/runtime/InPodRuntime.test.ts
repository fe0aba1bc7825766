/**
 * The in-Pod runtime against the testbed's MinIO, through the real CLI (`bin/the0-runtime`), as the Pods run it:
 * a Node bot and a Python bot on the0's SDK (the `the0-sdk` package from PyPI, vendored into the bundle with pip as
 * the0's CLI does), the sync sidecar beside a `--skip-sync` bot container, one-shot queries, the query server, and
 * SIGTERM leading to a clean stop with the final state saved.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Readable } from "node:stream"
import { gunzipSync } from "node:zlib"
import * as Minio from "minio"
import * as tar from "tar-stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { zipDirectory } from "../../programs/runtime/support/Zip.ts"
import { requireEnv, uniqueName } from "../testbed/env.ts"

const env = requireEnv("MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_USE_SSL")
const repo = path.resolve(import.meta.dirname, "../../..")
const cli = path.join(repo, "bin/the0-runtime")

const [host = "127.0.0.1", port = "9000"] = env.MINIO_ENDPOINT.split(":")
const s3 = new Minio.Client({
  endPoint: host,
  port: Number(port),
  useSSL: env.MINIO_USE_SSL === "true",
  accessKey: env.MINIO_ACCESS_KEY,
  secretKey: env.MINIO_SECRET_KEY
})

const run = uniqueName("rt")
const buckets = {
  MINIO_CODE_BUCKET: `${run}-code`,
  MINIO_STATE_BUCKET: `${run}-state`,
  MINIO_LOGS_BUCKET: `${run}-logs`,
  MINIO_QUERY_RESULTS_BUCKET: `${run}-results`
}
const work = mkdtempSync(path.join(tmpdir(), "the0-rt-it-"))

const readAll = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const getObject = async (bucket: string, key: string): Promise<Buffer | undefined> =>
  s3.getObject(bucket, key).then(readAll, () => undefined)

const parseOrPartial = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return { partial: body }
  }
}

/** The `.the0-state/<key>.json` values in a bot's stored state archive. */
const storedState = async (botId: string): Promise<Record<string, unknown>> => {
  const archive = await getObject(buckets.MINIO_STATE_BUCKET, `${botId}/state.tar.gz`)
  if (archive === undefined) return {}
  const extract = tar.extract()
  Readable.from([gunzipSync(archive)]).pipe(extract)
  const values: Record<string, unknown> = {}
  for await (const entry of extract) {
    const body = await readAll(entry as unknown as NodeJS.ReadableStream)
    const match = /^\.the0-state\/(.+)\.json$/.exec(entry.header.name)
    // The SDK writes state files in place, so a snapshot taken mid-write can hold a partial file.
    if (match?.[1] !== undefined) values[match[1]] = parseOrPartial(body.toString("utf8"))
  }
  return values
}

/** The records of a bot's daily log objects, in order. */
const logRecords = async (botId: string): Promise<Array<Record<string, unknown>>> => {
  const keys: Array<string> = []
  for await (const item of s3.listObjectsV2(buckets.MINIO_LOGS_BUCKET, `logs/${botId}/`, true)) {
    const name = (item as { name?: string }).name
    if (name !== undefined) keys.push(name)
  }
  const records: Array<Record<string, unknown>> = []
  for (const key of keys.sort()) {
    const body = (await getObject(buckets.MINIO_LOGS_BUCKET, key))?.toString("utf8") ?? ""
    for (const line of body.split("\n")) if (line !== "") records.push(JSON.parse(line) as Record<string, unknown>)
  }
  return records
}

interface Container {
  readonly dirs: { code: string; state: string; logs: string; query: string }
  readonly env: Record<string, string>
}

/** Directories for one Pod's volumes and the env its containers share. */
const pod = (name: string, botEnv: Record<string, string>): Container => {
  const root = path.join(work, name)
  const dirs = {
    code: path.join(root, "bot"),
    state: path.join(root, "state"),
    logs: path.join(root, "var/the0/logs"),
    query: path.join(root, "query")
  }
  return {
    dirs,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: root,
      ...buckets,
      MINIO_ENDPOINT: env.MINIO_ENDPOINT,
      MINIO_ACCESS_KEY: env.MINIO_ACCESS_KEY,
      MINIO_SECRET_KEY: env.MINIO_SECRET_KEY,
      MINIO_USE_SSL: env.MINIO_USE_SSL,
      CODE_PATH: dirs.code,
      STATE_PATH: dirs.state,
      LOGS_PATH: dirs.logs,
      STATE_DIR: path.join(dirs.state, ".the0-state"),
      THE0_WRAPPERS_DIR: path.join(repo, "assets/wrappers"),
      THE0_QUERY_DIR: dirs.query,
      THE0_DONE_FILE: path.join(root, "var/the0/done"),
      ...botEnv
    }
  }
}

interface Running {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exit: Promise<number>
}

const start = (args: ReadonlyArray<string>, childEnv: Record<string, string>): Running => {
  const child = spawn(process.execPath, [cli, ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8")
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8")
  })
  const exit = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)))
  )
  return { child, output: () => output, exit }
}

const waitFor = async (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<number> => {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return Date.now() - started
}

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const bound = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(bound))
    })
  })

const getJson = async (url: string): Promise<{ status: number; body: unknown }> => {
  const response = await fetch(url)
  return { status: response.status, body: await response.json() }
}

beforeAll(async () => {
  await s3.makeBucket(buckets.MINIO_CODE_BUCKET)
  await s3.putObject(
    buckets.MINIO_CODE_BUCKET,
    "user/node-bot/1.0.0",
    Buffer.from(zipDirectory(path.join(repo, "test/fixtures/bots/node-bot")))
  )
  const pythonBundle = path.join(work, "python-bundle")
  cpSync(path.join(repo, "test/fixtures/bots/python-sdk"), pythonBundle, { recursive: true })
  execFileSync(
    "python3",
    [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--no-deps",
      "--target",
      path.join(pythonBundle, "vendor"),
      "-r",
      path.join(pythonBundle, "requirements.txt")
    ],
    { stdio: "inherit" }
  )
  await s3.putObject(buckets.MINIO_CODE_BUCKET, "user/python-bot/1.0.0", Buffer.from(zipDirectory(pythonBundle)))
}, 120_000)

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

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
    for (const attempt of [1, 2]) {
      const container = pod(`node-sched-${attempt}`, botEnv)
      const execution = start(["execute", "--skip-query-server"], container.env)
      expect(await execution.exit, execution.output()).toBe(0)
      expect(readFileSync(container.env.THE0_DONE_FILE ?? "", "utf8")).toBe("0")
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

  it("a realtime Node bot as its Pod runs it: sidecar, bot container, query server; SIGTERM stops it cleanly", async () => {
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
    const sidecar = start(
      [
        "daemon",
        "sync",
        "--bot-id",
        botId,
        "--state-path",
        container.dirs.state,
        "--logs-path",
        container.dirs.logs,
        "--readiness-port",
        String(readinessPort)
      ],
      container.env
    )
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${readinessPort}/readyz`).then(
          (r) => r.status,
          () => 0
        )) === 200,
      "sidecar readiness"
    )
    const bot = start(["execute", "--skip-sync", "--skip-query-server"], container.env)
    const queryServer = start(["execute", "--query-server-only"], container.env)
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
