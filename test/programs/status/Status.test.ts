/**
 * `the0-runtime status` on the memory layers: the real controllers make the Pods and CronJobs and the real leader
 * election takes the Lease; the simulated kubelet and status patches then put them in the states an operator meets.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import { eventsStream, Subject } from "../../../src/domain/BotEvent.ts"
import type { ContainerStatus, PodStatus } from "../../../src/domain/Kube.ts"
import { Annotation } from "../../../src/domain/Labels.ts"
import { MemoryBotStore } from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../../../src/layers/memory/MemoryEventBus.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import * as LeaderElection from "../../../src/programs/controller/LeaderElection.ts"
import { botPods, scheduleCronJobs } from "../../../src/programs/controller/OwnedKinds.ts"
import { durableName } from "../../../src/programs/ingest/EventIngest.ts"
import { gather, gatherBot } from "../../../src/programs/status/Gather.ts"
import type { StatusReport } from "../../../src/programs/status/StatusReport.ts"
import { EventBus } from "../../../src/services/EventBus.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot, ns, putBot, putSchedule, schedule, settings, settle, world } from "../controller/ControllerEnv.ts"

const target = { namespace: ns, leaseName: LeaderElection.defaults.leaseName }

/** Bots (and schedules) whose Pods (and CronJobs) the real controllers make. */
const withObjects = (ids: ReadonlyArray<string>, scheduleIds: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const bots = yield* Controller.make(botPods, settings)
    const schedules = yield* Controller.make(scheduleCronJobs, settings)
    yield* bots.run
    yield* schedules.run
    for (const id of ids) {
      yield* putBot(bot(id))
      yield* bots.notify(id)
    }
    for (const id of scheduleIds) {
      yield* putSchedule(schedule(id, "0 9 * * *"))
      yield* schedules.notify(id)
    }
    yield* settle
    return { bots, schedules }
  })

const patchPod = (name: string, status: PodStatus) =>
  Effect.flatMap(MemoryCluster, (c) => c.direct.patchStatus("Pod", ns, name, status))

const botContainer = (state: ContainerStatus["state"], restartCount = 0, extra: object = {}): ContainerStatus =>
  ({ name: "bot", ready: false, restartCount, state, ...extra }) as ContainerStatus

const item = (report: StatusReport, id: string) => report.bots.items.find((b) => b.id === id)

