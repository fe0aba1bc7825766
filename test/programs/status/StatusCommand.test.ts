/** `the0-runtime status` as a command, on the memory layers: what a person and a script see. */
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { eventsStream, Subject } from "../../../src/domain/BotEvent.ts"
import type { PodStatus } from "../../../src/domain/Kube.ts"
import { MemoryBotStore } from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as Status from "../../../src/programs/cli/Status.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { EventBus } from "../../../src/services/EventBus.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot, ns, putBot, settings, settle, world } from "../controller/ControllerEnv.ts"

/** Runs `status` with `args` against the world of the test; what it printed, and the exit code it set. */
const status = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    // the live backends log as they connect
    const bus = yield* MemoryEventBus.make
    yield* bus.ensureStream({ name: eventsStream, subjects: ["the0.bot.*"] })
    yield* bus.publish(Subject.botCreated, new TextEncoder().encode("{}"))
    const backends = Layer.mergeAll(
      Layer.succeed(KubeApi, yield* KubeApi),
      Layer.succeed(BotStore, yield* BotStore),
      Layer.effectDiscard(Effect.logInfo("connected to MongoDB").pipe(Effect.andThen(Effect.logWarning("slow store"))))
    )
    const cli = Command.run(
      Command.make("the0-runtime").pipe(
        Command.withSubcommands([
          Status.command({ cluster: () => backends, events: () => Layer.succeed(EventBus, bus) })
        ])
      ),
      {
        name: "the0-runtime",
        version: "test"
      }
    )
    const out: Array<string> = []
    const err: Array<string> = []
    const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => void out.push(String(line)))
    const error = vi.spyOn(console, "error").mockImplementation((line: unknown) => void err.push(String(line)))
    process.exitCode = undefined
    yield* cli(["node", "the0-runtime", "status", "--namespace", ns, ...args]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.ensuring(
        Effect.sync(() => {
          log.mockRestore()
          error.mockRestore()
        })
      )
    )
    const code = process.exitCode
    process.exitCode = undefined
    return { stdout: out.join("\n"), stderr: err.join("\n"), code }
  })

afterEach(() => {
  process.exitCode = undefined
})

const twoBots = Effect.gen(function* () {
  const controller = yield* Controller.make(botPods, settings)
  yield* controller.run
  for (const id of ["healthy", "crashing"]) {
    yield* putBot(bot(id))
    yield* controller.notify(id)
  }
  yield* settle
  const cluster = yield* MemoryCluster
  const crash: PodStatus = {
    containerStatuses: [
      { name: "bot", ready: false, restartCount: 4, state: { waiting: { reason: "CrashLoopBackOff" } } }
    ]
  }
  yield* cluster.direct.patchStatus("Pod", ns, "bot-crashing", crash)
  yield* cluster.appendLog(ns, "bot-crashing", "bot", "Traceback (most recent call last)\nKeyError: 'api_key'\n")
})

describe("the0-runtime status", () => {
  it.scoped("the table shows the failing bot with its reason and leaves the running one out unless --all", () =>
    Effect.gen(function* () {
      yield* twoBots
      const shown = yield* status([])
      expect(shown.code).toBeUndefined()
      expect(shown.stdout).toMatch(/Bots\s+2 desired, 1 running, 1 failing/)
      expect(shown.stdout).toMatch(/Ingest\s+not shown \(no --nats-url\)/)
      expect((yield* status(["--nats-url", "nats://bus"])).stdout).toMatch(
        /Ingest\s+no replica has consumed THE0_EVENTS yet/
      )
      expect(shown.stdout).toMatch(/crashing\s+failing\s+bot-crashing\s+Running\s+4\s+bot: CrashLoopBackOff/)
      expect(shown.stdout).not.toMatch(/^healthy/m)
      expect((yield* status(["--all"])).stdout).toMatch(/^healthy\s+running\s+bot-healthy/m)
    }).pipe(Effect.provide(world()))
  )

  it.scoped("--output json is the report, for scripts", () =>
    Effect.gen(function* () {
      yield* twoBots
      const shown = yield* status(["--output", "json"])
      const report = JSON.parse(shown.stdout)
      expect(shown.stderr).toContain("slow store")
      expect(shown.stderr).not.toContain("connected to MongoDB")
      expect(report.bots.desired).toBe(2)
      expect(report.bots.counts.failing).toBe(1)
      expect(report.bots.items.map((b: { id: string; state: string }) => [b.id, b.state])).toEqual([
        ["crashing", "failing"],
        ["healthy", "running"]
      ])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("--bot ID tells that bot's story, with its last log line", () =>
    Effect.gen(function* () {
      yield* twoBots
      const story = (yield* status(["--bot", "crashing"])).stdout
      expect(story).toMatch(/State\s+failing/)
      expect(story).toMatch(/Reason\s+bot: CrashLoopBackOff/)
      expect(story).toMatch(/Last log line\s+KeyError: 'api_key'/)
      expect(story).toMatch(/^bot\s+waiting: CrashLoopBackOff\s+no\s+4/m)
      const json = JSON.parse((yield* status(["--bot", "crashing", "-o", "json"])).stdout)
      expect(json).toMatchObject({ id: "crashing", status: { state: "failing", restarts: 4 } })
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a store that cannot be read is an error and exit code 1, never an empty screen", () =>
    Effect.gen(function* () {
      yield* twoBots
      yield* (yield* MemoryBotStore).setDown(true)
      const shown = yield* status([])
      expect(shown.code).toBe(1)
      expect(shown.stdout).toBe("")
      expect(shown.stderr).toContain("status: cannot read the cluster or the store")
    }).pipe(Effect.provide(world()))
  )
})
