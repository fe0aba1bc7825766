/**
 * Traces of the controller as `the0-runtime controller` composes it (programs/controller/App.ts) on the testbed's
 * servers, with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP receiver on loopback: a NATS event is one trace from
 * ingest through the store write and the reconcile to the Pod's create on the real API server
 * (docs/operations.md, "Tracing").
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Scope } from "effect"
import { Subject } from "../../../src/domain/BotEvent.ts"
import * as App from "../../../src/programs/controller/App.ts"
import * as ControllerSettings from "../../../src/programs/controller/ControllerSettings.ts"
import * as QuerySettings from "../../../src/programs/query/QuerySettings.ts"
import { otlpSink, theSpan } from "../../programs/OtlpSink.ts"
import {
  apiPayload,
  backends,
  clearStore,
  dropEventsStream,
  env,
  freshNamespace,
  podsOf,
  publish,
  until
} from "./Harness.ts"

describe("controller traces on the testbed", () => {
  it.live(
    "a the0.bot.created event is one trace: ingest.event, ingest.apply, reconcile, kube.create of its Pod; probes are not traced",
    () =>
      Effect.gen(function* () {
        yield* Effect.andThen(clearStore, dropEventsStream)
        const namespace = yield* freshNamespace
        const sink = yield* otlpSink
        const settings: ControllerSettings.ControllerSettings = {
          ...ControllerSettings.defaults,
          manifest: { ...ControllerSettings.defaults.manifest, namespace, minioEndpoint: env.MINIO_ENDPOINT },
          leaderElection: { ...ControllerSettings.defaults.leaderElection, identity: "traced" },
          ownedMinioCredentials: { accessKey: env.MINIO_ACCESS_KEY, secretKey: env.MINIO_SECRET_KEY }
        }
        const app: App.AppSettings = {
          settings,
          query: { ...QuerySettings.defaults, port: 18690, host: "127.0.0.1", manifest: settings.manifest },
          healthPort: 18691
        }
        const config = ConfigProvider.fromMap(
          new Map([
            ["OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint],
            ["OTEL_SERVICE_NAME", "the0-runtime-it"]
          ])
        ).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
        const scope = yield* Scope.make()
        yield* Layer.buildWithScope(
          App.layer(app).pipe(Layer.provide(Layer.setConfigProvider(config)), Layer.provide(backends())),
          scope
        )
        yield* Effect.sleep("1 second")
        yield* publish(Subject.botCreated, apiPayload("traced-1"))
        yield* until(
          Effect.filterOrFail(
            podsOf(namespace),
            (pods) => pods.some((p) => p.metadata?.name === "bot-traced-1"),
            () => "no Pod yet"
          ),
          20_000
        )
        const probe = yield* Effect.promise(() => fetch("http://127.0.0.1:18691/healthz"))
        expect(probe.status).toBe(200)
        // the spans still buffered are sent at shutdown
        yield* Scope.close(scope, Exit.void)

        const event = theSpan(
          sink.spans,
          "ingest.event",
          (s) => s.attributes["messaging.destination.name"] === Subject.botCreated
        )
        expect(event).toMatchObject({ service: "the0-runtime-it", parentSpanId: "" })
        const apply = theSpan(sink.spans, "ingest.apply", (s) => s.traceId === event.traceId)
        expect(apply.parentSpanId).toBe(event.spanId)
        const reconcile = theSpan(
          sink.spans,
          "reconcile",
          (s) => s.traceId === event.traceId && s.parentSpanId === event.spanId
        )
        expect(reconcile.attributes.key).toBe("traced-1")
        const create = theSpan(sink.spans, "kube.create", (s) => s.traceId === event.traceId)
        expect(create.parentSpanId).toBe(reconcile.spanId)
        // the health server's probes and scrapes are not traced
        expect(sink.spans.filter((s) => s.name.startsWith("http.server"))).toEqual([])
        expect(create.attributes).toEqual({ "k8s.kind": "Pod", "k8s.namespace": namespace, "k8s.name": "bot-traced-1" })
      }).pipe(Effect.scoped),
    60_000
  )
})
