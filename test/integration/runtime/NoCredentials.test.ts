/**
 * No credential in any process bot code can read (issue 16), with the in-pod commands started as the generated
 * realtime Pod's containers (support/RenderedPod.ts: one PID namespace each, uid 1000, env from the spec) against
 * the testbed's MinIO: `restore` then the `sync` sidecar, then `bot` and `query-server`. A spying bot reports from
 * both its bot process and its query server what it can read: its env, every /proc/<pid>/environ and cmdline, every
 * file on the Pod's volumes. It finds neither MinIO key, no object-store setting, no process of another container,
 * and nothing of another bot whose code and state sit in the same buckets; meanwhile the sidecar holds the keys and
 * the bot's state still reaches MinIO.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { botPod } from "../../../src/programs/manifests/BotPod.ts"
import { defaults } from "../../../src/programs/manifests/ManifestSettings.ts"
import { zipDirectory } from "../../programs/runtime/support/Zip.ts"
import { requireEnv } from "../testbed/env.ts"
import {
  buckets,
  getJson,
  putObject,
  removeWork,
  run,
  storedState,
  uploadFixtureBots,
  waitFor,
  work
} from "./support/PodWorld.ts"
import { renderedPod, type StartedContainer } from "./support/RenderedPod.ts"
import { leaks, looked, type SpyReport } from "./support/SpyReport.ts"

const minio = requireEnv("MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")
const neighbourMarker = `neighbour-object-${run}`
const secrets = [minio.MINIO_ACCESS_KEY, minio.MINIO_SECRET_KEY]

beforeAll(async () => {
  await uploadFixtureBots()
  // another bot's code and state in the same buckets
  const neighbour = mkdtempSync(path.join(work, "neighbour-"))
  writeFileSync(path.join(neighbour, "main.js"), `// ${neighbourMarker}\n`)
  await putObject(buckets.MINIO_CODE_BUCKET, "user/neighbour/1.0.0", Buffer.from(zipDirectory(neighbour)))
  await putObject(buckets.MINIO_STATE_BUCKET, `${run}-neighbour/state.tar.gz`, Buffer.from(neighbourMarker))
}, 120_000)
afterAll(removeWork)

const botId = `${run}-spy`
const pod = Either.getOrThrow(
  botPod(
    {
      ...defaults,
      minioEndpoint: minio.MINIO_ENDPOINT,
      minioSecret: { name: "the0-secrets", accessKeyKey: "minio-access-key", secretKeyKey: "minio-secret-key" }
    },
    {
      id: botId,
      config: { mode: "spy", interval: 200 },
      custom: {
        version: "1.0.0",
        filePath: "user/node-bot/1.0.0",
        config: { name: "spy", runtime: "nodejs20", entrypoints: { bot: "main.js", query: "query.js" } }
      }
    }
  )
)

describe("no credential in any process bot code can read", () => {
  it("the realtime Pod's bot and query-server containers: env, /proc and volumes hold no credential and no other bot's objects", async () => {
    const dir = path.join(work, "spy-pod")
    const started = await renderedPod(
      pod,
      dir,
      { "minio-access-key": minio.MINIO_ACCESS_KEY, "minio-secret-key": minio.MINIO_SECRET_KEY },
      buckets
    )
    const [restoreSpec, syncSpec] = pod.spec.initContainers ?? []
    const [botSpec, querySpec] = pod.spec.containers
    if (restoreSpec === undefined || syncSpec === undefined || botSpec === undefined || querySpec === undefined)
      throw new Error("the Pod lacks a container")
    const containers: Array<StartedContainer> = []
    try {
      const restore = started.start(restoreSpec)
      expect(await restore.exit, restore.output()).toBe(0)
      const sync = started.start(syncSpec)
      containers.push(sync)
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${started.port(8079)}/readyz`).then(
            (r) => r.status,
            () => 0
          )) === 200,
        "sync readiness"
      )
      const bot = started.start(botSpec)
      const queryServer = started.start(querySpec)
      containers.push(bot, queryServer)

      const reportFile = path.join(dir, "bot-state/.the0-state/spy.json")
      await waitFor(() => existsSync(reportFile), "the bot's report", 30_000)
      const fromBot = JSON.parse(readFileSync(reportFile, "utf8")) as SpyReport
      const url = `http://127.0.0.1:${started.port(9476)}/spy`
      await waitFor(async () => (await getJson(url).catch(() => ({ status: 0 }))).status === 200, "the query server")
      const fromQuery = ((await getJson(url)).body as { data: SpyReport }).data

      for (const [who, report] of [
        ["bot", fromBot],
        ["query server", fromQuery]
      ] as const) {
        expect(leaks(report, secrets, [neighbourMarker]), who).toStrictEqual([])
        // it did look: its own container's processes (launcher, runtime, itself) and environs, its code on /bot
        expect(looked(report), who).toBe(true)
        expect(report.files.map((f) => f.path)).toContain(path.join(dir, "bot-code/main.js"))
        for (const file of report.files) expect(file.path.startsWith(`${dir}/`), file.path).toBe(true)
      }
      expect(bot.output()).toContain("Skipping code and state download")

      // the sidecar, in its own container, does hold the keys
      const syncPid = execFileSync("ps", ["-o", "pid=", "--ppid", String(sync.child.pid)])
        .toString()
        .trim()
      expect(readFileSync(`/proc/${syncPid}/environ`, "utf8")).toContain(minio.MINIO_SECRET_KEY)

      await waitFor(async () => (await storedState(botId)).spy !== undefined, "the report in the stored state", 30_000)
      bot.signal("SIGTERM")
      queryServer.signal("SIGTERM")
      expect(await bot.exit, bot.output()).toBe(1)
      expect(await queryServer.exit, queryServer.output()).toBe(1)
      sync.signal("SIGTERM")
      expect(await sync.exit, sync.output()).toBe(0)
      expect((await storedState(botId)).stopped).toBe(true)
    } finally {
      for (const container of containers) container.child.kill("SIGKILL")
    }
  }, 120_000)
})
