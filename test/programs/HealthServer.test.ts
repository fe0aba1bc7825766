import { HttpClient, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Ref } from "effect"
import * as HealthServer from "../../src/programs/HealthServer.ts"
import { Metrics } from "../../src/programs/Metrics.ts"

const serve = (ready: Ref.Ref<boolean>) =>
  HttpServer.serve(HealthServer.router(Ref.get(ready))).pipe(
    Layer.provide(Metrics.layer),
    Layer.provideMerge(NodeHttpServer.layerTest)
  )

describe("HealthServer", () => {
  it.live("healthz is always ok; readyz follows readiness; metrics is Prometheus text", () =>
    Effect.gen(function* () {
      const ready = yield* Ref.make(false)
      yield* Effect.gen(function* () {
        const client = yield* HttpClient.HttpClient
        const get = (path: string) =>
          Effect.flatMap(client.get(path), (r) => Effect.map(r.text, (body) => ({ status: r.status, body })))
        expect(yield* get("/healthz")).toEqual({ status: 200, body: "ok" })
        expect(yield* get("/readyz")).toEqual({ status: 503, body: "not ready" })
        yield* Ref.set(ready, true)
        expect(yield* get("/readyz")).toEqual({ status: 200, body: "ok" })
        const metrics = yield* get("/metrics")
        expect(metrics.status).toBe(200)
        expect(metrics.body).toContain("# TYPE the0_reconcile_total counter")
      }).pipe(Effect.provide(serve(ready)), Effect.scoped)
    })
  )
})