describe("status", () => {
  it.scoped("bots desired, running, starting and failing, each with the reason the Pod gives", () =>
    Effect.gen(function* () {
      yield* withObjects(["ok", "crash", "evicted", "pull", "init", "creating", "exited", "half", "unscheduled"])
      const kubelet = yield* SimulatedKubelet
      yield* patchPod("bot-crash", {
        containerStatuses: [
          botContainer({ waiting: { reason: "CrashLoopBackOff", message: "back-off 5m0s" } }, 7, {
            lastState: { terminated: { exitCode: 1, reason: "Error", finishedAt: "1970-01-01T00:00:00Z" } }
          })
        ]
      })
      yield* kubelet.failPod(ns, "bot-evicted", "Evicted")
      yield* patchPod("bot-pull", {
        phase: "Pending",
        containerStatuses: [botContainer({ waiting: { reason: "ImagePullBackOff" } })]
      })
      yield* patchPod("bot-init", {
        phase: "Pending",
        initContainerStatuses: [
          { name: "sync", ready: false, restartCount: 0, state: { terminated: { exitCode: 2, reason: "Error" } } }
        ],
        containerStatuses: [botContainer({ waiting: { reason: "PodInitializing" } })]
      })
      yield* patchPod("bot-creating", {
        phase: "Pending",
        containerStatuses: [botContainer({ waiting: { reason: "ContainerCreating" } })]
      })
      yield* patchPod("bot-exited", {
        containerStatuses: [botContainer({ terminated: { exitCode: 0, reason: "Completed" } })]
      })
      yield* patchPod("bot-half", {
        phase: "Running",
        containerStatuses: [
          botContainer({ running: {} }),
          { name: "query-server", ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } }
        ]
      })
      const unschedulable = { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes" }
      yield* patchPod("bot-unscheduled", { phase: "Pending", conditions: [unschedulable], containerStatuses: [] })
      const report = yield* gather(target)
      expect(report.bots.desired).toBe(9)
      expect(report.bots.counts).toMatchObject({ running: 1, starting: 2, failing: 6 })
      expect(item(report, "unscheduled")?.reasons).toEqual(["not scheduled: Unschedulable: 0/3 nodes"])
      expect(item(report, "half")).toMatchObject({
        state: "starting",
        reasons: ["Pod Running", "query-server: ContainerCreating"]
      })
      expect(item(report, "ok")).toMatchObject({ state: "running", reasons: [], pods: 1 })
      expect(item(report, "crash")).toMatchObject({
        state: "failing",
        restarts: 7,
        reasons: ["bot: CrashLoopBackOff: back-off 5m0s"]
      })
      expect(item(report, "crash")?.pod?.containers.find((c) => c.name === "bot")?.lastTermination).toEqual({
        reason: "Error",
        exitCode: 1,
        finishedAt: "1970-01-01T00:00:00Z"
      })
      expect(item(report, "evicted")).toMatchObject({ state: "failing" })
      expect(item(report, "evicted")?.reasons[0]).toBe("Pod Failed: Evicted")
      expect(item(report, "pull")?.reasons).toEqual(["bot: ImagePullBackOff"])
      expect(item(report, "init")).toMatchObject({ state: "failing", reasons: ["sync: Error (exit 2)"] })
      expect(item(report, "creating")).toMatchObject({ state: "starting" })
      expect(item(report, "exited")).toMatchObject({ state: "failing", reasons: ["bot: Completed (exit 0)"] })
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a bot without a Pod, a document that does not decode, and a Pod without a document", () =>
    Effect.gen(function* () {
      const { bots } = yield* withObjects(["kept", "gone"])
      const store = yield* MemoryBotStore
      yield* store.clear("bots")
      yield* putBot(bot("kept"))
      yield* putBot(bot("waiting"))
      yield* store.insertRaw("bots", { id: "broken", config: "not an object" })
      const report = yield* gather(target)
      expect(report.bots.desired).toBe(3)
      expect(item(report, "waiting")).toMatchObject({ state: "no-pod", reasons: ["no Pod"] })
      expect(item(report, "broken")?.state).toBe("invalid")
      expect(item(report, "broken")?.reasons[0]).toContain("config")
      expect(item(report, "gone")).toMatchObject({ state: "orphaned", pods: 1 })
      expect(report.bots.counts).toMatchObject({ running: 1, "no-pod": 1, invalid: 1, orphaned: 1 })
      yield* bots.notify("gone")
      yield* settle
      expect(item(yield* gather(target), "gone")).toBeUndefined()
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a Pod running an older document, and one made by the0, are a roll-out in progress", () =>
    Effect.gen(function* () {
      yield* withObjects(["old", "the0", "fresh"])
      yield* putBot(bot("old", { symbol: "ETH/USD" }))
      const api = yield* KubeApi
      const pod = yield* api.get("Pod", ns, "bot-the0")
      const { [Annotation.documentHash]: _hash, ...annotations } = pod.metadata.annotations ?? {}
      yield* api.update("Pod", ns, { ...pod, metadata: { ...pod.metadata, annotations } })
      const report = yield* gather(target)
      expect(report.rollout.outdated).toEqual(["old"])
      expect(report.rollout.awaitingMigration).toEqual(["the0"])
      expect(report.rollout.terminatingPods).toBe(0)
    }).pipe(Effect.provide(world()))
  )

  it.scoped("the leader is the Lease's holder while it renews, and none once the Lease has expired", () =>
    Effect.gen(function* () {
      expect((yield* gather(target)).leader).toBeUndefined()
      yield* TestClock.setTime(Date.parse("2026-01-01T00:00:00Z"))
      yield* Effect.forkScoped(
        Effect.scoped(
          Effect.andThen(
            LeaderElection.make({ ...LeaderElection.defaults, namespace: ns, identity: "replica-a" }),
            Effect.never
          )
        )
      )
      yield* settle
      const leading = yield* gather(target)
      expect(leading.leader).toMatchObject({ holder: "replica-a", held: true, leaseDurationSeconds: 15 })
      const api = yield* KubeApi
      const lease = yield* api.get("Lease", ns, target.leaseName)
      yield* api.update("Lease", ns, { ...lease, spec: { ...lease.spec, holderIdentity: "replica-b" } })
      yield* (yield* MemoryCluster).failNext({ verb: "update", kind: "Lease", times: 1000, code: 500 })
      yield* TestClock.adjust("14 seconds")
      expect((yield* gather(target)).leader).toMatchObject({ holder: "replica-b", held: true })
      yield* TestClock.adjust("2 seconds")
      expect((yield* gather(target)).leader).toMatchObject({ holder: "replica-b", held: false })
    }).pipe(Effect.provide(world()))
  )

  it.scoped("where event ingest stands in the NATS stream, or why NATS cannot say", () =>
    Effect.gen(function* () {
      const bus = yield* MemoryEventBus.make
      const events = Layer.succeed(EventBus, bus)
      const ingest = (layer: Layer.Layer<EventBus, unknown>) =>
        Effect.map(gather({ ...target, events: layer }), (r) => r.ingest)
      expect((yield* gather(target)).ingest).toEqual({ state: "not-configured" })
      expect(yield* ingest(events)).toEqual({ state: "no-stream" })
      yield* bus.ensureStream({ name: eventsStream, subjects: ["the0.bot.*"] })
      for (const id of ["a", "b", "c"]) yield* bus.publish(Subject.botCreated, new TextEncoder().encode(id))
      expect(yield* ingest(events)).toEqual({ state: "no-consumer" })
      const delivered = yield* bus
        .consume({ stream: eventsStream, durable: durableName })
        .pipe(Stream.take(2), Stream.runCollect)
      yield* Chunk.unsafeHead(delivered).ack
      expect(yield* ingest(events)).toEqual({
        state: "reading",
        lastSequence: 3,
        ackFloor: 1,
        behind: 2,
        undelivered: 1
      })
      expect(yield* ingest(Layer.fail(new Error("connection refused")))).toEqual({
        state: "unavailable",
        reason: "connection refused"
      })
      const silent = yield* Effect.fork(ingest(Layer.effect(EventBus, Effect.never)))
      yield* TestClock.adjust("5 seconds")
      expect(yield* Fiber.join(silent)).toEqual({ state: "unavailable", reason: "no answer within 5 seconds" })
    }).pipe(Effect.provide(world()))
  )

  it.scoped("schedules with their last and next run; a last run that did not succeed is failing", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.parse("2026-03-01T10:00:00Z"))
      yield* withObjects([], ["daily", "broken-run", "running-now", "never-ran"])
      const cluster = yield* MemoryCluster
      const patch = (id: string, status: object) => cluster.direct.patchStatus("CronJob", ns, `schedule-${id}`, status)
      yield* patch("daily", {
        lastScheduleTime: "2026-03-01T09:00:00Z",
        lastSuccessfulTime: "2026-03-01T09:00:41Z"
      })
      yield* patch("broken-run", {
        lastScheduleTime: "2026-03-01T09:00:00Z",
        lastSuccessfulTime: "2026-02-28T09:00:30Z"
      })
      yield* patch("running-now", {
        lastScheduleTime: "2026-03-01T09:00:00Z",
        active: [{ name: "schedule-running-now-29500000" }]
      })
      const report = yield* gather(target)
      const of = (id: string) => report.schedules.items.find((s) => s.id === id)
      expect(report.schedules.desired).toBe(4)
      expect(of("daily")).toMatchObject({
        state: "scheduled",
        lastRun: "2026-03-01T09:00:00Z",
        lastSuccess: "2026-03-01T09:00:41Z",
        nextRun: "2026-03-02T09:00:00.000Z",
        active: 0
      })
      expect(of("broken-run")).toMatchObject({
        state: "failing",
        reasons: ["last run 2026-03-01T09:00:00Z did not succeed"]
      })
      expect(of("running-now")).toMatchObject({ state: "scheduled", active: 1 })
      expect(of("never-ran")).toMatchObject({ state: "scheduled", reasons: [] })
      expect(report.schedules.counts).toMatchObject({ scheduled: 3, failing: 1 })
    }).pipe(Effect.provide(world()))
  )

  it.scoped("one bot's story: its document, its Pods and containers, restarts and the last line it logged", () =>
    Effect.gen(function* () {
      yield* withObjects(["story"])
      const kubelet = yield* SimulatedKubelet
      yield* kubelet.exitContainer(ns, "bot-story", "bot", 1)
      const cluster = yield* MemoryCluster
      yield* cluster.appendLog(ns, "bot-story", "bot", "starting\nconnected to exchange\n")
      const story = yield* gatherBot(target, "story")
      expect(story.document).toMatchObject({
        enabled: true,
        name: "bot-story",
        version: "1.0.0",
        runtime: "python3.11"
      })
      expect(story.status).toMatchObject({ state: "running", restarts: 1 })
      expect(story.pods.map((p) => p.name)).toEqual(["bot-story"])
      expect(story.pods[0]?.containers.find((c) => c.name === "bot")).toMatchObject({ restarts: 1, state: "running" })
      expect(story.lastLogLine).toBe("connected to exchange")

      yield* putBot(bot("story", { enabled: false }))
      expect((yield* gatherBot(target, "story")).status.reasons).toEqual([
        "document disabled (config.enabled is false): no Pod should run"
      ])
      const unknown = yield* gatherBot(target, "nobody")
      expect(unknown).toMatchObject({ id: "nobody", pods: [], status: { reasons: ["no document and no Pod"] } })
      expect(unknown.document).toBeUndefined()
    }).pipe(Effect.provide(world()))
  )
})
