import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, TestClock } from "effect"
import type { Pod } from "../../../src/domain/Kube.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as Informer from "../../../src/programs/controller/Informer.ts"
import { botPods, podEssentials } from "../../../src/programs/controller/OwnedKinds.ts"
import { defaults as manifestDefaults } from "../../../src/programs/manifests/ManifestSettings.ts"
import { realtimeEndpoint } from "../../../src/programs/query/BotResolver.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot } from "./ControllerEnv.ts"

const ns = "the0"
const settle = Effect.repeatN(Effect.yieldNow(), 100)

const pod = (name: string, labels: Record<string, string> = { managed: "yes" }): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels },
  spec: { containers: [{ name: "bot", image: "x" }] }
})

const names = (informer: Informer.Informer<"Pod">) =>
  informer
    .list()
    .map((p) => p.metadata.name)
    .sort()

const options: Informer.InformerOptions<"Pod"> = {
  namespace: ns,
  labelSelector: "managed=yes",
  indexLabels: ["bot"],
  watchdog: "60 seconds"
}

describe("Informer", () => {
  it.scoped("lists, then follows the watch; only selected objects; indexed by label; managedFields dropped", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.create("Pod", ns, pod("a", { managed: "yes", bot: "1" }))
      yield* api.create("Pod", ns, pod("other", { managed: "no" }))
      const events: Array<string> = []
      const informer = yield* Informer.make("Pod", options, {
        event: (type, o) => Effect.sync(() => void events.push(`${type}:${o.metadata.name}`))
      })
      yield* informer.synced
      expect(names(informer)).toEqual(["a"])
      expect(informer.get("a")?.metadata.managedFields).toBeUndefined()
      yield* api.create("Pod", ns, pod("b", { managed: "yes", bot: "2" }))
      yield* api.delete("Pod", ns, "a")
      yield* settle
      expect(names(informer)).toEqual(["b"])
      expect(informer.byLabel("bot", "2").map((p) => p.metadata.name)).toEqual(["b"])
      expect(informer.byLabel("bot", "1")).toEqual([])
      expect(informer.labelValues("bot")).toEqual(["2"])
      expect(events).toEqual(["ADDED:a", "ADDED:b", "DELETED:a"])
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a dropped watch resumes from the last resourceVersion without missing changes", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* MemoryCluster
      const informer = yield* Informer.make("Pod", options)
      yield* informer.synced
      yield* settle
      yield* cluster.dropWatches("error")
      yield* api.create("Pod", ns, pod("during"))
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(names(informer)).toEqual(["during"])
      expect((yield* cluster.callCounts).list).toBe(1)
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("410 Gone on re-watch relists and reconciles the cache, deletions included", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* MemoryCluster
      yield* api.create("Pod", ns, pod("stays"))
      yield* api.create("Pod", ns, pod("goes"))
      const restarts: Array<string> = []
      const informer = yield* Informer.make("Pod", options, { restarted: (r) => restarts.push(r) })
      yield* informer.synced
      yield* settle
      yield* cluster.silenceWatches
      yield* api.delete("Pod", ns, "goes")
      yield* api.create("Pod", ns, pod("new"))
      yield* cluster.compact
      yield* cluster.dropWatches("end")
      yield* settle
      expect(restarts).toEqual(["ended", "gone"])
      expect(names(informer)).toEqual(["new", "stays"])
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a watch silent past the watchdog is restarted from a fresh list", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const cluster = yield* MemoryCluster
      const restarts: Array<string> = []
      const informer = yield* Informer.make("Pod", options, { restarted: (r) => restarts.push(r) })
      yield* informer.synced
      yield* settle
      yield* cluster.silenceWatches
      yield* api.create("Pod", ns, pod("missed"))
      yield* settle
      expect(names(informer)).toEqual([])
      yield* TestClock.adjust("60 seconds")
      yield* settle
      expect(restarts).toEqual(["silent"])
      expect(names(informer)).toEqual(["missed"])
    }).pipe(Effect.provide(MemoryKubeApi.layer({ bookmarkIntervalMillis: 3_600_000 })))
  )

  it.scoped(
    "our own write's answer enters the cache without an event; an older version never replaces a newer one",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const events: Array<string> = []
        const informer = yield* Informer.make("Pod", options, {
          event: (t, o) => Effect.sync(() => void events.push(`${t}:${o.metadata.name}`))
        })
        yield* informer.synced
        const created = yield* api.create("Pod", ns, pod("mine"))
        informer.observeWrite(created)
        expect(informer.get("mine")?.metadata.resourceVersion).toBe(created.metadata.resourceVersion)
        yield* settle
        expect(events).toEqual([])
        const updated = yield* api.update("Pod", ns, {
          ...created,
          metadata: { ...created.metadata, labels: { managed: "yes", x: "1" } }
        })
        yield* settle
        informer.observeWrite(created)
        expect(informer.get("mine")?.metadata.resourceVersion).toBe(updated.metadata.resourceVersion)
      }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped(
    "an object we deleted reads as terminating until the watch brings its next version; another uid is left alone",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const cluster = yield* MemoryCluster
        const informer = yield* Informer.make("Pod", options)
        yield* informer.synced
        const created = yield* api.create("Pod", ns, pod("mine", { managed: "yes", bot: "1" }))
        yield* api.create("Pod", ns, pod("other", { managed: "yes", bot: "2" }))
        yield* settle
        yield* cluster.silenceWatches
        yield* api.delete("Pod", ns, "mine")
        informer.observeDelete("other", "not-its-uid", "2026-01-01T00:00:00.000Z")
        informer.observeDelete("mine", created.metadata.uid ?? "", "2026-01-01T00:00:00.000Z")
        expect(informer.get("mine")?.metadata.deletionTimestamp).toBe("2026-01-01T00:00:00.000Z")
        expect(informer.byLabel("bot", "1").map((p) => p.metadata.deletionTimestamp)).toEqual([
          "2026-01-01T00:00:00.000Z"
        ])
        expect(informer.get("other")?.metadata.deletionTimestamp).toBeUndefined()
        yield* cluster.dropWatches("end")
        yield* settle
        expect(names(informer)).toEqual(["other"])
      }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a failing list is retried until it succeeds", () =>
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster
      yield* cluster.failNext({ verb: "list", times: 2, code: 500 })
      const informer = yield* Informer.make("Pod", options)
      yield* settle
      expect(informer.hasSynced()).toBe(false)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(informer.hasSynced()).toBe(true)
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a bot Pod's cache keeps what the controller and the QueryServer read, not the rest of its spec", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const built = Either.getOrThrow(botPods.build({ ...manifestDefaults, namespace: ns }, bot("kept")))
      const queryContainer = built.spec.containers.find((c) => c.ports !== undefined)
      expect(queryContainer).toBeDefined()
      expect(built.spec.volumes?.length ?? 0).toBeGreaterThan(0)
      const informer = yield* Informer.make(
        "Pod",
        {
          namespace: ns,
          labelSelector: "",
          indexLabels: Object.keys(built.metadata.labels ?? {}),
          keep: podEssentials
        },
        {}
      )
      yield* informer.synced
      const created = yield* api.create("Pod", ns, built)
      informer.observeWrite(created)
      const cached = informer.get(built.metadata.name)
      expect(cached?.spec.volumes).toBeUndefined()
      expect(cached?.spec.containers.every((c) => c.env === undefined && c.command === undefined)).toBe(true)
      expect(cached?.spec.containers.map((c) => [c.name, c.ports])).toEqual(
        built.spec.containers.map((c) => [c.name, c.ports])
      )
      expect(cached?.metadata.annotations).toEqual(created.metadata.annotations)
      yield* api.patchStatus("Pod", ns, built.metadata.name, {
        phase: "Running",
        podIP: "10.1.2.3",
        containerStatuses: built.spec.containers.map((c) => ({ name: c.name, ready: true, restartCount: 0 }))
      })
      yield* settle
      const watched = informer.get(built.metadata.name)
      expect(watched?.status?.podIP).toBe("10.1.2.3")
      expect(watched?.spec.volumes).toBeUndefined()
      const endpoint = realtimeEndpoint(informer, "kept")
      expect(Option.map(endpoint, (e) => e.port)).toEqual(Option.some(queryContainer?.ports?.[0]?.containerPort))
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )
})
