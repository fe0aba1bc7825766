/**
 * The Events the controllers write against the fake cluster (docs/operations.md, "Kubernetes Events"): each thing
 * they do becomes its Event on the object concerned, repeats are aggregated, and a failing Event API fails nothing.
 * Also the convergence metrics set alongside: bots desired and running, and the time from ingest to the object.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Annotation } from "../../../src/domain/Labels.ts"
import { MemoryBotStore } from "../../../src/layers/memory/MemoryBotStore.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import type { ControllerSettings } from "../../../src/programs/controller/ControllerSettings.ts"
import { botPods, scheduleCronJobs } from "../../../src/programs/controller/OwnedKinds.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot, ns, pods, putBot, putSchedule, schedule, settings, settle, world } from "./ControllerEnv.ts"

const started = (s: ControllerSettings = settings) =>
  Effect.gen(function* () {
    const controller = yield* Controller.make(botPods, s)
    yield* controller.run
    yield* settle
    return controller
  })

const events = Effect.flatMap(MemoryCluster, (c) => c.events(ns))

/** `reason: note` of the Events about the object with that uid, oldest first. */
const story = (uid: string | undefined) =>
  Effect.map(events, (all) => all.filter((e) => e.regarding.uid === uid).map((e) => `${e.reason}: ${e.note}`))

const byReason = (reason: string) => Effect.map(events, (all) => all.filter((e) => e.reason === reason))

const metric = (name: string) =>
  Effect.flatMap(Metrics, (m) => Effect.promise(() => m.registry.getSingleMetricAsString(name)))

