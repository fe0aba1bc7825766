/**
 * Bots as real Pods on the testbed's node (kubelet, containerd, runc, the CNI bridge), from the runtime image that
 * scripts/images builds: the controller on this machine turns NATS events into Pods whose three containers run the
 * in-pod runtime under the limits the manifests set; queries reach the bot's own query server at its Pod IP; state
 * lives through recreated Pods; a disable saves the final state. Needs `scripts/images build` before `testbed up`.
 */
import { describe, expect, it } from "@effect/vitest"
import { BatchV1Api, CoreV1Api } from "@kubernetes/client-node"
import { Effect } from "effect"
import { Label, ManagedBy } from "../../../src/domain/Labels.ts"
import {
  clearStore,
  dropEventsStream,
  env,
  freshNamespace,
  httpText,
  kubeConfig,
  podsOf,
  publish,
  startController,
  until
} from "../controller/Harness.ts"
import { leaks, looked, type SpyReport } from "../runtime/support/SpyReport.ts"
import { testbed, uniqueName } from "../testbed/env.ts"
import {
  allReady,
  incidents,
  manifestOn,
  nodeBot,
  peakMiB,
  percentile,
  pythonSchedule,
  queryResults,
  runningPod,
  storedLogText,
  storedState,
  uploadCode,
  uploadPythonCode
} from "./NodeWorld.ts"

const core = () => kubeConfig().makeApiClient(CoreV1Api)
const batch = () => kubeConfig().makeApiClient(BatchV1Api)

