/**
 * The controller at rest on the testbed's real servers: N bots in the store, the controller started as its own
 * process (`bin/the0-runtime controller`, its bundle), every Pod created (the node cordoned, so they stay Pending
 * and nothing changes), then two minutes with no change at all. Prints the controller's CPU per minute, its RSS
 * (now and peak), the API requests it made in those two minutes by verb, and its work, beside the budgets.
 *
 *   npm run build; eval "$(scripts/testbed/testbed env)"; npx tsx bench/steady-state.ts [N] [seconds]
 *
 * The controller runs through the launcher, as in the image. BENCH_NODE_OPTIONS becomes its NODE_OPTIONS, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" for a profile.
 */
import { execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { MongoClient } from "mongodb"
import { botDocument, cordon, scrape } from "./TestbedParts.ts"

const n = Number(process.argv[2] ?? 1000)
const seconds = Number(process.argv[3] ?? 120)
const env = (name: string): string => {
  const value = process.env[name]
  if (!value) {
    console.log(`steady-state: needs the testbed: eval "$(scripts/testbed/testbed env)" (${name} is missing)`)
    process.exit(1)
  }
  return value
}
const [KUBECONFIG, MONGO_URI, NATS_URL, MINIO_ENDPOINT] = ["KUBECONFIG", "MONGO_URI", "NATS_URL", "MINIO_ENDPOINT"].map(
  env
) as [string, string, string, string]
const root = new URL("..", import.meta.url).pathname
const run = Date.now().toString(36)
const namespace = `steady-${run}`
const healthPort = 18_995
const budgets = { cpuPerMinute: 0.42, rss: n <= 1_000 ? 130 : 200 }

/** The launcher runs the controller's bundle when it is newer than every source (else the sources, through tsx). */
const bundle = `${root}dist/controller/controller.mjs`
const stale = execFileSync("find", [`${root}src`, "-newer", bundle, "-print", "-quit"]).toString()
if (stale.trim() !== "") {
  console.log(`steady-state: ${bundle} is older than ${stale.trim()}; run npm run build first`)
  process.exit(1)
}

const kubeConfig = new KubeConfig()
kubeConfig.loadFromFile(KUBECONFIG)
const core = kubeConfig.makeApiClient(CoreV1Api)
const mongo = await MongoClient.connect(MONGO_URI)
const bots = mongo.db("bot_runner").collection("bots")

const document = (id: string) => ({ _id: id as never, ...botDocument(id) })

const metrics = (prefix: string) => scrape(`http://127.0.0.1:${healthPort}/metrics`, prefix)

/** utime + stime of a process, in seconds. */
const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const memory = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (key: string) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? Number.NaN)
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const podCount = async () => (await core.listNamespacedPod({ namespace })).items.length

await core.createNamespace({ body: { metadata: { name: namespace } } })
await cordon(core, env("THE0_TESTBED_NODE"), true)
await bots.deleteMany({})
await mongo.db("bot_runner").collection("runtime_ingest_log").deleteMany({})
for (let i = 0; i < n; i += 500)
  await bots.insertMany(Array.from({ length: Math.min(500, n - i) }, (_, j) => document(`s${run}-${i + j}`)))

const controller = spawn(
  `${root}bin/the0-runtime`,
  [
    "controller",
    `--namespace=${namespace}`,
    `--health-port=${healthPort}`,
    "--query-port=18996",
    `--lease-name=steady-${run}`
  ],
  {
    env: {
      ...process.env,
      MONGO_URI,
      NATS_URL,
      MINIO_ENDPOINT,
      KUBECONFIG,
      LOG_LEVEL: "warn",
      NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? ""
    },
    stdio: ["ignore", "ignore", "inherit"]
  }
)
const pid = controller.pid ?? 0
const cleanup = async () => {
  controller.kill("SIGTERM")
  await core.deleteNamespace({ name: namespace }).catch(() => undefined)
  await bots.deleteMany({})
  await cordon(core, env("THE0_TESTBED_NODE"), false)
  await mongo.close()
}