describe("Controller Events", () => {
  it.scoped("a new bot's Pod is Created, by the0.app/runtime and this replica, on the Pod", () =>
    Effect.gen(function* () {
      const controller = yield* started()
      yield* putBot(bot("b1"))
      yield* controller.notify("b1")
      yield* settle
      const [pod] = yield* pods
      const [event] = yield* events
      expect(event).toMatchObject({
        type: "Normal",
        reason: "Created",
        action: "Create",
        note: "Created Pod bot-b1 for bot b1",
        reportingController: "the0.app/runtime",
        reportingInstance: settings.leaderElection.identity,
        regarding: { apiVersion: "v1", kind: "Pod", name: "bot-b1", namespace: ns, uid: pod?.metadata.uid }
      })
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a config change: ConfigChanged on the old Pod, Recreated with the reason on the new one", () =>
    Effect.gen(function* () {
      yield* putBot(bot("c1", { risk: 1 }))
      const controller = yield* started()
      const before = (yield* pods)[0]
      yield* putBot(bot("c1", { risk: 2 }))
      yield* controller.notify("c1")
      yield* settle
      const after = (yield* pods)[0]
      expect(yield* story(before?.metadata.uid)).toEqual([
        "Created: Created Pod bot-c1 for bot c1",
        "ConfigChanged: bot c1's document changed; deleting the Pod to recreate it"
      ])
      expect(yield* story(after?.metadata.uid)).toEqual([
        "Recreated: Recreated Pod bot-c1 for bot c1: the bot's document changed"
      ])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a failed Pod: TerminalPhase (a warning naming the phase) on it, Recreated on the next", () =>
    Effect.gen(function* () {
      yield* putBot(bot("f1"))
      yield* started()
      const before = (yield* pods)[0]
      yield* (yield* SimulatedKubelet).failPod(ns, "bot-f1", "Evicted")
      yield* settle
      const after = (yield* pods)[0]
      const [terminal] = yield* byReason("TerminalPhase")
      expect(terminal?.type).toBe("Warning")
      expect(terminal?.regarding.uid).toBe(before?.metadata.uid)
      expect(terminal?.note).toBe("The Pod ended (phase Failed); deleting it to recreate it")
      expect(yield* story(after?.metadata.uid)).toEqual([
        "Recreated: Recreated Pod bot-f1 for bot f1: the previous Pod ended (phase Failed)"
      ])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a disabled bot's Pod is Disabled; a deleted document's, or one gone at a resync, Orphaned", () =>
    Effect.gen(function* () {
      for (const id of ["d1", "d2", "d3"]) yield* putBot(bot(id))
      const controller = yield* started()
      const uids = new Map((yield* pods).map((p) => [p.metadata.name, p.metadata.uid]))
      yield* putBot(bot("d1", { enabled: false }))
      yield* controller.notify("d1")
      yield* (yield* BotStore).bots.remove("d2")
      yield* controller.notify("d2", { document: null, version: 2 })
      yield* (yield* BotStore).bots.remove("d3")
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect((yield* story(uids.get("bot-d1"))).slice(1)).toEqual(["Disabled: bot d1 is disabled; deleting its Pod"])
      expect((yield* story(uids.get("bot-d2"))).slice(1)).toEqual([
        "Orphaned: bot d2's document was deleted; deleting its Pod"
      ])
      expect((yield* story(uids.get("bot-d3"))).slice(1)).toEqual([
        "Orphaned: bot d3 has no enabled document (deleted or disabled); deleting its Pod"
      ])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a document that no longer builds: InvalidDocument (field and message) on the Pod kept running", () =>
    Effect.gen(function* () {
      yield* putBot(bot("i1"))
      const controller = yield* started()
      const [pod] = yield* pods
      yield* putBot({ ...bot("i1"), custom: { ...bot("i1").custom, filePath: "x; rm -rf /" } })
      yield* controller.notify("i1")
      yield* TestClock.adjust("30 seconds")
      yield* settle
      const invalid = yield* byReason("InvalidDocument")
      expect(invalid).toHaveLength(1)
      expect(invalid[0]?.type).toBe("Warning")
      expect(invalid[0]?.regarding.uid).toBe(pod?.metadata.uid)
      expect(invalid[0]?.note).toMatch(
        /^Cannot build a Pod from bot i1's document \(the running one is kept\): custom\.filePath: .+/
      )
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a document that never built has no Pod to regard: no Event, the log and metric report it", () =>
    Effect.gen(function* () {
      yield* putBot({ ...bot("bad"), custom: { ...bot("bad").custom, filePath: "x; rm -rf /" } })
      const controller = yield* started()
      expect(controller.state().invalid).toEqual(["bad"])
      expect(yield* events).toEqual([])
    }).pipe(Effect.provide(world()))
  )

  it.scoped(
    "a template roll: TemplateChanged and Recreated (template), RolloutWaiting aggregated on a Pod waiting its turn",
    () =>
      Effect.gen(function* () {
        for (const id of ["r0", "r1", "r2"]) yield* putBot(bot(id))
        const kubelet = yield* SimulatedKubelet
        const runPending = Effect.gen(function* () {
          for (const p of yield* pods) if (p.status?.phase === "Pending") yield* kubelet.runPod(ns, p.metadata.name)
          yield* settle
        })
        yield* Effect.scoped(Effect.andThen(started(), runPending))
        const before = new Map((yield* pods).map((p) => [p.metadata.name, p.metadata.uid]))
        yield* started({ ...settings, rollLimit: 1, manifest: { ...settings.manifest, runtimeImage: "runtime:v2" } })
        // the first replacement never runs: the others wait for their turn at every resync
        for (let i = 0; i < 3; i++) {
          yield* TestClock.adjust("30 seconds")
          yield* settle
        }
        const templateChanged = yield* byReason("TemplateChanged")
        expect(templateChanged).toHaveLength(1)
        const rolled = templateChanged[0]?.regarding.name
        expect(templateChanged[0]?.note).toBe("The Pod template changed; deleting the Pod to recreate it (1 at a time)")
        const replacement = (yield* pods).find((p) => p.metadata.name === rolled)
        expect(yield* story(replacement?.metadata.uid)).toEqual([
          `Recreated: Recreated Pod ${rolled} for bot ${rolled?.slice(4)}: the template changed (roll-out)`
        ])
        const waiting = yield* byReason("RolloutWaiting")
        expect(waiting.map((e) => e.regarding.name).sort()).toEqual(
          [...before.keys()].filter((name) => name !== rolled).sort()
        )
        for (const event of waiting) {
          expect(event.regarding.uid).toBe(before.get(event.regarding.name))
          expect(event.note).toBe("Waiting for a roll-out slot to recreate this Pod (1 are recreated at a time)")
          expect(event.series?.count).toBeGreaterThanOrEqual(4)
        }
      }).pipe(Effect.provide(world({ autoRun: false, autoTerminate: true })))
  )

  it.scoped("a Pod made by the0's controller is Migrating, then Recreated; an extra Pod of a bot is a Duplicate", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const build = (id: string) => {
        const built = botPods.build(settings.manifest, bot(id))
        return built._tag === "Left" ? Effect.die(built.left) : Effect.succeed(built.right)
      }
      const g1 = yield* build("g1")
      const { [Annotation.documentHash]: _, ...annotations } = g1.metadata.annotations ?? {}
      // the0's controller fingerprints what it builds its own way: no document hash, another config hash
      const the0Made = yield* api.create("Pod", ns, {
        ...g1,
        metadata: { ...g1.metadata, annotations: { ...annotations, [Annotation.configHash]: "the0" } }
      })
      const g2 = yield* build("g2")
      yield* api.create("Pod", ns, g2)
      yield* api.create("Pod", ns, { ...g2, metadata: { ...g2.metadata, name: "bot-g2-copy" } })
      yield* putBot(bot("g1"))
      yield* putBot(bot("g2"))
      yield* started()
      expect(yield* story(the0Made.metadata.uid)).toEqual([
        "Migrating: Made by the0's controller; deleting it to recreate it (10 at a time)"
      ])
      const replacement = (yield* pods).find((p) => p.metadata.name === "bot-g1")
      expect(yield* story(replacement?.metadata.uid)).toEqual([
        "Recreated: Recreated Pod bot-g1 for bot g1: it replaces the Pod made by the0's controller"
      ])
      expect((yield* byReason("Duplicate")).map((e) => e.note)).toEqual(["Another Pod runs bot g2; deleting this one"])
    }).pipe(Effect.provide(world()))
  )

  it.scoped("a refused mass deletion is a MassDeletionRefused warning on the Lease, counted in one series", () =>
    Effect.gen(function* () {
      const lease = yield* (yield* KubeApi).create("Lease", ns, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: settings.leaderElection.leaseName },
        spec: {}
      })
      for (let i = 0; i < 20; i++) yield* putBot(bot(`m${i}`))
      yield* started()
      yield* (yield* MemoryBotStore).clear("bots")
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("30 seconds")
        yield* settle
      }
      expect((yield* pods).length).toBe(20)
      const refused = yield* byReason("MassDeletionRefused")
      expect(refused).toHaveLength(1)
      expect(refused[0]).toMatchObject({
        type: "Warning",
        regarding: { kind: "Lease", name: settings.leaderElection.leaseName, uid: lease.metadata.uid },
        series: { count: 3 }
      })
      expect(refused[0]?.note).toContain("Refusing to delete 20 of 20 managed Pods")
    }).pipe(Effect.provide(world()))
  )

  it.scoped("an Event API that fails every call fails no reconcile: the Pods are created, the errors counted", () =>
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster
      yield* cluster.failNext({ verb: "createEvent", times: 1000, code: 500 })
      for (const id of ["e1", "e2", "e3"]) yield* putBot(bot(id))
      const controller = yield* started()
      yield* putBot(bot("e4"))
      yield* controller.notify("e4")
      yield* settle
      expect((yield* pods).length).toBe(4)
      expect(yield* events).toEqual([])
      expect(yield* metric("the0_reconcile_total")).not.toContain('outcome="error"')
      expect(yield* metric("the0_kube_events_total")).toContain(
        'the0_kube_events_total{controller="bot",outcome="error"} 4'
      )
    }).pipe(Effect.provide(world()))
  )

  it.scoped(
    "a schedule's CronJob is Created, then Updated in place; a schedule that no longer builds is reported",
    () =>
      Effect.gen(function* () {
        yield* putSchedule(schedule("s1", "0 9 * * *"))
        const controller = yield* Controller.make(scheduleCronJobs, settings)
        yield* controller.run
        yield* settle
        yield* putSchedule(schedule("s1", "0 10 * * *"))
        yield* controller.notify("s1")
        yield* settle
        yield* putSchedule(schedule("s1", null))
        yield* controller.notify("s1")
        yield* settle
        const written = yield* events
        expect(written.map((e) => [e.regarding.kind, e.regarding.name, e.reason])).toEqual([
          ["CronJob", "schedule-s1", "Created"],
          ["CronJob", "schedule-s1", "Updated"],
          ["CronJob", "schedule-s1", "InvalidDocument"]
        ])
        expect(written[1]?.note).toBe("Updated CronJob schedule-s1 to schedule s1's document and the current template")
      }).pipe(Effect.provide(world()))
  )
})

describe("Convergence metrics", () => {
  it.scoped("a resync sets the bots desired (enabled documents) and running (a Running Pod, not a Pending one)", () =>
    Effect.gen(function* () {
      for (const id of ["a", "b", "c"]) yield* putBot(bot(id))
      yield* putBot({ ...bot("bad"), custom: { ...bot("bad").custom, filePath: "x; rm -rf /" } })
      yield* putBot(bot("off", { enabled: false }))
      yield* started()
      expect(yield* metric("the0_bots_desired")).toContain('the0_bots_desired{controller="bot"} 4')
      expect(yield* metric("the0_bots_running")).toContain('the0_bots_running{controller="bot"} 0')
      const kubelet = yield* SimulatedKubelet
      yield* kubelet.runPod(ns, "bot-a")
      yield* kubelet.runPod(ns, "bot-b")
      // an orphan's Pod is not desired
      yield* (yield* BotStore).bots.remove("c")
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* metric("the0_bots_desired")).toContain('the0_bots_desired{controller="bot"} 3')
      expect(yield* metric("the0_bots_running")).toContain('the0_bots_running{controller="bot"} 2')
    }).pipe(Effect.provide(world({ autoRun: false, autoTerminate: true })))
  )

  it.scoped(
    "the time from a notification to its Pod's create is observed once; an unchanged document is not measured",
    () =>
      Effect.gen(function* () {
        const controller = yield* started()
        const cluster = yield* MemoryCluster
        yield* putBot(bot("n1"))
        yield* cluster.setLatency(2000)
        yield* controller.notify("n1")
        yield* controller.notify("n1")
        yield* settle
        yield* TestClock.adjust("2 seconds")
        yield* settle
        yield* cluster.setLatency(0)
        expect((yield* pods).length).toBe(1)
        yield* controller.notify("n1")
        yield* settle
        const text = yield* metric("the0_event_to_object_seconds")
        expect(text).toContain('the0_event_to_object_seconds_count{controller="bot"} 1')
        expect(text).toContain('the0_event_to_object_seconds_sum{controller="bot"} 2')
        // a change 10 s after the unchanged one is measured from its own notification
        yield* TestClock.adjust("10 seconds")
        yield* putBot(bot("n1", { risk: 2 }))
        yield* controller.notify("n1")
        yield* settle
        const after = yield* metric("the0_event_to_object_seconds")
        expect(after).toContain('the0_event_to_object_seconds_count{controller="bot"} 2')
        expect(after).toContain('the0_event_to_object_seconds_sum{controller="bot"} 2')
      }).pipe(Effect.provide(world()))
  )
})
