/**
 * Traces (docs/operations.md, "Tracing") as production exports them: the OTLP layer POSTs to a receiver on
 * loopback, whose spans are decoded and checked for their trace and their parents. One trace from a NATS event to
 * the reconcile of its key and the API writes it makes; one from `POST /query` to its resolution and its answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, HashMap, Layer, Logger, Option, Tracer } from "effect"
import { Subject } from "../../src/domain/BotEvent.ts"
import type { Pod } from "../../src/domain/Kube.ts"
import type * as KubeConnection from "../../src/layers/live/KubeConnection.ts"
import * as LiveKubeApi from "../../src/layers/live/LiveKubeApi.ts"
import * as MemoryEventBus from "../../src/layers/memory/MemoryEventBus.ts"
import { MemoryEventBusControl } from "../../src/layers/memory/MemoryEventBus.ts"
import * as Manager from "../../src/programs/controller/Manager.ts"
import * as ReconcileRequests from "../../src/programs/ingest/ReconcileRequests.ts"
import * as Tracing from "../../src/programs/Tracing.ts"
import { createdPayload, podNames, settings, settle, world } from "./controller/ControllerEnv.ts"
import { type OtlpSink, otlpSink, theSpan } from "./OtlpSink.ts"
import * as QueryEnv from "./query/QueryEnv.ts"

const withEnv = (env: Record<string, string>) =>
  Layer.provide(Tracing.layer, Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

/** `effect` with spans exported to the sink; they are all sent once it is done (the layer's scope closes). */
const exportedTo =
  (sink: OtlpSink) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provide(
      effect,
      Tracing.layerOtlp({ url: Tracing.tracesUrl(sink.endpoint), serviceName: "the0-runtime-test" })
    )

