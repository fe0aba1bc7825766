/**
 * The ephemeral query flow (docs/contracts.md, "Query Job", "Scheduled queries") against the memory cluster with the simulated kubelet and
 * Job controller: the test plays the query Pod (reads its env, uploads `result.json`, exits), and checks the answer
 * and the world after it: no Job, no query Pod, no result object left, whatever happened.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Bucket } from "../../../src/domain/Buckets.ts"
import type { Pod } from "../../../src/domain/Kube.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { SimulatedKubelet } from "../../../src/layers/memory/MemoryKubelet.ts"
import { ObjectStore } from "../../../src/services/ObjectStore.ts"
import {
  answerWith,
  bot,
  eventually,
  jobs,
  ns,
  putBot,
  putSchedule,
  queryPods,
  resultKeyOf,
  results,
  serve,
  simulateQueryPods,
  world
} from "./QueryEnv.ts"

const clean = Effect.gen(function* () {
  yield* eventually(
    Effect.filterOrFail(
      Effect.all({ jobs, pods: queryPods, results }),
      (w) => w.jobs.length === 0 && w.pods.length === 0 && w.results.length === 0,
      (w) => ({
        jobs: w.jobs.map((j) => j.metadata.name),
        pods: w.pods.map((p) => p.metadata.name),
        results: w.results
      })
    )
  )
})

const queryBody = (botId: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ bot_id: botId, query_path: "status", timeout_sec: 5, ...extra })

describe("ephemeral query Jobs", () => {
  it.scopedLive(
    "a scheduled bot is queried through a Job: env, deadline, answer, then Job, Pod and result are gone",
    () =>
      Effect.gen(function* () {
        yield* putSchedule(bot("sched-1"))
        const envs: Array<Readonly<Record<string, string>>> = []
        const keys: Array<string> = []
        const deadlines: Array<number | undefined> = []
        const cluster = yield* MemoryCluster
        yield* simulateQueryPods((pod, env) => {
          envs.push(env)
          keys.push(resultKeyOf(pod))
          return cluster.direct.list("Job", ns).pipe(
            Effect.tap((jobs) => deadlines.push(...jobs.items.map((job) => job.spec.activeDeadlineSeconds))),
            Effect.zipRight(answerWith({ status: "ok", data: { balance: 42 } })(pod, env))
          )
        })
        const { post } = yield* serve()
        const answer = yield* post(queryBody("sched-1", { params: { symbol: "BTC" } }))
        expect(answer.status).toBe(200)
        expect(answer.json.status).toBe("ok")
        expect(answer.json.data).toEqual({ balance: 42 })
        expect(answer.json.duration).toBeGreaterThan(0)
        // the Job's deadline: the query's timeout_sec (5) plus the 30 s margin
        expect(deadlines).toEqual([35])
        const env = envs[0] ?? {}
        expect(env.QUERY_PATH).toBe("/status")
        expect(env.QUERY_PARAMS).toBe('{"symbol":"BTC"}')
        expect(env.ENTRYPOINT).toBe("query.py")
        expect(env.QUERY_RESULT_KEY).toBeUndefined()
        expect(keys[0]).toMatch(/^sched-1\/\d+-[0-9a-f]{16}\/result\.json$/)
        // the answer is sent after the cleanup: nothing is left at once
        expect(yield* jobs).toEqual([])
        expect(yield* results).toEqual([])
        yield* clean
        // a query that succeeded leaves no Event
        expect(yield* cluster.events(ns)).toEqual([])
      }).pipe(Effect.provide(world))
  )

  it.scopedLive("a realtime bot without a running Pod is queried through a Job too", () =>
    Effect.gen(function* () {
      yield* putBot(bot("rt-1"))
      yield* simulateQueryPods(answerWith({ status: "ok", data: "from-job" }))
      const { post } = yield* serve()
      const answer = yield* post(queryBody("rt-1"))
      expect(answer.status).toBe(200)
      expect(answer.json.data).toBe("from-job")
      yield* clean
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("two concurrent queries of one bot get their own result keys and answers", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-2"))
      yield* simulateQueryPods((pod, env) => answerWith({ status: "ok", data: env.QUERY_PARAMS ?? "" })(pod, env))
      const { post } = yield* serve()
      const [a, b] = yield* Effect.all(
        [post(queryBody("sched-2", { params: { n: 1 } })), post(queryBody("sched-2", { params: { n: 2 } }))],
        { concurrency: 2 }
      )
      expect(a.json.data).toBe('{"n":1}')
      expect(b.json.data).toBe('{"n":2}')
      yield* clean
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a failed Job answers 500 with the Pod's logs and the bot's error; its result object is removed", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-3"))
      const cluster = yield* MemoryCluster
      yield* simulateQueryPods((pod, env) =>
        cluster
          .appendLog(ns, pod.metadata.name, "bot", "Traceback: KeyError 'price'\n")
          .pipe(Effect.zipRight(answerWith({ status: "error", error: "KeyError: 'price'" }, 1)(pod, env)))
      )
      const { post } = yield* serve()
      const answer = yield* post(queryBody("sched-3"))
      expect(answer.status).toBe(500)
      expect(answer.json.status).toBe("error")
      expect(answer.json.error).toBe(
        "query job failed: job failed: KeyError: 'price'\nLogs: Traceback: KeyError 'price'\n"
      )
      yield* clean
      const events = yield* eventually(
        Effect.filterOrFail(
          Effect.flatMap(MemoryCluster, (c) => c.events(ns)),
          (written) => written.length > 0,
          () => "no Event yet"
        )
      )
      expect(events.map((e) => ({ ...e.regarding, type: e.type, reason: e.reason, note: e.note }))).toEqual([
        {
          apiVersion: "batch/v1",
          kind: "Job",
          name: expect.stringMatching(/^query-sched-3-/),
          namespace: ns,
          uid: expect.any(String),
          type: "Warning",
          reason: "QueryJobFailed",
          note: "query of bot sched-3 failed: query job failed: job failed: KeyError: 'price'\nLogs: Traceback: KeyError 'price'\n"
        }
      ])
      expect(events[0]?.reportingController).toBe("the0.app/runtime")
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a Job that succeeds without a result answers 500 download failure with logs", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-4"))
      const cluster = yield* MemoryCluster
      yield* simulateQueryPods((pod) =>
        cluster
          .appendLog(ns, pod.metadata.name, "bot", "upload skipped\n")
          .pipe(Effect.zipRight(Effect.flatMap(SimulatedKubelet, (k) => k.completePod(ns, pod.metadata.name, 0))))
      )
      const { post } = yield* serve()
      const answer = yield* post(queryBody("sched-4"))
      expect(answer.status).toBe(500)
      expect(answer.json.error).toMatch(
        /^query job failed: failed to download result from MinIO: no such (bucket|key): .*\nLogs: upload skipped\n$/
      )
      yield* clean
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a Job that does not finish in timeout_sec answers deadline exceeded; Job, Pod, result removed", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-5"))
      // a Pod that uploads its result and then hangs, never exiting
      yield* simulateQueryPods((pod) =>
        Effect.gen(function* () {
          const objects = yield* ObjectStore
          yield* objects.ensureBucket(Bucket.queryResults)
          yield* objects.put(Bucket.queryResults, resultKeyOf(pod), new TextEncoder().encode("{}"))
        })
      )
      const { post } = yield* serve()
      const answer = yield* post(queryBody("sched-5", { timeout_sec: 1 }))
      expect(answer.status).toBe(500)
      expect(answer.json.error).toBe("query job failed: context deadline exceeded")
      yield* clean
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a Job deleted by someone else answers 500 at once", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-6"))
      const cluster = yield* MemoryCluster
      yield* simulateQueryPods((pod) =>
        cluster.direct.delete("Job", ns, pod.metadata.labels?.["job-name"] ?? "", { propagationPolicy: "Background" })
      )
      const { post } = yield* serve()
      const answer = yield* post(queryBody("sched-6"))
      expect(answer.status).toBe(500)
      expect(answer.json.error).toBe("query job failed: job was deleted before it finished")
      yield* clean
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a Job the API server refuses answers 500 failed to create query job", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-7"))
      const cluster = yield* MemoryCluster
      yield* cluster.failNext({ verb: "create", kind: "Job", times: 1, code: 403, reason: "Forbidden" })
      const { post } = yield* serve()
      const answer = yield* post(queryBody("sched-7"))
      expect(answer.status).toBe(500)
      expect(answer.json.error).toMatch(/^failed to create query job: KubeError: .*403 Forbidden/)
      yield* clean
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("beyond maxJobsInFlight a query gets 429 at once; slots free when Jobs end", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-8"))
      const pending: Array<{ readonly pod: Pod; readonly env: Readonly<Record<string, string>> }> = []
      yield* simulateQueryPods((pod, env) => Effect.sync(() => pending.push({ pod, env })))
      const { post, server } = yield* serve({ maxJobsInFlight: 2 })
      const first = yield* Effect.fork(post(queryBody("sched-8")))
      const second = yield* Effect.fork(post(queryBody("sched-8")))
      yield* eventually(
        Effect.filterOrFail(
          Effect.sync(() => pending.length),
          (n) => n === 2
        )
      )
      expect(server.jobsInFlight()).toBe(2)
      const third = yield* post(queryBody("sched-8"))
      expect(third.status).toBe(429)
      expect(third.header("retry-after")).toBe("1")
      expect(third.json.error).toBe(
        "too many queries in flight: 2 ephemeral query Jobs are already running on this replica; retry later"
      )
      for (const p of pending) yield* answerWith({ status: "ok", data: 1 })(p.pod, p.env)
      expect((yield* Fiber.join(first)).status).toBe(200)
      expect((yield* Fiber.join(second)).status).toBe(200)
      expect(server.jobsInFlight()).toBe(0)
      yield* clean
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a client that hangs up mid-query leaves nothing behind", () =>
    Effect.gen(function* () {
      yield* putSchedule(bot("sched-9"))
      const started: Array<string> = []
      yield* simulateQueryPods((pod) => Effect.sync(() => started.push(pod.metadata.name)))
      const { url, server } = yield* serve()
      const controller = new AbortController()
      const call = yield* Effect.fork(
        Effect.promise(() =>
          fetch(`${url}/query`, {
            method: "POST",
            body: queryBody("sched-9", { timeout_sec: 30 }),
            signal: controller.signal
          }).then(
            () => "answered",
            () => "aborted"
          )
        )
      )
      yield* eventually(
        Effect.filterOrFail(
          Effect.sync(() => started.length),
          (n) => n === 1
        )
      )
      controller.abort()
      expect(yield* Fiber.join(call)).toBe("aborted")
      yield* clean
      expect(server.jobsInFlight()).toBe(0)
    }).pipe(Effect.provide(world))
  )
})
