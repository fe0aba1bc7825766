/**
 * Realtime queries side by side (issue 17): the bot's query server alone, our QueryServer and a minimal Go
 * `net/http` proxy (bench/query/goproxy), in the same run, against the same bot server. Each server is its own
 * process, so CPU per request is read from /proc/<pid>/stat of that process; the load generator is this process.
 *
 * `sequential` rounds of one query to each target in turn (latency p50/p99; added latency is the target's minus the
 * bot's alone), then a closed loop at `concurrency` for `seconds` per target, cut in slices taken in turn
 * (throughput, p50/p99, CPU per request), so that load from elsewhere falls on all targets alike. Then our ratios to
 * the Go baseline beside the budgets.
 *
 * Modes:
 * - controller (default): the bot server is a Node process answering like the0's SDK; our QueryServer is
 *   bench/query/query-server-process.ts (`QueryServer.layer`, memory BotStore and cluster, `--bots` bots).
 * - `--dev`: also starts `bin/the0-runtime dev --demo` in a fresh data directory and runs the three targets against
 *   its demo-ticker (straight to its query server, through dev's QueryServer, through the Go proxy); then dev's CPU
 *   per request beside the controller mode's (budget 2x).
 * - `--bots 10,10000`: our QueryServer alone at each bot count, queries spread over every bot (each query resolves
 *   another bot), to show that resolution does not grow with the number of bots.
 *
 *   npx tsx bench/query/realtime-proxy.ts [--seconds 8] [--concurrency 32] [--sequential 2000] [--dev]
 *   npx tsx bench/query/realtime-proxy.ts --bots 10,10000
 *
 * `QUERY_NODE_FLAGS` (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) is given to our QueryServer's node.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { Agent, request } from "node:http"
import os from "node:os"
import path from "node:path"
import { build } from "esbuild"
import { freePorts } from "./FreePorts.ts"

const argv = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const at = argv.indexOf(`--${name}`)
  return at === -1 ? fallback : (argv[at + 1] ?? fallback)
}
const seconds = Number(flag("seconds", "8"))
const concurrency = Number(flag("concurrency", "32"))
const sequential = Number(flag("sequential", "2000"))
const withDev = argv.includes("--dev")
const botCounts = argv.includes("--bots") ? flag("bots", "10,10000").split(",").map(Number) : undefined

const root = path.resolve(import.meta.dirname, "../..")
const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim())

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** User plus system CPU seconds of a process so far (its own threads, not its children). */
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
}

const children: Array<ChildProcess> = []
/** What query-server-process.ts measured of resolution: Pod cache and store, per lookup. */
const resolutionLines = new Map<ChildProcess, string>()
/** Directories removed at the end. */
const temporary: Array<string> = []

