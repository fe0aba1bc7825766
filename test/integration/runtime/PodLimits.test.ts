/**
 * A realtime bot's containers under exactly the limits of the Pod the controller generates (read from the
 * generator, not copied), each in its own cgroup v1 memory and CPU group as the kubelet would make them, against
 * the testbed's MinIO: `restore` ends with 0, then each of the other three becomes ready within 10 s, they carry a 10 MiB state change and a burst of 10,000 log
 * lines, and the kernel OOM-kills nothing. The `execute` process of the bot container leaves the bot at least
 * 640 MiB of its 768 MiB. Needs root and cgroup v1 (this machine and CI have both).
 */
import { readFileSync } from "node:fs"
import { Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Container as PodContainer } from "../../../src/domain/Kube.ts"
import { botPod } from "../../../src/programs/manifests/BotPod.ts"
import { defaults } from "../../../src/programs/manifests/ManifestSettings.ts"
import { cgroupV1Available, type Group, makeGroup, quantity } from "./support/Cgroup.ts"
import {
  freePort,
  getJson,
  logRecords,
  pod,
  type Running,
  removeWork,
  run,
  start,
  storedState,
  uploadFixtureBots,
  waitFor,
  withoutStore
} from "./support/PodWorld.ts"

beforeAll(uploadFixtureBots, 120_000)
afterAll(removeWork)

const mib = 1024 * 1024

/** The Pod the controller generates for a realtime Node bot with a query entrypoint. */
const generatedPod = (id: string) =>
  botPod(defaults, {
    id,
    config: { symbol: "BTC/USD" },
    custom: {
      version: "1.0.0",
      filePath: "user/node-bot/1.0.0",
      config: { name: "node-bot", runtime: "nodejs20", entrypoints: { bot: "main.js", query: "query.js" } }
    }
  })

const limitsOf = (container: PodContainer | undefined) => {
  const limits = container?.resources?.limits
  if (limits?.memory === undefined || limits.cpu === undefined) throw new Error(`${container?.name}: no limits`)
  return { memoryBytes: quantity.bytes(String(limits.memory)), millicores: quantity.millicores(String(limits.cpu)) }
}

const rssPeakBytes = (pid: number): number =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0") * 1024

