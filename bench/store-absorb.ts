/**
 * How fast the store absorbs bots: N bot documents (as ingest stores them: `_id` = the bot's id, an index on `id`)
 * written into a fresh collection in each of three ways, then read back; for the testbed's FerretDB on SQLite and on
 * PostgreSQL alike (README.md, "Testbed"). The ways:
 *
 * - get-then-upsert one after another (a `findOne` by `_id`, then an upsert by `_id`), as ingest applies one event;
 *   only at N ≤ 1,000,
 * - upserts by `_id`, 50 at a time,
 * - one unordered bulk write of N upserts by `_id`;
 *
 * and after each: the listing of all N documents, 100 lookups by `_id` and 100 by `id`, one after another. Each
 * write way prints its time per thousand documents (does a write cost more as the collection grows?) and, with
 * STORE_PIDS (the store's process ids, comma-separated: FerretDB, and PostgreSQL's postmaster), the CPU time those
 * processes and their children used. A way stops after LIMIT_SECONDS (default 900) and says how far it got (the bulk
 * write, one request, cannot stop before its end).
 *
 *   MONGO_URI=mongodb://… [STORE_DB=bench_store_absorb] [STORE_PIDS=…] npx tsx bench/store-absorb.ts [N,…]
 *
 * The database STORE_DB (default bench_store_absorb) is dropped at the start and at the end.
 */
import { readdirSync, readFileSync } from "node:fs"
import { type Collection, type Document, MongoClient } from "mongodb"
import { botDocument } from "./TestbedParts.ts"

