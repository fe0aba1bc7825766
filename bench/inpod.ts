/**
 * What each in-Pod process costs (docs/operations.md, "In-pod footprint"), run through `bin/the0-runtime` as the
 * image runs it, against the testbed's MinIO, beside a bare `node` measured in the same run so that a busy machine
 * does not move the verdict:
 *
 * - steady RSS of `daemon sync` and of the `execute` processes themselves (bot child excluded) ≤ bare node + 24 MiB;
 * - CPU from exec to `/readyz` answering, for `daemon sync`, ≤ 5 × a bare `node -e 0` start;
 * - peak RSS of `daemon sync` while it uploads a 10 MiB state change ≤ 96 MiB.
 *
 *   eval "$(scripts/testbed/testbed env)"; npx tsx bench/inpod.ts [runs]
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as Minio from "minio"
import { zipDirectory } from "../test/programs/runtime/support/Zip.ts"

const runs = Number(process.argv[2] ?? 5)
const repo = path.resolve(import.meta.dirname, "..")
const cli = path.join(repo, "bin/the0-runtime")
const mib = 1024 * 1024
const ticksPerSecond = Number(spawnSync("getconf", ["CLK_TCK"]).stdout.toString().trim() || "100")

const required = ["MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"] as const
for (const name of required) {
  if (!process.env[name]) {
    console.error(`${name} is not set: start the testbed's MinIO and eval "$(scripts/testbed/testbed env)"`)
    process.exit(2)
  }
}
const [host = "127.0.0.1", port = "9000"] = (process.env.MINIO_ENDPOINT ?? "").split(":")
const s3 = new Minio.Client({
  endPoint: host,
  port: Number(port),
  useSSL: process.env.MINIO_USE_SSL === "true",
  accessKey: process.env.MINIO_ACCESS_KEY ?? "",
  secretKey: process.env.MINIO_SECRET_KEY ?? ""
})
const tag = `bench-inpod-${Date.now().toString(36)}`
const buckets = {
  MINIO_CODE_BUCKET: `${tag}-code`,
  MINIO_STATE_BUCKET: `${tag}-state`,
  MINIO_LOGS_BUCKET: `${tag}-logs`,
  MINIO_QUERY_RESULTS_BUCKET: `${tag}-results`
}
const work = mkdtempSync(path.join(tmpdir(), "the0-bench-inpod-"))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
const statusOf = (pid: number) => readFileSync(`/proc/${pid}/status`, "utf8")
const kib = (field: string, pid: number) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(statusOf(pid))?.[1] ?? 0)
const rss = (pid: number) => kib("VmRSS", pid) / 1024
const peak = (pid: number) => kib("VmHWM", pid) / 1024
/** CPU seconds of a process and of the children it has waited for (fields 14-17 of /proc/PID/stat). */
const cpuSeconds = (pid: number | "self") => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0) / ticksPerSecond
}

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const started: Array<{ child: ChildProcess; log: string }> = []
const launch = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) => {
  const log = path.join(work, `process-${started.length}.log`)
  const fd = openSync(log, "w")
  const child = spawn(command, [...args], { env, stdio: ["ignore", fd, fd] })
  closeSync(fd)
  started.push({ child, log })
  return child
}
const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGTERM")
  await exited
}

/** Steady RSS: the median of ten samples over 2 s, taken after the process has run `settleMs`. */
const steadyRss = async (pid: number, settleMs = 5_000) => {
  await sleep(settleMs)
  const samples: Array<number> = []
  for (let i = 0; i < 10; i++) {
    samples.push(rss(pid))
    await sleep(200)
  }
  return median(samples)
}