describe("tracing", () => {
  it.scopedLive("a reconcile request from a follower carries its trace to the leader's reconcile; untraced, none", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      const seen: Array<Option.Option<Tracer.AnySpan>> = []
      const origins: Array<Tracer.Span> = []
      const serve = ReconcileRequests.serve(() =>
        Effect.map(Effect.serviceOption(Tracer.ParentSpan), (parent) => void seen.push(parent))
      )
      // core NATS semantics: a request published before the subscription is in place is lost, so publish until one
      // arrives
      const untilSeen = <E, R>(n: number, publish: Effect.Effect<unknown, E, R>) =>
        Effect.repeat(Effect.andThen(publish, Effect.sleep("20 millis")), { until: () => seen.length >= n }).pipe(
          Effect.timeout("5 seconds")
        )
      yield* Effect.gen(function* () {
        yield* serve
        yield* untilSeen(
          1,
          Effect.currentSpan.pipe(
            Effect.tap((span) => origins.push(span)),
            Effect.tap(() => ReconcileRequests.publish("bot", "b1")),
            Effect.withSpan("ingest.apply")
          )
        )
      }).pipe(exportedTo(sink), Effect.provide(MemoryEventBus.layer))
      const parent = Option.getOrThrow(seen[0] ?? Option.none())
      const origin = origins.find((o) => o.traceId === parent.traceId)
      expect(origin).toBeDefined()
      const request = sink.spans.find((s) => s.name === "reconcile.request" && s.traceId === origin?.traceId)
      expect(request).toMatchObject({ parentSpanId: origin?.spanId, attributes: { key: "bot:b1" } })
      expect(parent.spanId).toBe(request?.spanId)
      const traced = seen.length
      yield* Effect.gen(function* () {
        yield* serve
        yield* untilSeen(traced + 1, ReconcileRequests.publish("bot", "b2").pipe(Tracing.span("ingest.apply")))
      }).pipe(Effect.provide(Layer.merge(Tracing.layerOff, MemoryEventBus.layer)))
      expect(seen.slice(traced)).toEqual(seen.slice(traced).map(() => Option.none()))
    })
  )

  it.scopedLive("without OTEL_EXPORTER_OTLP_ENDPOINT there is no tracer: our spans are not made at all", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      const span = yield* Effect.currentSpan.pipe(
        Effect.withSpan("probe"),
        Effect.provide(withEnv({ OTEL_SERVICE_NAME: "ignored" }))
      )
      // others' spans are Effect's no-op span
      expect(span.traceId).toBe("noop")
      expect(span.sampled).toBe(false)
      const ours = yield* Effect.option(Effect.currentSpan).pipe(
        Tracing.span("ours"),
        Effect.provide(withEnv({ OTEL_SERVICE_NAME: "ignored" }))
      )
      expect(ours).toEqual(Option.none())
      expect(yield* Tracing.exporting.pipe(Effect.provide(withEnv({})))).toBe(false)
      expect(sink.requests).toEqual([])
    })
  )

  it.scopedLive("with it, spans are POSTed as OTLP JSON to <endpoint>/v1/traces as OTEL_SERVICE_NAME", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      const named = yield* Effect.gen(function* () {
        expect(yield* Tracing.exporting).toBe(true)
        return yield* Effect.currentSpan.pipe(Effect.withSpan("probe", { attributes: { n: 1 } }))
      }).pipe(Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: `${sink.endpoint}/`, OTEL_SERVICE_NAME: "svc" })))
      yield* Effect.withSpan(Effect.void, "second").pipe(
        Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint }))
      )
      expect(sink.requests).toEqual([
        { path: "/v1/traces", contentType: "application/json" },
        { path: "/v1/traces", contentType: "application/json" }
      ])
      const probe = theSpan(sink.spans, "probe")
      expect(probe).toMatchObject({ service: "svc", traceId: named.traceId, spanId: named.spanId, parentSpanId: "" })
      expect(probe.attributes.n).toBe(1)
      expect(theSpan(sink.spans, "second").service).toBe(Tracing.defaultServiceName)
    })
  )

  it.scopedLive("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is, before OTEL_EXPORTER_OTLP_ENDPOINT", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      yield* Effect.withSpan(Effect.void, "only-traces").pipe(
        Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${sink.endpoint}/collector/spans` }))
      )
      yield* Effect.withSpan(Effect.void, "both").pipe(
        Effect.provide(
          withEnv({
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${sink.endpoint}/collector/spans`,
            OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9"
          })
        )
      )
      expect(sink.requests.map((r) => r.path)).toEqual(["/collector/spans", "/collector/spans"])
      expect(sink.spans.map((s) => s.name).sort()).toEqual(["both", "only-traces"])
    })
  )

  it.scopedLive("a log line written in a span carries its traceId and spanId; outside a span none", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      const lines: Array<Record<string, unknown>> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message, annotations }) => {
          lines.push({
            message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
            ...Object.fromEntries(HashMap.toEntries(annotations))
          })
        })
      )
      const span = yield* Effect.gen(function* () {
        yield* Effect.logInfo("outside")
        return yield* Effect.logInfo("inside").pipe(Effect.zipRight(Effect.currentSpan), Effect.withSpan("work"))
      }).pipe(exportedTo(sink), Effect.provide(capture))
      expect(lines).toEqual([{ message: "outside" }, { message: "inside", traceId: span.traceId, spanId: span.spanId }])
    })
  )

  it.scoped("a NATS event is one trace: ingest.event, its store write ingest.apply, the reconcile of its key", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Manager.make({ ...settings, leaderElection: { ...settings.leaderElection, identity: "t1" } })
          yield* settle
          const control = yield* MemoryEventBusControl
          yield* control.publishAsPeer(Subject.botCreated, createdPayload("tr1"))
          yield* settle
          expect(yield* podNames).toEqual(["bot-tr1"])
        })
      ).pipe(exportedTo(sink))
      const event = theSpan(sink.spans, "ingest.event")
      expect(event.parentSpanId).toBe("")
      expect(event.attributes["messaging.destination.name"]).toBe(Subject.botCreated)
      const apply = theSpan(sink.spans, "ingest.apply")
      expect(apply).toMatchObject({ traceId: event.traceId, parentSpanId: event.spanId })
      expect(apply.attributes).toMatchObject({ "bot.id": "tr1", outcome: "inserted" })
      const reconcile = theSpan(sink.spans, "reconcile", (s) => s.traceId === event.traceId)
      expect(reconcile.parentSpanId).toBe(event.spanId)
      expect(reconcile.attributes.key).toBe("tr1")
      expect(typeof reconcile.attributes["queue.wait_ms"]).toBe("number")
    }).pipe(Effect.provide(Layer.merge(world(), MemoryEventBus.layerWithControl)))
  )

  it.scopedLive("a Kubernetes API write is a kube.<verb> span in the trace of its caller", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      const pod: Pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "bot-k1" }, spec: { containers: [] } }
      const answered: Array<string> = []
      const connection: KubeConnection.KubeConnection = {
        server: "http://127.0.0.1:1",
        namespace: "ns",
        request: (options) =>
          Effect.sync(() => {
            answered.push(`${options.method} ${options.path}`)
            return options.method === "DELETE"
              ? { status: 404, body: JSON.stringify({ kind: "Status", code: 404, reason: "NotFound" }) }
              : { status: 201, body: JSON.stringify(options.body ?? pod) }
          }),
        stream: () => Effect.die("no watches here") as never
      }
      const parent = yield* Effect.gen(function* () {
        const api = yield* LiveKubeApi.make(connection, { qps: 0, burst: 0 })
        return yield* Effect.gen(function* () {
          yield* api.create("Pod", "ns", pod)
          yield* Effect.either(api.delete("Pod", "ns", "gone"))
          yield* api.get("Pod", "ns", "bot-k1")
          return yield* Effect.currentSpan
        }).pipe(Effect.withSpan("reconcile"))
      }).pipe(exportedTo(sink))
      expect(answered).toEqual([
        "POST /api/v1/namespaces/ns/pods",
        "DELETE /api/v1/namespaces/ns/pods/gone",
        "GET /api/v1/namespaces/ns/pods/bot-k1"
      ])
      const create = theSpan(sink.spans, "kube.create")
      expect(create).toMatchObject({ traceId: parent.traceId, parentSpanId: parent.spanId })
      expect(create.attributes).toEqual({ "k8s.kind": "Pod", "k8s.namespace": "ns", "k8s.name": "bot-k1" })
      expect(theSpan(sink.spans, "kube.delete")).toMatchObject({ traceId: parent.traceId, parentSpanId: parent.spanId })
      // reads are not traced
      expect(sink.spans.map((s) => s.name).sort()).toEqual(["kube.create", "kube.delete", "reconcile"])
    })
  )

  it.scopedLive("POST /query is one trace: the request, query.resolve, then query.realtime or query.job", () =>
    Effect.gen(function* () {
      const sink = yield* otlpSink
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sdk = yield* QueryEnv.botQueryServer({ "/balance": () => ({ usd: 7 }) })
          yield* QueryEnv.putBot(QueryEnv.bot("rt-1"))
          yield* QueryEnv.runRealtimePod(QueryEnv.bot("rt-1"), sdk.port)
          yield* QueryEnv.putSchedule(QueryEnv.bot("job-1"))
          yield* QueryEnv.simulateQueryPods(QueryEnv.answerWith({ status: "ok", data: 1 }))
          const { post } = yield* QueryEnv.serve()
          const realtime = yield* QueryEnv.eventually(
            Effect.filterOrFail(
              post(JSON.stringify({ bot_id: "rt-1", query_path: "/balance" })),
              (a) => a.status === 200,
              (a) => a
            )
          )
          expect(realtime.json.data).toEqual({ usd: 7 })
          const job = yield* post(JSON.stringify({ bot_id: "job-1", query_path: "/status", timeout_sec: 5 }))
          expect(job.status).toBe(200)
        })
      ).pipe(exportedTo(sink))
      const requests = sink.spans.filter((s) => s.name === "POST /query")
      const byBot = (id: string) => {
        const request = theSpan(requests, "POST /query", (s) => s.attributes["bot.id"] === id)
        expect(request.parentSpanId).toBe("")
        expect(request.attributes["http.response.status_code"]).toBe(200)
        const child = (name: string) =>
          theSpan(sink.spans, name, (s) => s.traceId === request.traceId && s.parentSpanId === request.spanId)
        return { request, child }
      }
      const rt = byBot("rt-1")
      expect(rt.child("query.resolve").attributes).toMatchObject({ "bot.id": "rt-1", "query.mode": "realtime" })
      expect(rt.child("query.realtime").attributes).toMatchObject({
        "query.status": "ok",
        "server.port": expect.any(Number)
      })
      const job = byBot("job-1")
      expect(job.child("query.resolve").attributes).toMatchObject({ "bot.id": "job-1", "query.mode": "job" })
      expect(job.child("query.job").attributes).toMatchObject({ "bot.id": "job-1", "query.status": "ok" })
    }).pipe(Effect.provide(QueryEnv.world))
  )
})
