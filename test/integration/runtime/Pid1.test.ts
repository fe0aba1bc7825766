/**
 * `execute` as PID 1 of its own PID namespace (as in a container): SIGTERM reaches the runtime, is forwarded to the
 * bot, and the runtime exits 1 after the bot stopped cleanly. Needs root for `unshare --pid`.
 */
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const repo = path.resolve(import.meta.dirname, "../../..")
const root = mkdtempSync(path.join(tmpdir(), "the0-pid1-"))

afterAll(() => rmSync(root, { recursive: true, force: true }))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs the node fixture bot with `config` through `execute` as PID 1 of a new PID namespace, in `box`. */
const runAsPid1 = (box: string, botId: string, config: object) => {
  cpSync(path.join(repo, "test/fixtures/bots/node-bot"), path.join(box, "bot"), { recursive: true })
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    BOT_ID: botId,
    RUNTIME: "nodejs20",
    ENTRYPOINT: "main.js",
    BOT_CONFIG: JSON.stringify(config),
    CODE_PATH: path.join(box, "bot"),
    STATE_PATH: path.join(box, "state"),
    LOGS_PATH: path.join(box, "logs"),
    STATE_DIR: path.join(box, "state/.the0-state"),
    THE0_WRAPPERS_DIR: path.join(repo, "assets/wrappers")
  }
  const unshare = spawn(
    "unshare",
    ["--pid", "--fork", "--mount-proc", path.join(repo, "bin/the0-runtime"), "execute", "--skip-sync"],
    { env, stdio: ["ignore", "pipe", "pipe"] }
  )
  const run = {
    unshare,
    output: "",
    exit: new Promise<number>((resolve) => unshare.once("exit", (code) => resolve(code ?? -1)))
  }
  unshare.stdout.on("data", (chunk: Buffer) => {
    run.output += chunk.toString("utf8")
  })
  unshare.stderr.on("data", (chunk: Buffer) => {
    run.output += chunk.toString("utf8")
  })
  return run
}

describe("execute as PID 1", () => {
  it("handles SIGTERM: the bot gets it, stops cleanly, and the runtime exits 1", async () => {
    const run = runAsPid1(root, "pid1-bot", { mode: "loop", interval: 50 })
    const { unshare, exit } = run
    const botLog = path.join(root, "logs/bot.log")
    const started = Date.now()
    while (!(existsSync(botLog) && readFileSync(botLog, "utf8").includes("tick"))) {
      if (Date.now() - started > 60_000) throw new Error(`bot did not start: ${run.output}`)
      await sleep(100)
    }
    // The namespace's PID 1 is unshare's child.
    const children = readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, "utf8").trim().split(/\s+/)
    const pid1 = Number(children[0])
    expect(readFileSync(`/proc/${pid1}/status`, "utf8")).toMatch(/NSpid:\s+\d+\s+1\n/)
    process.kill(pid1, "SIGTERM")
    expect(await exit, run.output).toBe(1)
    expect(JSON.parse(readFileSync(path.join(root, "state/.the0-state/stopped.json"), "utf8"))).toBe(true)
    expect(readFileSync(botLog, "utf8")).toContain("stopping on signal")
    expect(run.output).toContain("after a stop request")
  }, 90_000)

  it("reaps orphaned grandchildren: as PID 1 the launcher runs the runtime under tini", async () => {
    const tini = ["/usr/bin/tini", "/sbin/tini", "/usr/local/bin/tini", "/usr/bin/tini-static"].find(existsSync)
    expect(tini, "tini must be installed (.ci/run installs Debian's tini)").toBeDefined()
    const box = mkdtempSync(path.join(tmpdir(), "the0-reap-"))
    const run = runAsPid1(box, "reap-bot", { mode: "orphan" })
    const code = await run.exit
    expect(code, run.output).toBe(0)
    expect(readFileSync(path.join(box, "logs/bot.log"), "utf8")).toContain("zombies: 0")
    rmSync(box, { recursive: true, force: true })
  }, 90_000)
})