/** Starts a process and waits for a stdout line matching `ready`. */
const start = (command: string, args: ReadonlyArray<string>, ready: RegExp, env = process.env): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env, cwd: root })
    children.push(child)
    let out = ""
    let err = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const resolution = /resolution ([\d.]+) ([\d.]+)/.exec(out)
      if (resolution !== null) resolutionLines.set(child, `${resolution[1]} µs | ${resolution[2]} µs`)
      if (ready.test(out)) resolve(child)
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString()
    })
    child.once("exit", (code) => reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${err}${out}`)))
  })

const stop = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGTERM")
  await Promise.race([exited, sleep(20_000)])
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
}

const botServerCode = `
const { createServer } = require("node:http")
const body = JSON.stringify({ status: "ok", data: { price: 100.5, volume: 1000 } })
const s = createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    res.setHeader("content-type", "application/json")
    res.end(body)
  })
})
s.keepAliveTimeout = 60000
s.listen(0, "127.0.0.1", () => console.log("listening " + s.address().port))
`

const portOf = (child: ChildProcess): Promise<number> =>
  new Promise((resolve) => {
    let out = ""
    const read = (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening (\d+)/.exec(out)
      if (match?.[1] !== undefined) {
        child.stdout?.off("data", read)
        resolve(Number(match[1]))
      }
    }
    child.stdout?.on("data", read)
  })

const startWithPort = async (
  command: string,
  args: ReadonlyArray<string>
): Promise<{ child: ChildProcess; port: number }> => {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"], cwd: root })
  children.push(child)
  return { child, port: await portOf(child) }
}

const botServer = () => startWithPort(process.execPath, ["-e", botServerCode])

const goProxy = async (botAddress: string) => {
  const binary = path.join(os.tmpdir(), `the0-bench-goproxy-${process.pid}`)
  execFileSync("go", ["build", "-o", binary, "."], { cwd: path.join(root, "bench/query/goproxy"), stdio: "inherit" })
  const started = await startWithPort(binary, ["-listen", "127.0.0.1:0", "-bot", botAddress])
  rmSync(binary, { force: true })
  return started
}

/**
 * bench/query/query-server-process.ts bundled as the controller is (scripts/bundle.mjs: esbuild, minified, ESM),
 * so that it runs the code production runs rather than tsx's transform (which wraps every closure in `__name`).
 */
const bundled = async (): Promise<string> => {
  const outdir = mkdtempSync(path.join(os.tmpdir(), "the0-bench-query-"))
  temporary.push(outdir)
  await build({
    absWorkingDir: root,
    entryPoints: { "query-server": "bench/query/query-server-process.ts" },
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    minify: true,
    external: [
      "kerberos",
      "@mongodb-js/zstd",
      "@aws-sdk/credential-providers",
      "gcp-metadata",
      "snappy",
      "socks",
      "aws4",
      "mongodb-client-encryption"
    ],
    logLevel: "warning",
    banner: {
      js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);'
    }
  })
  return path.join(outdir, "query-server.mjs")
}

const queryServer = async (entry: string, botPort: number, bots: number) => {
  const [port = 0] = await freePorts(1)
  const nodeFlags = (process.env.QUERY_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "")
  const child = await start(
    process.execPath,
    [...nodeFlags, entry, String(botPort), String(bots), String(port)],
    /listening \d+/
  )
  return { child, port, resolution: resolutionLines.get(child) ?? "" }
}

interface Phase {
  readonly latencies: ReadonlyArray<number>
  readonly errors: number
  readonly elapsed: number
  /** CPU seconds of each watched process during the phase. */
  readonly cpu: ReadonlyArray<number>
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 })

const post = (url: URL, body: string): Promise<number> =>
  new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
      },
      (res) => {
        res.resume()
        res.on("end", () => resolve(res.statusCode ?? 0))
      }
    )
    req.on("socket", (s) => s.setNoDelay(true))
    req.on("error", () => resolve(0))
    req.end(body)
  })

/** `workers` loops of queries, each until `more()` says stop; bodies are taken in turn. */
const phase = async (
  url: URL,
  bodies: ReadonlyArray<string>,
  workers: number,
  more: (done: number) => boolean,
  watched: ReadonlyArray<number>
): Promise<Phase> => {
  const latencies: Array<number> = []
  let errors = 0
  let issued = 0
  const cpu0 = watched.map(cpuSeconds)
  const t0 = performance.now()
  const loop = async () => {
    while (more(issued)) {
      const body = bodies[issued++ % bodies.length] ?? ""
      const begun = performance.now()
      const status = await post(url, body)
      latencies.push(performance.now() - begun)
      if (status !== 200) errors++
    }
  }
  await Promise.all(Array.from({ length: workers }, loop))
  const elapsed = (performance.now() - t0) / 1000
  return { latencies, errors, elapsed, cpu: watched.map((pid, i) => cpuSeconds(pid) - (cpu0[i] ?? 0)) }
}

const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

interface Target {
  readonly name: string
  readonly url: URL
  readonly bodies: ReadonlyArray<string>
  /** The server process (for the bot alone: the bot server). */
  readonly pid: number
  readonly botPid: number
}

interface Measured {
  readonly target: Target
  readonly seqP50: number
  readonly seqP99: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly cpuUs: number
  readonly botCpuUs: number
  readonly errors: number
}

/** Sequential latencies of each target, one query to each in turn, so that all see the same moments of load. */
const interleaved = async (targets: ReadonlyArray<Target>): Promise<ReadonlyArray<ReadonlyArray<number>>> => {
  const latencies = targets.map((): Array<number> => [])
  const errors = targets.map(() => 0)
  for (let i = 0; i < sequential; i++)
    for (const [t, target] of targets.entries()) {
      const begun = performance.now()
      const status = await post(target.url, target.bodies[i % target.bodies.length] ?? "")
      latencies[t]?.push(performance.now() - begun)
      if (status !== 200) errors[t] = (errors[t] ?? 0) + 1
    }
  if (errors.some((e) => e > 0)) throw new Error(`sequential queries failed: ${errors.join(", ")}`)
  return latencies
}

/** Slices each target's closed loop is cut into, taken in turn, so that all see the same moments of load. */
const rounds = 4

/** Closed loops of `seconds` in all for each target, in `rounds` slices taken in turn. */
const closedLoops = async (
  targets: ReadonlyArray<Target>,
  sequentialLatencies: ReadonlyArray<ReadonlyArray<number>>
): Promise<ReadonlyArray<Measured>> => {
  const slices = targets.map((): Array<Phase> => [])
  for (let r = 0; r < rounds; r++)
    for (const [t, target] of targets.entries()) {
      const end = performance.now() + (seconds * 1000) / rounds
      const watched = [target.pid, target.botPid]
      slices[t]?.push(await phase(target.url, target.bodies, concurrency, () => performance.now() < end, watched))
    }
  return targets.map((target, t) => {
    const parts = slices[t] ?? []
    const latencies = parts.flatMap((p) => p.latencies)
    const count = latencies.length
    const cpu = (i: number) => parts.reduce((sum, p) => sum + (p.cpu[i] ?? 0), 0)
    return {
      target,
      seqP50: quantile(sequentialLatencies[t] ?? [], 0.5),
      seqP99: quantile(sequentialLatencies[t] ?? [], 0.99),
      rps: count / parts.reduce((sum, p) => sum + p.elapsed, 0),
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      cpuUs: (cpu(0) / count) * 1e6,
      botCpuUs: target.pid === target.botPid ? 0 : (cpu(1) / count) * 1e6,
      errors: parts.reduce((sum, p) => sum + p.errors, 0)
    }
  })
}

/** Each target warmed up, then the interleaved sequential phase, then the interleaved closed loops. */
const measureAll = async (targets: ReadonlyArray<Target>): Promise<ReadonlyArray<Measured>> => {
  for (const target of targets) await phase(target.url, target.bodies, concurrency, (n) => n < 2000, [])
  return closedLoops(targets, await interleaved(targets))
}

const ms = (n: number) => `${n.toFixed(3)} ms`
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")

const printTable = (rows: ReadonlyArray<Measured>) => {
  console.log(
    `| target | sequential p50 | sequential p99 | ${concurrency} concurrent: req/s | p50 | p99 | server CPU/request | bot server CPU/request | errors |`
  )
  console.log("|---|---|---|---|---|---|---|---|---|")
  for (const r of rows)
    console.log(
      `| ${r.target.name} | ${ms(r.seqP50)} | ${ms(r.seqP99)} | ${r.rps.toFixed(0)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.cpuUs.toFixed(0)} µs | ${r.botCpuUs.toFixed(0)} µs | ${r.errors} |`
    )
}

const verdict = (ok: boolean) => (ok ? "met" : "NOT MET")

/** Our ratios to the Go baseline beside the budgets; whether all are met. */
const printRatios = (direct: Measured, ours: Measured, go: Measured): boolean => {
  const added = (m: Measured, q: "seqP50" | "seqP99") => m[q] - direct[q]
  const rows: Array<[string, number, string, boolean]> = []
  const throughput = ours.rps / go.rps
  rows.push(["throughput, ours / Go", throughput, ">= 0.8", throughput >= 0.8])
  for (const q of ["seqP50", "seqP99"] as const) {
    const ratio = added(ours, q) / added(go, q)
    rows.push([
      `added latency ${q === "seqP50" ? "p50" : "p99"} (${ms(added(ours, q))} vs ${ms(added(go, q))}), ours / Go`,
      ratio,
      "<= 1.5",
      ratio <= 1.5
    ])
  }
  const cpu = ours.cpuUs / go.cpuUs
  rows.push([
    `CPU per proxied request (${ours.cpuUs.toFixed(0)} vs ${go.cpuUs.toFixed(0)} µs), ours / Go`,
    cpu,
    "<= 1.5",
    cpu <= 1.5
  ])
  console.log("| ratio | measured | budget | |")
  console.log("|---|---|---|---|")
  for (const [name, value, budget, ok] of rows)
    console.log(`| ${name} | ${value.toFixed(2)} | ${budget} | ${verdict(ok)} |`)
  return rows.every((r) => r[3])
}

const sideBySide = async (
  label: string,
  botAddress: string,
  botPid: number,
  ours: { readonly url: URL; readonly pid: number; readonly bodies: ReadonlyArray<string> },
  directPath: string
) => {
  const go = await goProxy(botAddress)
  const goPid = go.child.pid ?? 0
  const [direct, ourRow, goRow] = await measureAll([
    { name: "bot alone", url: new URL(`http://${botAddress}${directPath}`), bodies: ["{}"], pid: botPid, botPid },
    { name: "our QueryServer", url: ours.url, bodies: ours.bodies, pid: ours.pid, botPid },
    {
      name: "Go net/http proxy",
      url: new URL(`http://127.0.0.1:${go.port}/query`),
      bodies: ours.bodies,
      pid: goPid,
      botPid
    }
  ])
  if (direct === undefined || ourRow === undefined || goRow === undefined) throw new Error("a target was not measured")
  await stop(go.child)
  console.log(`\n## ${label} (load average after: ${load()})\n`)
  printTable([direct, ourRow, goRow])
  console.log("")
  const met = printRatios(direct, ourRow, goRow)
  return { met, ours: ourRow }
}