const uri = process.env.MONGO_URI
if (!uri) {
  console.log('store-absorb: needs MONGO_URI (the testbed\'s: eval "$(scripts/testbed/testbed env)")')
  process.exit(1)
}
const sizes = (process.argv[2] ?? "1000,10000").split(",").map(Number)
const database = process.env.STORE_DB ?? "bench_store_absorb"
const limitMs = Number(process.env.LIMIT_SECONDS ?? 900) * 1000
const storePids = (process.env.STORE_PIDS ?? "").split(",").filter((p) => p !== "")
/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`: 100 on Linux). */
const tick = 100
const s = (ms: number) => (ms / 1000).toFixed(1)

/** utime + stime (+ those of reaped children) of a process, in clock ticks; 0 when it is gone. */
const ticksOf = (pid: string, withChildren: boolean): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const own = Number(fields[11]) + Number(fields[12])
    return withChildren ? own + Number(fields[13]) + Number(fields[14]) : own
  } catch {
    return 0
  }
}

/** Parent pid of every process, read once. */
const parents = (): Map<string, string> => {
  const map = new Map<string, string>()
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      map.set(pid, stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? "")
    } catch {
      // the process ended while /proc was read
    }
  }
  return map
}

/** CPU seconds the store's processes have used: each root with its reaped children, and its live descendants. */
const storeCpu = (): number => {
  if (storePids.length === 0) return Number.NaN
  const ppid = parents()
  let ticks = 0
  for (const root of storePids) {
    ticks += ticksOf(root, true)
    for (const [pid, parent] of ppid) {
      let p: string | undefined = parent
      while (p !== undefined && p !== "0" && p !== "1" && p !== root) p = ppid.get(p)
      if (p === root && pid !== root) ticks += ticksOf(pid, false)
    }
  }
  return ticks / tick
}

type Way = (
  collection: Collection<Document>,
  ids: ReadonlyArray<string>,
  done: (count: number) => void
) => Promise<void>

const set = (id: string) => ({ $set: botDocument(id) })

const ways: Record<string, Way> = {
  "get-then-upsert, one after another": async (collection, ids, done) => {
    for (const [i, id] of ids.entries()) {
      await collection.findOne({ _id: id as never })
      await collection.updateOne({ _id: id as never }, set(id), { upsert: true })
      done(i + 1)
    }
  },
  "upserts, 50 at a time": async (collection, ids, done) => {
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids.slice(i, i + 50).map((id) => collection.updateOne({ _id: id as never }, set(id), { upsert: true }))
      )
      done(Math.min(ids.length, i + 50))
    }
  },
  "one unordered bulk write": async (collection, ids, done) => {
    await collection.bulkWrite(
      ids.map((id) => ({ updateOne: { filter: { _id: id as never }, update: set(id), upsert: true } })),
      { ordered: false }
    )
    done(ids.length)
  }
}

/** Runs `write` until it ends or the limit passes; the time of each thousand documents and how many were written. */
const timed = async (total: number, write: (done: (count: number) => void) => Promise<void>) => {
  const started = Date.now()
  const thousands: Array<number> = []
  let written = 0
  let calls = 0
  let mark = started
  const done = (count: number) => {
    written = count
    calls += 1
    while (thousands.length < Math.floor(count / 1000)) {
      const now = Date.now()
      thousands.push(now - mark)
      mark = now
    }
    if (count < total && Date.now() - started > limitMs) throw new Error("limit")
  }
  const finished = await write(done).then(
    () => true,
    (error: unknown) => {
      if (error instanceof Error && error.message === "limit") return false
      throw error
    }
  )
  // one call (one bulk write) tells nothing per thousand
  return { ms: Date.now() - started, thousands: calls > 1 ? thousands : [], written, finished }
}

const measure = async <A>(run: () => Promise<A>) => {
  const cpu0 = storeCpu()
  const started = Date.now()
  const result = await run()
  return { result, ms: Date.now() - started, cpu: storeCpu() - cpu0 }
}

const cpuText = (cpu: number) => (Number.isNaN(cpu) ? "" : `, store CPU ${cpu.toFixed(1)} s`)

const client = await MongoClient.connect(uri)
const db = client.db(database)
await db.dropDatabase()
console.log(`store-absorb: ${uri} database ${database}, ${new Date().toISOString()}, load ${loadAverage()}`)
try {
  for (const n of sizes) {
    const ids = Array.from({ length: n }, (_, i) => `bot-${String(i).padStart(6, "0")}`)
    for (const [way, write] of Object.entries(ways)) {
      if (way.startsWith("get-then-upsert") && n > 1000) continue
      const name = `${way.replace(/\W+/g, "_")}_${n}`
      await db
        .collection(name)
        .drop()
        .catch(() => undefined)
      const collection = db.collection(name)
      await collection.createIndex({ id: 1 }, { name: "id_1" })
      const w = await measure(() => timed(n, (done) => write(collection, ids, done)))
      const { thousands, written, finished } = w.result
      console.log(
        `${n} bots, ${way}: ${finished ? `${s(w.ms)} s` : `stopped after ${s(w.ms)} s at ${written} documents`}` +
          `${cpuText(w.cpu)}${thousands.length > 1 ? `; per 1,000: ${thousands.map(s).join(", ")} s` : ""}`
      )
      const count = await collection.countDocuments()
      const list = await measure(() => collection.find({}).toArray())
      const byUnderscoreId = await measure(async () => {
        for (let i = 0; i < 100; i++) await collection.findOne({ _id: ids[(i * 97) % Math.max(1, count)] as never })
      })
      const byId = await measure(async () => {
        for (let i = 0; i < 100; i++) await collection.findOne({ id: ids[(i * 97) % Math.max(1, count)] })
      })
      console.log(
        `  then with ${count} documents: list all ${s(list.ms)} s (${list.result.length})${cpuText(list.cpu)};` +
          ` 100 lookups by _id ${s(byUnderscoreId.ms)} s${cpuText(byUnderscoreId.cpu)};` +
          ` 100 by id ${s(byId.ms)} s${cpuText(byId.cpu)}`
      )
      await collection.drop()
    }
  }
} finally {
  await db.dropDatabase()
  await client.close()
}

function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
}