const until = async (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000) => {
  const t0 = Date.now()
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

const podEnv = (name: string, bot: Record<string, string>) => {
  const root = path.join(work, name)
  const dirs = { code: path.join(root, "bot"), state: path.join(root, "state"), logs: path.join(root, "logs") }
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true })
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: root,
    ...buckets,
    MINIO_ENDPOINT: process.env.MINIO_ENDPOINT,
    MINIO_ACCESS_KEY: process.env.MINIO_ACCESS_KEY,
    MINIO_SECRET_KEY: process.env.MINIO_SECRET_KEY,
    MINIO_USE_SSL: process.env.MINIO_USE_SSL ?? "false",
    CODE_PATH: dirs.code,
    STATE_PATH: dirs.state,
    LOGS_PATH: dirs.logs,
    STATE_DIR: path.join(dirs.state, ".the0-state"),
    THE0_WRAPPERS_DIR: path.join(repo, "assets/wrappers"),
    THE0_QUERY_DIR: path.join(root, "query"),
    THE0_DONE_FILE: path.join(root, "done"),
    ...bot
  }
  return { dirs, env }
}

const syncArgs = (botId: string, dirs: { state: string; logs: string }, readinessPort: number) => [
  "daemon",
  "sync",
  "--bot-id",
  botId,
  "--state-path",
  dirs.state,
  "--logs-path",
  dirs.logs,
  "--readiness-port",
  String(readinessPort)
]

const ready = async (readinessPort: number) =>
  (await fetch(`http://127.0.0.1:${readinessPort}/readyz`)
    .then((r) => r.status)
    .catch(() => 0)) === 200

