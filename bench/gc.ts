/**
 * `gc` at scale, on the testbed's MinIO and FerretDB (`eval "$(scripts/testbed/testbed env)"` first): buckets of
 * its own holding BOTS bots' state archives and DAYS daily logs each, documents for all but a quarter of them, then
 * one `bin/the0-runtime gc` sweep in a memory cgroup limited to the0's chart limit (128 MiB; needs root and cgroup
 * v1). Prints the sweep's wall time and the peak memory the kernel charged beside that limit. BOTS and DAYS come from
 * the environment.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs"
import * as Minio from "minio"
import { MongoClient } from "mongodb"

const bots = Number(process.env.BOTS ?? 1000)
const days = Number(process.env.DAYS ?? 10)
const limitMiB = 128
const { MONGO_URI, MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY } = process.env
if (!MONGO_URI || !MINIO_ENDPOINT || !MINIO_ACCESS_KEY || !MINIO_SECRET_KEY) {
  console.log('gc: needs the testbed: eval "$(scripts/testbed/testbed env)"')
  process.exit(1)
}
const [host = "", port = "9000"] = MINIO_ENDPOINT.split(":")
const s3 = new Minio.Client({
  endPoint: host,
  port: Number(port),
  useSSL: false,
  accessKey: MINIO_ACCESS_KEY,
  secretKey: MINIO_SECRET_KEY
})
const run = `gcbench-${Date.now().toString(36)}`
const buckets = { state: `${run}-state`, logs: `${run}-logs`, results: `${run}-results` }
const ids = Array.from({ length: bots }, (_, i) => `${run}-${i}`)
const live = ids.filter((_, i) => i % 4 !== 0)

const pool = async <A>(items: ReadonlyArray<A>, width: number, f: (a: A) => Promise<unknown>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await f(items[next++] as A)
    })
  )
}

for (const bucket of Object.values(buckets)) await s3.makeBucket(bucket)
const client = await MongoClient.connect(MONGO_URI)
await client
  .db("bot_runner")
  .collection("bots")
  .insertMany(live.map((id) => ({ id })))
const keys = ids.flatMap((id) => [
  [buckets.state, `${id}/state.tar.gz`],
  ...Array.from({ length: days }, (_, d) => [buckets.logs, `logs/${id}/202611${String(d + 1).padStart(2, "0")}.log`])
])
const seeded = Date.now()
await pool(keys, 64, ([bucket, key]) => s3.putObject(bucket as string, key as string, Buffer.from("{}\n")))
console.log(`seeded ${keys.length} objects of ${bots} bots in ${((Date.now() - seeded) / 1000).toFixed(1)} s`)

// the sweep runs in a memory cgroup (v1) limited as the0's chart limits its container, as the kubelet would run it
const cgroup = `/sys/fs/cgroup/memory/${run}`
mkdirSync(cgroup)
writeFileSync(`${cgroup}/memory.limit_in_bytes`, String(limitMiB * 1024 * 1024))
const started = Date.now()
const sweep = spawnSync("sh", ["-c", `echo $$ > ${cgroup}/cgroup.procs && exec bin/the0-runtime gc`], {
  env: {
    ...process.env,
    MINIO_STATE_BUCKET: buckets.state,
    MINIO_LOGS_BUCKET: buckets.logs,
    MINIO_QUERY_RESULTS_BUCKET: buckets.results
  },
  encoding: "utf8"
})
const seconds = (Date.now() - started) / 1000
const peakMiB = Number(readFileSync(`${cgroup}/memory.max_usage_in_bytes`, "utf8")) / 1024 / 1024
const oomKilled = /oom_kill [1-9]/.test(readFileSync(`${cgroup}/memory.oom_control`, "utf8"))
rmdirSync(cgroup)
const summary = sweep.stdout.split("\n").find((line) => line.includes("GC sweep complete"))
console.log(
  `gc exit ${sweep.status}${oomKilled ? " (OOM killed)" : ""}: ${summary ? JSON.parse(summary).msg : sweep.stderr}`
)
console.log(
  `gc over ${keys.length} objects of ${bots} bots: ${seconds.toFixed(1)} s, peak memory charged ${peakMiB.toFixed(1)} MiB   budget ≤ ${limitMiB} (the0's chart limit), no OOM kill   ${peakMiB <= limitMiB && !oomKilled ? "ok" : "MISSED"}`
)

await client
  .db("bot_runner")
  .collection("bots")
  .deleteMany({ id: { $in: live } })
await client.close()
for (const bucket of Object.values(buckets)) {
  const left: Array<string> = []
  for await (const item of s3.listObjectsV2(bucket, "", true)) if (item.name) left.push(item.name)
  for (let i = 0; i < left.length; i += 1000) await s3.removeObjects(bucket, left.slice(i, i + 1000))
  await s3.removeBucket(bucket)
}
process.exit(sweep.status === 0 && !oomKilled ? 0 : 1)
