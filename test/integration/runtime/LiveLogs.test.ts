/**
 * Live logs (docs/contracts.md, "NATS subjects"): `daemon sync` run as the CLI with `NATS_URL` set publishes each raw chunk it
 * appends to the daily object on `the0.bot.logs.<id>`, on the testbed's NATS and MinIO.
 */
import { spawn } from "node:child_process"
import { mkdir, mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "@nats-io/transport-node"
import { describe, expect, it } from "vitest"
import { requireEnv, uniqueName } from "../testbed/env.ts"

const env = requireEnv("NATS_URL", "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")

describe("daemon sync with NATS_URL", () => {
  it("publishes the log chunks it uploads on the0.bot.logs.<id>", async () => {
    const botId = uniqueName("livelog")
    const dir = await mkdtemp(join(tmpdir(), "the0-livelog-"))
    const logs = join(dir, "logs")
    const state = join(dir, "state")
    await Promise.all([mkdir(logs), mkdir(state)])
    const nc = await connect({ servers: env.NATS_URL })
    const received: Array<string> = []
    const sub = nc.subscribe(`the0.bot.logs.${botId}`)
    const collecting = (async () => {
      for await (const m of sub) received.push(new TextDecoder().decode(m.data))
    })()
    await nc.flush()
    const child = spawn(
      "./bin/the0-runtime",
      ["daemon", "sync", "--bot-id", botId, "--state-path", state, "--logs-path", logs, "--readiness-port", "18697"],
      { env: { ...process.env, NATS_URL: env.NATS_URL }, stdio: "ignore" }
    )
    try {
      const ready = async () => (await fetch("http://127.0.0.1:18697/readyz").catch(() => undefined))?.status === 200
      for (let i = 0; i < 200 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 100))
      await writeFile(join(logs, "bot.log"), "hello from the bot\n")
      for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 100))
      expect(received.join("")).toContain("hello from the bot")
    } finally {
      child.kill("SIGTERM")
      sub.unsubscribe()
      await collecting
      await nc.close()
    }
  }, 60_000)
})