const main = async () => {
  await s3.makeBucket(buckets.MINIO_CODE_BUCKET)
  await s3.putObject(
    buckets.MINIO_CODE_BUCKET,
    "bench/node-bot/1.0.0",
    Buffer.from(zipDirectory(path.join(repo, "test/fixtures/bots/node-bot")))
  )

  // A bare node, in the same run: the start of `node -e 0` (CPU of waited-for children), and an idle one's RSS.
  const before = cpuSeconds("self")
  const starts = 20
  for (let i = 0; i < starts; i++) spawnSync(process.execPath, ["-e", "0"])
  const bareStartMs = ((cpuSeconds("self") - before) / starts) * 1000
  const idle = launch(process.execPath, ["-e", "setInterval(() => {}, 1000)"])
  const bareRss = await steadyRss(idle.pid ?? 0)
  await stop(idle)

  // daemon sync: CPU from exec to /readyz answering, over `runs` starts.
  const readyCpuMs: Array<number> = []
  const readyWallMs: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const { dirs, env } = podEnv(`sync-start-${i}`, {})
    const readinessPort = await freePort()
    const t0 = performance.now()
    const child = launch(cli, syncArgs(`${tag}-start-${i}`, dirs, readinessPort), env)
    await until(() => ready(readinessPort), "daemon sync /readyz", 30_000)
    readyCpuMs.push(cpuSeconds(child.pid ?? 0) * 1000)
    readyWallMs.push(performance.now() - t0)
    await stop(child)
  }

  // daemon sync: steady RSS, then the peak while it uploads a 10 MiB state change.
  const botId = `${tag}-sync`
  const { dirs, env } = podEnv("sync", {})
  const readinessPort = await freePort()
  const sync = launch(cli, syncArgs(botId, dirs, readinessPort), env)
  await until(() => ready(readinessPort), "daemon sync /readyz", 30_000)
  const syncRss = await steadyRss(sync.pid ?? 0)
  mkdirSync(path.join(dirs.state, ".the0-state"), { recursive: true })
  for (const key of ["blob1", "blob2"])
    writeFileSync(
      path.join(dirs.state, ".the0-state", `${key}.json`),
      JSON.stringify(randomBytes(3.75 * mib).toString("base64"))
    )
  const t0 = performance.now()
  await until(
    async () =>
      ((await s3.statObject(buckets.MINIO_STATE_BUCKET, `${botId}/state.tar.gz`).catch(() => undefined))?.size ?? 0) >
      7 * mib,
    "the 10 MiB state in MinIO"
  )
  const uploadMs = performance.now() - t0
  const syncPeak = peak(sync.pid ?? 0)
  await stop(sync)

  // execute, as the bot container runs it (--skip-sync --skip-query-server) and as the query-server container does.
  const queryPort = await freePort()
  const bot = podEnv("execute", {
    BOT_ID: `${tag}-bot`,
    RUNTIME: "nodejs20",
    ENTRYPOINT: "main.js",
    QUERY_ENTRYPOINT: "query.js",
    CODE_FILE: "bench/node-bot/1.0.0",
    BOT_CONFIG: '{"symbol":"BTC/USD","mode":"loop","interval":1000}',
    BOT_TYPE: "realtime",
    THE0_QUERY_PORT: String(queryPort)
  })
  const execute = launch(cli, ["execute", "--skip-sync", "--skip-query-server"], bot.env)
  const queryServer = launch(cli, ["execute", "--query-server-only"], bot.env)
  await until(
    async () =>
      (await fetch(`http://127.0.0.1:${queryPort}/health`)
        .then((r) => r.status)
        .catch(() => 0)) === 200,
    "the query server",
    60_000
  )
  const [executeRss, queryServerRss] = await Promise.all([steadyRss(execute.pid ?? 0), steadyRss(queryServer.pid ?? 0)])
  await Promise.all([stop(execute), stop(queryServer)])

  const verdict = (ok: boolean) => (ok ? "meets" : "MISSED")
  const rssBudget = bareRss + 24
  const cpuBudget = 5 * bareStartMs
  const f = (n: number) => n.toFixed(1)
  console.log(`bare node: idle RSS ${f(bareRss)} MiB, \`node -e 0\` ${f(bareStartMs)} ms CPU (mean of ${starts})`)
  console.log(`the0's Go runtime, for reference: daemon sync 39 MB RSS, ~20 ms to ready`)
  console.log(
    `daemon sync    steady RSS ${f(syncRss)} MiB     budget ≤ ${f(rssBudget)} (bare + 24)   ${verdict(syncRss <= rssBudget)}`
  )
  console.log(
    `daemon sync    CPU to /readyz ${f(median(readyCpuMs))} ms (median of ${runs}; ${readyCpuMs.map(f).join(", ")}; wall ${f(median(readyWallMs))} ms)   budget ≤ ${f(cpuBudget)} (5 × bare start)   ${verdict(median(readyCpuMs) <= cpuBudget)}`
  )
  console.log(
    `daemon sync    peak RSS with a 10 MiB state upload ${f(syncPeak)} MiB (stored ${f(uploadMs)} ms after the write)   budget ≤ 96   ${verdict(syncPeak <= 96)}`
  )
  console.log(
    `execute (bot container, itself)  steady RSS ${f(executeRss)} MiB   budget ≤ ${f(rssBudget)}   ${verdict(executeRss <= rssBudget)}`
  )
  console.log(
    `execute --query-server-only (itself)  steady RSS ${f(queryServerRss)} MiB   budget ≤ ${f(rssBudget)}   ${verdict(queryServerRss <= rssBudget)}`
  )
}

const cleanup = async (failed: boolean) => {
  for (const { child, log } of started) {
    if (child.exitCode === null) child.kill("SIGKILL")
    if (failed) console.error(`--- ${log} (last lines)\n${readFileSync(log, "utf8").split("\n").slice(-15).join("\n")}`)
  }
  rmSync(work, { recursive: true, force: true })
  for (const bucket of Object.values(buckets)) {
    if (!(await s3.bucketExists(bucket).catch(() => false))) continue
    const keys: Array<string> = []
    for await (const item of s3.listObjectsV2(bucket, "", true)) keys.push((item as { name: string }).name)
    await s3.removeObjects(bucket, keys)
    await s3.removeBucket(bucket)
  }
}

main().then(
  () => cleanup(false),
  async (error) => {
    console.error(error)
    await cleanup(true)
    process.exitCode = 1
  }
)