const queryBody = (botId: string, queryPath: string) =>
  JSON.stringify({ bot_id: botId, query_path: queryPath, params: { symbol: "BTC" } })

const controllerMode = async (entry: string) => {
  const bot = await botServer()
  const server = await queryServer(entry, bot.port, 10)
  const result = await sideBySide(
    "controller mode: QueryServer.layer on the memory BotStore and cluster, 10 bots",
    `127.0.0.1:${bot.port}`,
    bot.child.pid ?? 0,
    {
      url: new URL(`http://127.0.0.1:${server.port}/query`),
      pid: server.child.pid ?? 0,
      bodies: [queryBody("bench-bot-9", "/price")]
    },
    "/price?symbol=BTC"
  )
  await stop(server.child)
  await stop(bot.child)
  return result
}

const adminGet = async (adminPort: number, token: string, url: string): Promise<unknown> => {
  const answer = await fetch(`http://127.0.0.1:${adminPort}${url}`, { headers: { authorization: `Bearer ${token}` } })
  return answer.json()
}

const devMode = async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "the0-bench-dev-"))
  const [queryPort = 0, adminPort = 0, healthPort = 0] = await freePorts(3)
  const dev = await start(
    path.join(root, "bin/the0-runtime"),
    [
      "dev",
      "--demo",
      "--data-dir",
      dataDir,
      "--query-port",
      String(queryPort),
      "--admin-port",
      String(adminPort),
      "--health-port",
      String(healthPort)
    ],
    /the0-runtime dev is running/
  )
  const token = readFileSync(path.join(dataDir, "admin-token"), "utf8").trim()
  /** The demo bot's query server and the process listening there, once dev answers a query of it. */
  const listening = (address: string): number => {
    try {
      const found = execFileSync("lsof", ["-t", `-iTCP:${address.split(":")[1]}`, "-sTCP:LISTEN"]).toString()
      return Number(found.trim().split("\n")[0])
    } catch {
      return 0
    }
  }
  let address: string | undefined
  let botPid = 0
  for (let i = 0; i < 120 && botPid === 0; i++) {
    const view = (await adminGet(adminPort, token, "/bots/demo-ticker")) as { queryAddress?: string }
    const answered =
      view.queryAddress !== undefined &&
      (await post(new URL(`http://127.0.0.1:${queryPort}/query`), queryBody("demo-ticker", "/status"))) === 200
    if (answered && view.queryAddress !== undefined) {
      address = view.queryAddress
      botPid = listening(address)
    }
    if (botPid === 0) await sleep(500)
  }
  if (address === undefined || botPid === 0) throw new Error("dev's demo-ticker never answered a query")
  const devPid = dev.pid ?? 0
  const idle0 = cpuSeconds(devPid)
  await sleep(5000)
  /** CPU seconds per second dev spends with no query (its controller, kubelet, the demo bots' schedule). */
  const idleRate = (cpuSeconds(devPid) - idle0) / 5
  const result = await sideBySide(
    "dev --demo: dev's QueryServer (embedded backends), demo-ticker /status",
    address,
    botPid,
    {
      url: new URL(`http://127.0.0.1:${queryPort}/query`),
      pid: dev.pid ?? 0,
      bodies: [queryBody("demo-ticker", "/status")]
    },
    "/status"
  )
  dev.kill("SIGINT")
  await Promise.race([new Promise((resolve) => dev.once("exit", resolve)), sleep(60_000)])
  rmSync(dataDir, { recursive: true, force: true })
  return { ...result, idleUsPerRequest: (idleRate / result.ours.rps) * 1e6 }
}

