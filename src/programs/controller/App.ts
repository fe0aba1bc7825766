/**
 * The controller process's composition: the controller manager (Bot and Schedule controllers, event ingest, leader
 * election), the health and metrics server and the QueryServer, on whatever backends are provided. `the0-runtime
 * controller` runs it on the live backends, `the0-runtime dev` on the embedded ones; the entries choose which.
 * Traces are exported when the environment asks for them (Tracing.ts), from everything the process runs but the
 * health server (probes and scrapes).
 */

import { createServer } from "node:http"
import { HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import type { BotStore } from "../../services/BotStore.ts"
import type { EventBus } from "../../services/EventBus.ts"
import type { KubeApi } from "../../services/KubeApi.ts"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import * as HealthServer from "../HealthServer.ts"
import { everyInterface, listenHost } from "../ListenAddress.ts"
import { Metrics } from "../Metrics.ts"
import type { PortOf } from "../query/BotResolver.ts"
import * as QueryServer from "../query/QueryServer.ts"
import type { QuerySettings } from "../query/QuerySettings.ts"
import * as Tracing from "../Tracing.ts"
import type { ControllerSettings } from "./ControllerSettings.ts"
import * as Manager from "./Manager.ts"

/** The ports the controller process runs on: the live ones or dev's embedded ones. */
export type Backends = Layer.Layer<KubeApi | BotStore | EventBus | ObjectStore, unknown>

export interface AppSettings {
  readonly settings: ControllerSettings
  readonly query: QuerySettings
  readonly healthPort: number
  /** Interface of the health server; every interface when absent (`dev` gives its `--host`). */
  readonly healthHost?: string
  /** Where a bot Pod's query port is reached; the port itself when absent (`dev` gives its port map). */
  readonly portOf?: PortOf
}

class ManagerInstance extends Context.Tag("the0/ManagerInstance")<ManagerInstance, Manager.Manager>() {}

/** Everything the controller process runs; its backends are left to provide. */
export const layer = (app: AppSettings) => {
  const manager = Layer.scoped(ManagerInstance, Manager.make(app.settings))
  const health = Layer.unwrapEffect(
    Effect.map(ManagerInstance, (m) =>
      HttpServer.serve(HealthServer.router(m.ready)).pipe(
        // probes and scrapes are not worth a trace each
        HttpMiddleware.withTracerDisabledWhen(() => true),
        Layer.provide(
          NodeHttpServer.layer(createServer, {
            port: app.healthPort,
            host: listenHost(app.healthHost ?? everyInterface)
          })
        )
      )
    )
  )
  const query = Layer.unwrapEffect(
    Effect.map(ManagerInstance, (m) =>
      QueryServer.layer({
        settings: app.query,
        botPods: m.bots.informer,
        reportingInstance: app.settings.leaderElection.identity,
        ...(app.portOf === undefined ? {} : { portOf: app.portOf })
      })
    )
  )
  return Layer.mergeAll(health, query).pipe(
    Layer.provide(manager),
    Layer.provideMerge(Metrics.layer),
    Layer.provide(Tracing.layer)
  )
}
