/**
 * The manager's health and metrics endpoints (`:8080` by default): `/healthz` answers as long as the process
 * serves (liveness must not depend on dependencies, as the0 learned), `/readyz` only when the caches are synced
 * and, on the leader, the first resync is done; `/metrics` is the Prometheus text exposition.
 */
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { exposition, type Metrics } from "./Metrics.ts"

export const router = (ready: Effect.Effect<boolean>): HttpRouter.HttpRouter<never, Metrics> =>
  HttpRouter.empty.pipe(
    HttpRouter.all("/healthz", HttpServerResponse.text("ok")),
    HttpRouter.all(
      "/readyz",
      Effect.map(ready, (ok) =>
        ok ? HttpServerResponse.text("ok") : HttpServerResponse.text("not ready", { status: 503 })
      )
    ),
    HttpRouter.get(
      "/metrics",
      Effect.map(exposition, (text) =>
        HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
      )
    )
  )