describe("bots as real Pods on the testbed node", () => {
  it.live(
    "a realtime Node bot: Running with sync, bot and query-server ready; queried through :9477 and at its Pod IP; state kept through a config update and a hand deletion; disable saves the final state",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* dropEventsStream
        const ns = yield* freshNamespace
        const id = uniqueName("e2e")
        yield* uploadCode(id)
        const controller = yield* startController(ns, "e2e", {
          manifest: manifestOn(ns)
        })
        yield* until(
          Effect.flatMap(httpText(`http://127.0.0.1:${controller.healthPort}/readyz`), (r) =>
            r.status === 200 ? Effect.void : Effect.fail(r)
          ),
          20_000
        )

        const created = Date.now()
        yield* publish("the0.bot.created", nodeBot(id, { symbol: "BTC/USD", mode: "loop", interval: 200 }))
        const first = yield* runningPod(ns, id)
        const startup = Date.now() - created

        // the bot's own query server answers at its Pod IP, and through the QueryServer
        const podIP = first.status?.podIP ?? ""
        // the query container is ready once started; the bot's query server follows once the code is on /bot
        const direct = yield* until(
          Effect.flatMap(httpText(`http://${podIP}:9476/status`), (r) =>
            r.status === 200 ? Effect.succeed(r) : Effect.fail(r)
          ),
          30_000
        )
        const answering = Date.now() - created
        expect(JSON.parse(direct.body).data.botId).toBe(id)
        const proxied = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${controller.queryPort}/query`, {
            method: "POST",
            body: JSON.stringify({ bot_id: id, query_path: "/status" })
          }).then(async (r) => ({ status: r.status, body: await r.text() }))
        )
        expect(proxied.status, proxied.body).toBe(200)
        expect(JSON.parse(proxied.body).data).toMatchObject({ botId: id, runs: 1 })

        yield* until(
          Effect.flatMap(storedState(id), (s) => (Number(s.ticks) > 0 ? Effect.void : Effect.fail(s))),
          30_000
        )

        // a config update recreates the Pod; the new one starts from the saved state
        yield* publish("the0.bot.updated", nodeBot(id, { symbol: "ETH/USD", mode: "loop", interval: 200 }))
        const second = yield* until(
          Effect.flatMap(runningPod(ns, id), (pod) =>
            pod.metadata?.uid !== first.metadata?.uid ? Effect.succeed(pod) : Effect.fail("same Pod")
          ),
          120_000
        )
        yield* until(
          Effect.flatMap(storedState(id), (s) => (s.runs === 2 ? Effect.void : Effect.fail(s))),
          30_000
        )

        // a Pod deleted by hand comes back with its state
        yield* Effect.promise(() => core().deleteNamespacedPod({ name: `bot-${id}`, namespace: ns }))
        yield* until(
          Effect.flatMap(runningPod(ns, id), (pod) =>
            pod.metadata?.uid !== second.metadata?.uid ? Effect.succeed(pod) : Effect.fail("same Pod")
          ),
          120_000
        )
        yield* until(
          Effect.flatMap(storedState(id), (s) => (s.runs === 3 ? Effect.void : Effect.fail(s))),
          30_000
        )
        const before = yield* podsOf(ns)
        for (const pod of before) expect(incidents(pod), pod.metadata?.name).toEqual([])

        // disable: the Pod stops gracefully and the final state is saved
        yield* publish("the0.bot.updated", nodeBot(id, { symbol: "ETH/USD", mode: "loop", interval: 200 }, false))
        yield* until(
          Effect.flatMap(podsOf(ns), (pods) => (pods.length === 0 ? Effect.void : Effect.fail(pods.length))),
          90_000
        )
        const final = yield* storedState(id)
        expect(final.stopped).toBe(true)
        expect(final.runs).toBe(3)
        // the final log sync after SIGTERM: the bot's last line is in MinIO
        expect(yield* storedLogText(id)).toContain("stopping on signal")
        console.log(`event → Pod with 3 ready containers: ${startup} ms; → its query server answers: ${answering} ms`)
        yield* controller.stop
      }).pipe(Effect.scoped),
    420_000
  )

  it.live(
    "no credential in any process bot code can read: a spying bot's bot and query-server containers find no MinIO key, no sidecar process and no other bot's objects in their env, /proc or volumes",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* dropEventsStream
        const ns = yield* freshNamespace
        const id = uniqueName("spy")
        const neighbour = uniqueName("neighbour")
        yield* uploadCode(id)
        yield* uploadCode(neighbour)
        const controller = yield* startController(ns, "e2e-spy", { manifest: manifestOn(ns) })
        yield* publish("the0.bot.created", nodeBot(neighbour, { mode: "loop", interval: 200 }))
        yield* publish("the0.bot.created", nodeBot(id, { mode: "spy", interval: 200 }))
        const pod = yield* runningPod(ns, id)
        const spec = pod.spec
        expect(Object.keys(spec ?? {})).not.toContain("shareProcessNamespace")
        const fromBot = (yield* until(
          Effect.flatMap(storedState(id), (s) => (s.spy === undefined ? Effect.fail(s) : Effect.succeed(s.spy))),
          30_000
        )) as SpyReport
        const fromQuery = yield* until(
          Effect.flatMap(httpText(`http://${pod.status?.podIP}:9476/spy`), (r) =>
            r.status === 200 ? Effect.succeed((JSON.parse(r.body) as { data: SpyReport }).data) : Effect.fail(r)
          ),
          30_000
        )
        const secrets = [env.MINIO_ACCESS_KEY, env.MINIO_SECRET_KEY]
        for (const [who, report] of [
          ["bot", fromBot],
          ["query server", fromQuery]
        ] as const) {
          expect(leaks(report, secrets, [neighbour]), who).toStrictEqual([])
          expect(looked(report), who).toBe(true)
          for (const file of report.files) expect(file.path, who).toMatch(/^\/(bot|state|var\/the0|tmp|query)\//)
        }
        yield* controller.stop
      }).pipe(Effect.scoped),
    300_000
  )

  it.live(
    "12 realtime bots at once (what 2 cores hold at 120m requested per Pod): every Pod runs its 3 containers within their limits (no restart, no OOM kill); event → ready p50/p99; queries through :9477 beside the Pod's own server",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* dropEventsStream
        const ns = yield* freshNamespace
        const fleet = Array.from({ length: 12 }, (_, i) => `${uniqueName("fleet")}-${i}`)
        for (const id of fleet) yield* uploadCode(id)
        const controller = yield* startController(ns, "e2e-fleet", {
          manifest: manifestOn(ns)
        })
        yield* until(
          Effect.flatMap(httpText(`http://127.0.0.1:${controller.healthPort}/readyz`), (r) =>
            r.status === 200 ? Effect.void : Effect.fail(r)
          ),
          20_000
        )
        const sent = Date.now()
        for (const id of fleet) yield* publish("the0.bot.created", nodeBot(id, { mode: "loop", interval: 1000 }))
        const readyAt = new Map<string, number>()
        yield* until(
          Effect.flatMap(podsOf(ns), (pods) => {
            for (const pod of pods) {
              const id = pod.metadata?.name?.replace(/^bot-/, "") ?? ""
              if (!readyAt.has(id) && allReady(pod)) readyAt.set(id, Date.now() - sent)
            }
            return readyAt.size === fleet.length ? Effect.succeed(pods) : Effect.fail(readyAt.size)
          }),
          300_000
        )
        const startup = [...readyAt.values()]

        // queries to one bot, one at a time: straight to its Pod and through the QueryServer
        const [probe = ""] = fleet
        const pods = yield* podsOf(ns)
        const podIP = pods.find((p) => p.metadata?.name === `bot-${probe}`)?.status?.podIP ?? ""
        yield* until(
          Effect.flatMap(httpText(`http://${podIP}:9476/status`), (r) =>
            r.status === 200 ? Effect.void : Effect.fail(r)
          ),
          30_000
        )
        const timed = (run: () => Promise<Response>) =>
          Effect.promise(async () => {
            const latencies: Array<number> = []
            for (let i = 0; i < 200; i++) {
              const t0 = performance.now()
              const response = await run()
              await response.text()
              expect(response.status).toBe(200)
              latencies.push(performance.now() - t0)
            }
            return latencies
          })
        const direct = yield* timed(() => fetch(`http://${podIP}:9476/status`))
        const proxied = yield* timed(() =>
          fetch(`http://127.0.0.1:${controller.queryPort}/query`, {
            method: "POST",
            body: JSON.stringify({ bot_id: probe, query_path: "/status" })
          })
        )

        const settled = yield* podsOf(ns)
        const peaks: Record<string, number> = {}
        for (const pod of settled) {
          expect(incidents(pod), pod.metadata?.name).toEqual([])
          for (const status of [
            ...(pod.status?.initContainerStatuses ?? []),
            ...(pod.status?.containerStatuses ?? [])
          ]) {
            const peak = peakMiB((status.containerID ?? "").replace(/^containerd:\/\//, ""))
            peaks[status.name] = Math.max(peaks[status.name] ?? 0, peak)
          }
        }
        const f = (n: number) => n.toFixed(1)
        console.log(
          `12 bots, event → Pod with 3 ready containers: p50 ${percentile(startup, 50)} ms, p99 ${percentile(startup, 99)} ms; ` +
            `query p50/p99 direct ${f(percentile(direct, 50))}/${f(percentile(direct, 99))} ms, ` +
            `through :9477 ${f(percentile(proxied, 50))}/${f(percentile(proxied, 99))} ms; ` +
            `peak MiB per container (max over the Pods) ${JSON.stringify(peaks)}`
        )
        for (const id of fleet) yield* publish("the0.bot.deleted", JSON.stringify({ id, config: {} }))
        yield* until(
          Effect.flatMap(podsOf(ns), (left) => (left.length === 0 ? Effect.void : Effect.fail(left.length))),
          120_000
        )
        yield* controller.stop
      }).pipe(Effect.scoped),
    600_000
  )

  it.live(
    "a scheduled Python bot on the0's SDK: CronJob → Job → Pod runs to completion, the next run sees its state; a one-shot query writes /query/result.json through the SDK and comes back; Job, Pod and result are cleaned",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* dropEventsStream
        const ns = yield* freshNamespace
        const id = uniqueName("sched")
        yield* uploadPythonCode(id)
        const controller = yield* startController(ns, "e2e-sched", { manifest: manifestOn(ns) })
        yield* publish("the0.bot-schedule.created", pythonSchedule(id))
        // kube-controller-manager starts a Job each minute; the second run finds the first run's state
        yield* until(
          Effect.flatMap(storedState(id), (s) => (Number(s.runs) >= 2 ? Effect.void : Effect.fail(s))),
          200_000
        )
        const runs = yield* until(
          Effect.flatMap(podsOf(ns), (pods) =>
            pods.filter((p) => p.status?.phase === "Succeeded").length >= 2
              ? Effect.succeed(pods)
              : Effect.fail(pods.map((p) => p.status?.phase))
          ),
          60_000
        )
        for (const pod of runs) expect(incidents(pod), pod.metadata?.name).toEqual([])
        expect(yield* storedLogText(id)).toContain(`python sdk bot ${id} run 2`)

        // a one-shot query: an ephemeral Job runs query.py, the SDK writes /query/result.json, the answer returns
        const asked = Date.now()
        const answer = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${controller.queryPort}/query`, {
            method: "POST",
            body: JSON.stringify({ bot_id: id, query_path: "/status", params: { symbol: "ETH/USD" } })
          }).then(async (r) => ({ status: r.status, body: await r.text() }))
        )
        const took = Date.now() - asked
        expect(answer.status, answer.body).toBe(200)
        expect(JSON.parse(answer.body).data).toMatchObject({ symbol: "ETH/USD" })
        expect(Number(JSON.parse(answer.body).data.runs)).toBeGreaterThanOrEqual(2)
        yield* until(
          Effect.flatMap(
            Effect.all([
              podsOf(ns),
              queryResults(id),
              Effect.promise(() => batch().listNamespacedJob({ namespace: ns }))
            ]),
            ([pods, results, jobs]) => {
              const queryJobs = jobs.items.filter((j) => j.metadata?.labels?.[Label.query] === "true")
              const queryPods = pods.filter((p) => p.metadata?.labels?.[Label.managedBy] === ManagedBy.queryHandler)
              return queryJobs.length === 0 && queryPods.length === 0 && results.length === 0
                ? Effect.void
                : Effect.fail({ jobs: queryJobs.length, pods: queryPods.length, results })
            }
          ),
          60_000
        )
        console.log(`one-shot query on a scheduled bot, through a Job on the node: ${took} ms`)
        yield* controller.stop
      }).pipe(Effect.scoped),
    420_000
  )

  it.live(
    "the node stopped for 30 s (kubelet, containerd, kube-proxy) and back: every bot runs again with its state, nothing lost",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        yield* dropEventsStream
        const ns = yield* freshNamespace
        const bots = Array.from({ length: 3 }, (_, i) => `${uniqueName("outage")}-${i}`)
        for (const id of bots) yield* uploadCode(id)
        const controller = yield* startController(ns, "e2e-outage", { manifest: manifestOn(ns) })
        for (const id of bots) yield* publish("the0.bot.created", nodeBot(id, { mode: "loop", interval: 200 }))
        for (const id of bots) yield* runningPod(ns, id, 120_000)
        const ticks = (id: string) => Effect.map(storedState(id), (s) => Number(s.ticks ?? 0))
        for (const id of bots)
          yield* until(
            Effect.flatMap(ticks(id), (t) => (t > 0 ? Effect.void : Effect.fail(t))),
            30_000
          )
        yield* Effect.promise(() => testbed("stop", "node"))
        yield* Effect.sleep("30 seconds")
        const before = yield* Effect.forEach(bots, ticks)
        yield* Effect.promise(() => testbed("start", "node"))
        for (const [i, id] of bots.entries()) {
          yield* runningPod(ns, id, 180_000)
          // the bot goes on from its state: its stored ticks grow past what was stored while the node was down
          yield* until(
            Effect.flatMap(ticks(id), (t) => (t > (before[i] ?? 0) ? Effect.void : Effect.fail(t))),
            60_000
          )
        }
        const pods = yield* podsOf(ns)
        expect(pods.map((p) => p.metadata?.name).sort()).toEqual(bots.map((id) => `bot-${id}`).sort())
        yield* controller.stop
      }).pipe(Effect.scoped),
    420_000
  )
})