const resolutionFlatness = async (entry: string, counts: ReadonlyArray<number>) => {
  const bot = await botServer()
  console.log(`\n## our QueryServer by number of bots, queries spread over every bot (${concurrency} concurrent)\n`)
  console.log(
    "| bots | req/s | p50 | p99 | server CPU/request | errors | resolution from the Pod cache | from the store (queries without a ready Pod) |"
  )
  console.log("|---|---|---|---|---|---|---|---|")
  for (const bots of counts) {
    const server = await queryServer(entry, bot.port, bots)
    const bodies = Array.from({ length: bots }, (_, i) => queryBody(`bench-bot-${i}`, "/price"))
    const target = {
      name: String(bots),
      url: new URL(`http://127.0.0.1:${server.port}/query`),
      bodies,
      pid: server.child.pid ?? 0,
      botPid: bot.child.pid ?? 0
    }
    await phase(target.url, target.bodies, concurrency, (n) => n < 2000, [])
    const [m] = await closedLoops([target], [[]])
    if (m === undefined) throw new Error("not measured")
    console.log(
      `| ${bots} | ${m.rps.toFixed(0)} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.cpuUs.toFixed(0)} µs | ${m.errors} | ${server.resolution} |`
    )
    await stop(server.child)
  }
  await stop(bot.child)
}

const main = async () => {
  console.log(
    `# realtime queries side by side: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}, ` +
      `${sequential} sequential, ${concurrency} concurrent for ${seconds} s; load average before: ${load()}`
  )
  const entry = await bundled()
  if (botCounts !== undefined) return resolutionFlatness(entry, botCounts)
  const controller = await controllerMode(entry)
  let met = controller.met
  if (withDev) {
    const dev = await devMode()
    const ratio = dev.ours.cpuUs / controller.ours.cpuUs
    console.log(
      `\n| dev's CPU per proxied request / controller mode's (${dev.ours.cpuUs.toFixed(0)} vs ${controller.ours.cpuUs.toFixed(0)} µs; ` +
        `${dev.idleUsPerRequest.toFixed(0)} µs of dev's are its idle CPU over the same time) | ${ratio.toFixed(2)} | <= 2 | ${verdict(ratio <= 2)} |`
    )
    met = met && dev.met && ratio <= 2
  }
  console.log(`\nall budgets: ${verdict(met)}`)
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(async () => {
    agent.destroy()
    await Promise.all(children.map(stop))
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true })
  })