try {
  const started = Date.now()
  while ((await podCount()) < n && Date.now() - started < 15 * 60_000) await sleep(2_000)
  const converged = Date.now() - started
  console.log(`${n} bots in the store → controller started → every Pod exists: ${(converged / 1000).toFixed(1)} s`)
  // The burst's Created Events drain after the Pods exist (a bounded queue, one writer at 10/s: up to 100 s at
  // 10,000 bots). They are the burst's tail, not the steady state: the window starts once none was written for 10 s.
  const eventsTotal = async () => [...(await metrics("the0_kube_events_total"))].reduce((sum, [, v]) => sum + v, 0)
  const drainStarted = Date.now()
  for (let last = await eventsTotal(), quiet = 0; quiet < 2 && Date.now() - drainStarted < 10 * 60_000; ) {
    await sleep(5_000)
    const now = await eventsTotal()
    quiet = now === last ? quiet + 1 : 0
    last = now
  }
  console.log(`the burst's Events written or dropped after that: ${((Date.now() - drainStarted) / 1000).toFixed(0)} s`)
  // V8's memory reducer compacts the heap once, about a minute after the burst's allocations stop (0.2–0.3 s of
  // CPU, measured with --trace-gc): the tail of the burst, not the steady state, so the window starts after it.
  await sleep(90_000)
  const requestsBefore = await metrics("the0_kube_requests_total")
  const workBefore = await metrics("the0_")
  const cpuBefore = cpuSeconds(pid)
  await sleep(seconds * 1000)
  const cpu = ((cpuSeconds(pid) - cpuBefore) / seconds) * 60
  const requests = [...(await metrics("the0_kube_requests_total"))]
    .map(
      ([k, v]) =>
        [
          k
            .match(/verb="(\w+)",code="(\d+)"/)
            ?.slice(1)
            .join(" ") ?? k,
          v - (requestsBefore.get(k) ?? 0)
        ] as const
    )
    .filter(([, v]) => v > 0)
  const writes = requests.filter(([k]) => /^(POST|DELETE|PATCH)/.test(k)).reduce((sum, [, v]) => sum + v, 0)
  const workAfter = await metrics("the0_")
  const work = (name: string) =>
    [...workAfter].filter(([k]) => k.startsWith(name)).reduce((sum, [k, v]) => sum + v - (workBefore.get(k) ?? 0), 0)
  const { rss, peak } = memory(pid)
  const minutes = seconds / 60
  console.log(`then ${seconds} s with no change (${n} bots, Pods Pending, node cordoned):`)
  console.log(
    `  controller CPU: ${cpu.toFixed(2)} s per minute   budget ≤ ${budgets.cpuPerMinute} s (the0's Go controller)   ${cpu <= budgets.cpuPerMinute ? "ok" : "MISSED"}`
  )
  console.log(
    `  RSS: ${rss.toFixed(0)} MiB now, ${peak.toFixed(0)} MiB peak   budget ≤ ${budgets.rss} MiB   ${rss <= budgets.rss ? "ok" : "MISSED"}`
  )
  console.log(
    `  API requests per minute, watches aside (verb code: count): ${requests.map(([k, v]) => `${k}: ${(v / minutes).toFixed(1)}`).join(", ") || "none"}`
  )
  console.log(
    `  work per minute: ${(work("the0_resync_total") / minutes).toFixed(1)} resyncs (${((work("the0_resync_duration_seconds_sum") / Math.max(1, work("the0_resync_total"))) * 1000).toFixed(0)} ms each), ${(work("the0_reconcile_total") / minutes).toFixed(1)} reconciles, ${(work("the0_watch_restarts_total") / minutes).toFixed(1)} watch restarts`
  )
  console.log(
    `  creates, deletes and patches: ${writes}   budget 0   ${writes === 0 ? "ok" : "MISSED"} (GET and PUT are the Lease's renewal, every 2 s)`
  )
} finally {
  await cleanup()
}
process.exit(0)
