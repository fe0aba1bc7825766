/**
 * The controller running for real (issue 5): NATS events in, MongoDB documents and Kubernetes objects out, on
 * the testbed's servers; outages, mass-deletion refusal, JetStream replay, leader handover.
 */
import { execFile, spawn } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { BatchV1Api, CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Effect } from "effect"
import { MongoClient } from "mongodb"
import { Annotation, Label } from "../../../src/domain/Labels.ts"
import { testbed } from "../testbed/env.ts"
import {
  apiPayload,
  clearStore,
  dropEventsStream,
  env,
  freshNamespace,
  httpText,
  kubeConfig,
  podsOf,
  publish,
  startController,
  until,
  withNats
} from "./Harness.ts"

const core = () => kubeConfig().makeApiClient(CoreV1Api)
const batch = () => kubeConfig().makeApiClient(BatchV1Api)

const payload = apiPayload

/** An empty store, no THE0_EVENTS stream, and a namespace of the test's own. */
const freshWorld = Effect.andThen(Effect.andThen(clearStore, dropEventsStream), freshNamespace)

const expectPods = (namespace: string, names: ReadonlyArray<string>, millis?: number) =>
  until(
    Effect.flatMap(podsOf(namespace), (pods) => {
      const live = pods
        .filter((p) => p.metadata?.deletionTimestamp === undefined)
        .map((p) => p.metadata?.name ?? "")
        .sort()
      return JSON.stringify(live) === JSON.stringify([...names].sort()) ? Effect.succeed(pods) : Effect.fail(live)
    }),
    millis
  )

const mongo = <A>(f: (client: MongoClient) => Promise<A>) =>
  Effect.promise(async () => {
    const client = await MongoClient.connect(env.MONGO_URI)
    try {
      return await f(client)
    } finally {
      await client.close()
    }
  })

