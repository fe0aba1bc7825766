/**
 * One-shot (scheduled) queries in `dev` (issue 17): `bin/the0-runtime dev --demo` in a fresh data directory, then
 * `/status` of the demo scheduled bot (`demo-report`) through `POST /query` with the default timeout: `single`
 * queries one after the other (each a query Job: a Node process on this machine), then `concurrent` at once. Prints
 * p50/max and the answers by status (200, 429 with its message, 500 with its error).
 *
 *   npx tsx bench/query/dev-oneshot.ts [single 5] [concurrent 20]
 *
 * Run it from a built tree (`npm run build`): the query Job runs dist/pod/pod.mjs, else the TypeScript through tsx.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { freePorts } from "./FreePorts.ts"

const single = Number(process.argv[2] ?? 5)
const concurrent = Number(process.argv[3] ?? 20)
const root = path.resolve(import.meta.dirname, "../..")

const startDev = (dataDir: string, ports: ReadonlyArray<number>): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const [query, admin, health] = ports.map(String)
    const child = spawn(
      path.join(root, "bin/the0-runtime"),
      ["dev", "--demo", "--data-dir", dataDir, "--query-port", query ?? "", "--admin-port", admin ?? ""].concat([
        "--health-port",
        health ?? ""
      ]),
      { stdio: ["ignore", "pipe", "inherit"], cwd: root }
    )
    let out = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes("the0-runtime dev is running")) resolve(child)
    })
    child.once("exit", (code) => reject(new Error(`dev exited ${code}: ${out}`)))
  })

interface Answer {
  readonly status: number
  readonly ms: number
  readonly message: string
}

const ask = async (queryPort: number): Promise<Answer> => {
  const begun = performance.now()
  const response = await fetch(`http://127.0.0.1:${queryPort}/query`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ bot_id: "demo-report", query_path: "/status" })
  })
  const body = (await response.json()) as { error?: string }
  return { status: response.status, ms: performance.now() - begun, message: body.error ?? "" }
}

const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

const summary = (answers: ReadonlyArray<Answer>): string => {
  const byStatus = new Map<string, number>()
  for (const a of answers) {
    const key = a.status === 200 ? "200" : `${a.status} ${a.message.split("\n")[0]}`
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1)
  }
  const ok = answers.filter((a) => a.status === 200).map((a) => a.ms)
  const refused = answers.filter((a) => a.status === 429).map((a) => a.ms)
  return [
    `200: p50 ${quantile(ok, 0.5).toFixed(0)} ms, max ${Math.max(...ok, 0).toFixed(0)} ms`,
    refused.length === 0 ? "" : `429 after at most ${Math.max(...refused).toFixed(0)} ms`,
    [...byStatus].map(([k, n]) => `${n} × ${k}`).join("; ")
  ]
    .filter((s) => s !== "")
    .join(" | ")
}

const main = async () => {
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")
  console.log(`# dev one-shot queries: ${os.cpus().length} CPUs, Node ${process.version}, load before ${load()}`)
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "the0-bench-oneshot-"))
  const ports = await freePorts(3)
  const dev = await startDev(dataDir, ports)
  const queryPort = ports[0] ?? 0
  try {
    for (let i = 0; i < 60 && (await ask(queryPort)).status !== 200; i++) await new Promise((r) => setTimeout(r, 1000))
    const alone: Array<Answer> = []
    for (let i = 0; i < single; i++) alone.push(await ask(queryPort))
    console.log(`one at a time (${single}): ${summary(alone)}`)
    const together = await Promise.all(Array.from({ length: concurrent }, () => ask(queryPort)))
    console.log(`${concurrent} at once: ${summary(together)}`)
    console.log(`load after ${load()}`)
  } finally {
    dev.kill("SIGINT")
    await new Promise((resolve) => dev.once("exit", resolve))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

void main()
