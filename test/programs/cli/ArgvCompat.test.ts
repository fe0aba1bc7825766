import { execFile } from "node:child_process"
import { describe, expect, it } from "vitest"
import { dockerModeCommand, hoistGlobalFlags } from "../../../src/programs/cli/ArgvCompat.ts"

const run = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile("./bin/the0-runtime", [...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })
    )
  })

describe("the0's command-line shapes", () => {
  it("moves the0's persistent flags given before the subcommand to right after it, in either form", () => {
    expect(
      hoistGlobalFlags([
        "node",
        "cli",
        "--mongo-uri=mongodb://m:1",
        "--nats-url",
        "nats://n:2",
        "controller",
        "--namespace=x"
      ])
    ).toEqual(["node", "cli", "controller", "--mongo-uri=mongodb://m:1", "--nats-url", "nats://n:2", "--namespace=x"])
    expect(hoistGlobalFlags(["node", "cli", "controller", "--mongo-uri", "m"])).toEqual([
      "node",
      "cli",
      "controller",
      "--mongo-uri",
      "m"
    ])
    // an unknown flag first, or nothing after the flags, is left to the parser's own messages
    expect(hoistGlobalFlags(["node", "cli", "--bogus", "controller"])).toEqual(["node", "cli", "--bogus", "controller"])
    expect(hoistGlobalFlags(["node", "cli", "--mongo-uri", "m"])).toEqual(["node", "cli", "--mongo-uri", "m"])
  })

  it("names the0's Docker-mode commands, and nothing else", () => {
    for (const argv of [["query-server", "--port", "9477"], ["bot-runner"], ["bot-scheduler"], ["daemon", "init"]])
      expect(dockerModeCommand(["node", "cli", ...argv])).toMatch(
        /Docker mode; this runtime is the Kubernetes mode only/
      )
    for (const argv of [["controller"], ["daemon", "sync"], ["execute"], []])
      expect(dockerModeCommand(["node", "cli", ...argv])).toBeUndefined()
  })

  it("the CLI: a Docker-mode command exits 2 with the message; global flags before `controller` are taken", async () => {
    const docker = await run(["query-server", "--port", "9477"])
    expect(docker.code).toBe(2)
    expect(docker.stderr).toContain("`query-server` belongs to the0's Docker mode")
    const init = await run(["daemon", "init", "--bot-id", "b"])
    expect(init.code).toBe(2)
    expect(init.stderr).toContain("`daemon init` belongs to the0's Docker mode")
    // the chart's shape: global flags first, --minio-bucket among the controller's; without MinIO credentials the
    // controller stops at its first check, after parsing every argument
    const { MINIO_ACCESS_KEY: _a, MINIO_SECRET_KEY: _s, ...noCredentials } = process.env
    const chart = await run(
      [
        "--mongo-uri=mongodb://127.0.0.1:1",
        "controller",
        "--namespace=the0",
        "--minio-bucket=custom-bots",
        "--reconcile-interval=30s"
      ],
      noCredentials
    )
    const output = chart.stdout + chart.stderr
    expect(output).not.toContain("Received unknown argument")
    expect(chart.stderr).toContain("ERROR: MinIO credentials (MINIO_ACCESS_KEY, MINIO_SECRET_KEY) are required")
    expect(chart.code).toBe(1)
  }, 60_000)

  it("the controller's settings it cannot run with: the message on stderr, exit 1, before any backend is reached", async () => {
    const invalid = await run(["controller", "--mongo-uri=mongodb://127.0.0.1:1", "--workers=0"], {
      ...process.env,
      MINIO_ACCESS_KEY: "a",
      MINIO_SECRET_KEY: "s"
    })
    expect(invalid.stderr).toContain("invalid settings: --workers must be at least 1")
    expect(invalid.code).toBe(1)
  }, 60_000)
})