describe("controller on the testbed", () => {
  it.live(
    "a the0.bot.created event gives the document and the Pod within a second; update, disable and delete follow",
    () =>
      Effect.gen(function* () {
        const ns = yield* freshWorld
        const controller = yield* startController(ns, "solo")
        yield* until(
          Effect.flatMap(httpText(`http://127.0.0.1:${controller.healthPort}/readyz`), (r) =>
            r.status === 200 ? Effect.void : Effect.fail(r)
          ),
          20_000
        )
        const started = Date.now()
        yield* publish("the0.bot.created", payload("live1", { risk: 1 }))
        const [pod] = yield* expectPods(ns, ["bot-live1"], 1_000)
        const elapsed = Date.now() - started
        expect(elapsed).toBeLessThan(1_000)
        const stored = yield* mongo((c) => c.db("bot_runner").collection("bots").findOne({ id: "live1" }))
        expect(stored?.config?.risk).toBe(1)
        const firstHash = pod?.metadata?.annotations?.[Annotation.configHash]
        yield* publish("the0.bot.updated", payload("live1", { risk: 2 }))
        yield* until(
          Effect.flatMap(podsOf(ns), (pods) => {
            const hash = pods.find((p) => p.metadata?.deletionTimestamp === undefined)?.metadata?.annotations?.[
              Annotation.configHash
            ]
            return hash !== undefined && hash !== firstHash ? Effect.void : Effect.fail(hash)
          })
        )
        yield* publish("the0.bot.updated", payload("live1", { risk: 2, enabled: false }))
        yield* expectPods(ns, [])
        yield* publish("the0.bot.updated", payload("live1", { risk: 3 }))
        yield* expectPods(ns, ["bot-live1"])
        yield* publish("the0.bot.deleted", JSON.stringify({ id: "live1", config: {} }))
        yield* expectPods(ns, [])
        yield* controller.stop
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a schedule event gives a CronJob, and kube-controller-manager turns it into a Job",
    () =>
      Effect.gen(function* () {
        const ns = yield* freshWorld
        const controller = yield* startController(ns, "solo")
        yield* publish("the0.bot-schedule.created", payload("sched1", { schedule: "* * * * *" }, "scheduled"))
        const cronJob = yield* until(
          Effect.tryPromise(() => batch().readNamespacedCronJob({ name: "schedule-sched1", namespace: ns }))
        )
        expect(cronJob.spec?.schedule).toBe("* * * * *")
        expect(cronJob.metadata?.labels?.[Label.scheduleId]).toBe("sched1")
        yield* until(
          Effect.flatMap(
            Effect.promise(() => batch().listNamespacedJob({ namespace: ns })),
            (jobs) =>
              jobs.items.some((j) => j.metadata?.ownerReferences?.[0]?.name === "schedule-sched1")
                ? Effect.void
                : Effect.fail("no job yet")
          ),
          90_000
        )
        yield* controller.stop
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "stopping MongoDB deletes nothing, and the controller recovers by itself when it returns",
    () =>
      Effect.gen(function* () {
        const ns = yield* freshWorld
        const controller = yield* startController(ns, "solo", { resyncInterval: "2 seconds" })
        for (const id of ["m1", "m2"]) yield* publish("the0.bot.created", payload(id))
        yield* expectPods(ns, ["bot-m1", "bot-m2"])
        yield* Effect.promise(() => testbed("stop", "mongo"))
        yield* Effect.sleep("8 seconds")
        yield* expectPods(ns, ["bot-m1", "bot-m2"], 100)
        yield* Effect.promise(() => testbed("start", "mongo"))
        yield* publish("the0.bot.created", payload("m3"))
        yield* expectPods(ns, ["bot-m1", "bot-m2", "bot-m3"], 30_000)
        yield* controller.stop
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "emptying the bots collection behind the controller's back (20 bots running) deletes nothing and raises the refusal",
    () =>
      Effect.gen(function* () {
        const ns = yield* freshWorld
        const controller = yield* startController(ns, "solo", { resyncInterval: "2 seconds" })
        const ids = Array.from({ length: 20 }, (_, i) => `mass${i}`)
        for (const id of ids) yield* publish("the0.bot.created", payload(id))
        yield* expectPods(
          ns,
          ids.map((id) => `bot-${id}`),
          30_000
        )
        yield* mongo((c) => c.db("bot_runner").collection("bots").deleteMany({}))
        yield* Effect.sleep("6 seconds")
        yield* expectPods(
          ns,
          ids.map((id) => `bot-${id}`),
          100
        )
        const metrics = yield* httpText(`http://127.0.0.1:${controller.healthPort}/metrics`)
        expect(metrics.body).toMatch(/the0_mass_delete_refusals_total\{controller="bot"\} [1-9]/)
        expect(metrics.body).toContain('the0_mass_delete_blocked{controller="bot"} 1')
        yield* controller.stop
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "with the JetStream stream, events published while the controller was stopped are applied when it starts; a NATS restart loses nothing after it is back",
    () =>
      Effect.gen(function* () {
        const ns = yield* freshWorld
        yield* withNats(async (nc) => {
          const jsm = await jetstreamManager(nc)
          await jsm.streams.add({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
          const js = jetstream(nc)
          await js.publish("the0.bot.created", payload("js1"))
          await js.publish("the0.bot.created", payload("js2"))
        })
        const controller = yield* startController(ns, "solo")
        yield* expectPods(ns, ["bot-js1", "bot-js2"], 15_000)
        yield* Effect.promise(() => testbed("stop", "nats"))
        yield* Effect.promise(() => testbed("start", "nats"))
        yield* withNats(async (nc) => {
          await jetstream(nc).publish("the0.bot.created", payload("js3"))
        })
        yield* expectPods(ns, ["bot-js1", "bot-js2", "bot-js3"], 30_000)
        yield* controller.stop
        yield* dropEventsStream
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "two replicas elect one leader; stopping it hands over within the lease time and the new leader converges",
    () =>
      Effect.gen(function* () {
        const ns = yield* freshWorld
        const a = yield* startController(ns, "replica-a")
        yield* Effect.sleep("2 seconds")
        const b = yield* startController(ns, "replica-b")
        yield* publish("the0.bot.created", payload("ha1"))
        yield* expectPods(ns, ["bot-ha1"])
        const lease = yield* Effect.promise(() =>
          kubeConfig()
            .makeApiClient(CoordinationV1Api)
            .readNamespacedLease({ name: "the0-runtime-controller", namespace: ns })
        )
        expect(lease.spec?.holderIdentity).toBe("replica-a")
        yield* a.stop
        const handedOver = Date.now()
        yield* publish("the0.bot.created", payload("ha2"))
        yield* expectPods(ns, ["bot-ha1", "bot-ha2"], 15_000)
        expect(Date.now() - handedOver).toBeLessThan(8_000)
        yield* b.stop
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a killed leader (SIGKILL, no release) is replaced once its lease runs out",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* dropEventsStream
        yield* withNats(async (nc) => {
          const jsm = await jetstreamManager(nc)
          await jsm.streams.add({ name: "THE0_EVENTS", subjects: ["the0.bot.*", "the0.bot-schedule.*"] })
        })
        const ns = yield* freshNamespace
        const child = spawn(
          "./bin/the0-runtime",
          [
            "controller",
            `--namespace=${ns}`,
            "--identity=doomed",
            "--lease-duration=6s",
            "--renew-deadline=4s",
            "--retry-period=1s",
            "--health-port=18690",
            "--query-port=18691"
          ],
          { env: { ...process.env, NATS_URL: env.NATS_URL }, stdio: "ignore" }
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
        const holder = Effect.promise(() =>
          kubeConfig()
            .makeApiClient(CoordinationV1Api)
            .readNamespacedLease({ name: "the0-runtime-controller", namespace: ns })
            .then(
              (l) => l.spec?.holderIdentity ?? "",
              () => ""
            )
        )
        yield* until(
          Effect.flatMap(holder, (h) => (h === "doomed" ? Effect.void : Effect.fail(h))),
          30_000
        )
        // Health and the QueryServer listen on every interface, IPv6 and IPv4, as Go's `:port` does.
        for (const url of [
          "http://127.0.0.1:18690/healthz",
          "http://[::1]:18690/healthz",
          "http://127.0.0.1:18691/health",
          "http://[::1]:18691/health"
        ]) {
          expect(yield* Effect.promise(() => fetch(url).then((r) => r.status)), url).toBe(200)
        }
        const survivor = yield* startController(ns, "survivor")
        child.kill("SIGKILL")
        const killed = Date.now()
        yield* publish("the0.bot.created", payload("after-kill"))
        yield* expectPods(ns, ["bot-after-kill"], 20_000)
        const took = Date.now() - killed
        expect(took).toBeLessThan(16_000)
        expect(yield* holder).toBe("survivor")
        yield* survivor.stop
        yield* dropEventsStream
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "every object the generator makes is accepted by the real API server (server-side dry run of render output)",
    () =>
      Effect.gen(function* () {
        const run = (target: string, doc: unknown) =>
          Effect.promise(
            () =>
              new Promise<string>((resolve, reject) => {
                const child = execFile(
                  "./bin/the0-runtime",
                  ["render", target, "--format", "json", "--namespace", "the0"],
                  (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(stderr)))
                )
                child.stdin?.end(JSON.stringify(doc))
              })
          )
        const docs = [
          JSON.parse(payload("dry-a")),
          JSON.parse(
            payload("dry-b", { memory_limit: "1Gi", cpu_limit: "1", memory_request: "512Mi", cpu_request: "250m" })
          ),
          {
            ...JSON.parse(payload("dry-c")),
            custom: {
              ...JSON.parse(payload("dry-c")).custom,
              version: "1.0.0+build.7",
              config: { name: "Ünïcode ✓ name!", runtime: "nodejs20", entrypoints: { bot: "index.js" } }
            }
          },
          JSON.parse(payload("x".repeat(60)))
        ]
        for (const doc of docs) {
          const pod = JSON.parse(yield* run("pod", doc))
          yield* Effect.promise(() => core().createNamespacedPod({ namespace: "the0", body: pod, dryRun: "All" }))
          const cronJob = JSON.parse(
            yield* run("cronjob", { ...doc, config: { ...doc.config, schedule: "0 0 9 * * 1-5" } })
          )
          yield* Effect.promise(() =>
            batch().createNamespacedCronJob({ namespace: "the0", body: cronJob, dryRun: "All" })
          )
          const job = JSON.parse(yield* run("query-job", doc))
          yield* Effect.promise(() => batch().createNamespacedJob({ namespace: "the0", body: job, dryRun: "All" }))
        }
      }),
    120_000
  )
})
