/**
 * A Pod's processes run by hand against the testbed's MinIO, as the generated Pods run them: per-run buckets, the
 * fixture bots' bundles uploaded, per-Pod volume directories and the env the containers share, the real CLI
 * (`bin/the0-runtime`) started with it, and readers of what ends up in MinIO.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as Minio from "minio"
import { zipDirectory } from "../../../programs/runtime/support/Zip.ts"
import { requireEnv, uniqueName } from "../../testbed/env.ts"
import type { Group } from "./Cgroup.ts"
import { pythonSdkBundle } from "./PythonSdkBundle.ts"
import { readAll, storedStateIn } from "./StoredState.ts"

const env = requireEnv("MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_USE_SSL")
export const repo = path.resolve(import.meta.dirname, "../../../..")
export const cli = path.join(repo, "bin/the0-runtime")

const [host = "127.0.0.1", port = "9000"] = env.MINIO_ENDPOINT.split(":")
const s3 = new Minio.Client({
  endPoint: host,
  port: Number(port),
  useSSL: env.MINIO_USE_SSL === "true",
  accessKey: env.MINIO_ACCESS_KEY,
  secretKey: env.MINIO_SECRET_KEY
})

export const run = uniqueName("rt")
export const buckets = {
  MINIO_CODE_BUCKET: `${run}-code`,
  MINIO_STATE_BUCKET: `${run}-state`,
  MINIO_LOGS_BUCKET: `${run}-logs`,
  MINIO_QUERY_RESULTS_BUCKET: `${run}-results`
}
export const work = mkdtempSync(path.join(tmpdir(), "the0-rt-it-"))

export const getObject = async (bucket: string, key: string): Promise<Buffer | undefined> =>
  s3.getObject(bucket, key).then(readAll, () => undefined)

export const putObject = async (bucket: string, key: string, body: Buffer): Promise<void> => {
  if (!(await s3.bucketExists(bucket))) await s3.makeBucket(bucket)
  await s3.putObject(bucket, key, body)
}

/** The `.the0-state/<key>.json` values in a bot's stored state archive. */
export const storedState = (botId: string): Promise<Record<string, unknown>> =>
  storedStateIn(s3, buckets.MINIO_STATE_BUCKET, `${botId}/state.tar.gz`)

/** The records of a bot's daily log objects, in order. */
export const logRecords = async (botId: string): Promise<Array<Record<string, unknown>>> => {
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

export interface Container {
  readonly dirs: { code: string; state: string; logs: string; query: string }
  readonly env: Record<string, string>
}

/** Directories for one Pod's volumes and the env its containers share. */
export const pod = (name: string, botEnv: Record<string, string>): Container => {
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

/** The env of a Pod's `bot` and `query-server` containers: the shared env without any `MINIO_*` variable. */
export const withoutStore = (env: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith("MINIO_")))

/** `daemon restore`, the Pod's `restore` init container, for `container`'s volumes. */
export const restoreArgs = (container: Container): Array<string> => [
  "daemon",
  "restore",
  "--bot-id",
  container.env.BOT_ID ?? "",
  "--code-path",
  container.dirs.code,
  "--state-path",
  container.dirs.state,
  "--code-file",
  container.env.CODE_FILE ?? ""
]

export interface Running {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exit: Promise<number>
}

/** Starts the CLI with `args` and `childEnv`, inside `group` (a container's cgroups) when one is given. */
export const start = (args: ReadonlyArray<string>, childEnv: Record<string, string>, group?: Group): Running => {
  const [command, argv] = group === undefined ? [cli, [...args]] : group.wrap(cli, args)
  const child = spawn(command, argv, { env: childEnv, stdio: ["ignore", "pipe", "pipe"] })
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

export const waitFor = async (
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 20_000
): Promise<number> => {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return Date.now() - started
}

export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const bound = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(bound))
    })
  })

export const getJson = async (url: string): Promise<{ status: number; body: unknown }> => {
  const response = await fetch(url)
  return { status: response.status, body: await response.json() }
}

/** Makes the run's code bucket and uploads the Node fixture bot and the Python SDK bot (vendored with pip). */
export const uploadFixtureBots = async (): Promise<void> => {
  await s3.makeBucket(buckets.MINIO_CODE_BUCKET)
  await s3.putObject(
    buckets.MINIO_CODE_BUCKET,
    "user/node-bot/1.0.0",
    Buffer.from(zipDirectory(path.join(repo, "test/fixtures/bots/node-bot")))
  )
  const pythonBundle = path.join(work, "python-bundle")
  pythonSdkBundle(pythonBundle)
  await s3.putObject(buckets.MINIO_CODE_BUCKET, "user/python-bot/1.0.0", Buffer.from(zipDirectory(pythonBundle)))
}

/** Deletes the run's directories. */
export const removeWork = (): void => rmSync(work, { recursive: true, force: true })