describe("a realtime bot's containers under the generated Pod's limits", () => {
  it("become ready within 10 s, carry a 10 MiB state change and 10,000 log lines, and are never OOM-killed", async () => {
    expect(cgroupV1Available(), "cgroup v1 memory and cpu controllers must be mounted (and we must be root)").toBe(true)
    const botId = `${run}-limits`
    const generated = generatedPod(botId)
    if (Either.isLeft(generated)) throw new Error(generated.left.message)
    const spec = generated.right.spec
    const container = (name: string) =>
      [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === name)
    const groups: Record<"restore" | "sync" | "bot" | "query-server", Group> = {
      restore: makeGroup(`the0-it-${botId}-restore`, limitsOf(container("restore"))),
      sync: makeGroup(`the0-it-${botId}-sync`, limitsOf(container("sync"))),
      bot: makeGroup(`the0-it-${botId}-bot`, limitsOf(container("bot"))),
      "query-server": makeGroup(`the0-it-${botId}-query`, limitsOf(container("query-server")))
    }
    const running: Array<Running> = []
    try {
      const queryPort = await freePort()
      const readinessPort = await freePort()
      const world = pod("limits", {
        BOT_ID: botId,
        RUNTIME: "nodejs20",
        ENTRYPOINT: "main.js",
        QUERY_ENTRYPOINT: "query.js",
        CODE_FILE: "user/node-bot/1.0.0",
        BOT_CONFIG: '{"symbol":"BTC/USD","mode":"burst","interval":200}',
        BOT_TYPE: "realtime",
        THE0_QUERY_PORT: String(queryPort)
      })
      const paths: Record<string, string> = {
        "/bot": world.dirs.code,
        "/state": world.dirs.state,
        "/var/the0/logs": world.dirs.logs
      }
      const args = (name: string) =>
        [...(container(name)?.command ?? []).slice(1), ...(container(name)?.args ?? [])].map((arg) => paths[arg] ?? arg)
      const syncArgs = args("sync")
      syncArgs[syncArgs.indexOf("--readiness-port") + 1] = String(readinessPort)

      const restore = start(args("restore"), world.env, groups.restore)
      expect(await restore.exit, restore.output()).toBe(0)
      const sidecar = start(syncArgs, world.env, groups.sync)
      running.push(sidecar)
      const syncReadyMs = await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${readinessPort}/readyz`)
            .then((r) => r.status)
            .catch(() => 0)) === 200,
        "the sync sidecar's /readyz",
        10_000
      )
      const bot = start(args("bot"), withoutStore(world.env), groups.bot)
      const queryServer = start(args("query-server"), withoutStore(world.env), groups["query-server"])
      running.push(bot, queryServer)
      const queryReadyMs = await waitFor(
        async () => (await getJson(`http://127.0.0.1:${queryPort}/health`).catch(() => ({ status: 0 }))).status === 200,
        "the query server",
        10_000
      )
      await waitFor(() => bot.output().includes("burst line 9999"), "the bot's burst of log lines", 30_000)
      await waitFor(
        async () => {
          const state = await storedState(botId)
          const stored = [state.blob1, state.blob2].map((blob) => (typeof blob === "string" ? blob.length : 0))
          return state.burst === "done" && stored[0] === 5 * mib && stored[1] === 5 * mib
        },
        "the 10 MiB state change in MinIO",
        60_000
      )
      await waitFor(
        async () => (await logRecords(botId)).some((record) => record.message === "burst line 9999"),
        "the last burst line in MinIO",
        60_000
      )
      expect(await getJson(`http://127.0.0.1:${queryPort}/status`)).toMatchObject({ status: 200 })

      for (const process of running) expect(process.child.exitCode, process.output().slice(-2000)).toBeNull()
      for (const [name, group] of Object.entries(groups)) expect(group.oomKills(), `${name} OOM kills`).toBe(0)
      const executePeak = rssPeakBytes(bot.child.pid ?? 0)
      const peaks = Object.fromEntries(
        Object.entries(groups).map(([name, group]) => [name, Math.round(group.peakBytes() / mib)])
      )
      console.log(
        `ready: sync ${syncReadyMs} ms, query server ${queryReadyMs} ms; peak MiB per container ${JSON.stringify(peaks)}; ` +
          `execute itself ${Math.round(executePeak / mib)} MiB, sync ${Math.round(rssPeakBytes(sidecar.child.pid ?? 0) / mib)} MiB, ` +
          `query-server execute ${Math.round(rssPeakBytes(queryServer.child.pid ?? 0) / mib)} MiB`
      )
      // the bot container's limit is shared with the bot: its runtime leaves the bot at least 640 MiB of 768 MiB
      expect(executePeak).toBeLessThanOrEqual(limitsOf(container("bot")).memoryBytes - 640 * mib)

      bot.child.kill("SIGTERM")
      queryServer.child.kill("SIGTERM")
      expect(await bot.exit, bot.output().slice(-2000)).toBe(1)
      expect(await queryServer.exit).toBe(1)
      sidecar.child.kill("SIGTERM")
      expect(await sidecar.exit, sidecar.output().slice(-2000)).toBe(0)
      for (const [name, group] of Object.entries(groups)) expect(group.oomKills(), `${name} OOM kills`).toBe(0)
      expect((await storedState(botId)).stopped).toBe(true)
    } catch (error) {
      const tails = running.map((process) => process.output().split("\n").slice(-20).join("\n"))
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tails.join("\n---\n")}`)
    } finally {
      for (const process of running) process.child.kill("SIGKILL")
      await Promise.all(running.map((process) => process.exit))
      for (const group of Object.values(groups)) await group.remove()
    }
  }, 180_000)
})
