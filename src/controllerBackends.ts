/**
 * The controller's live backends: the Kubernetes API, MongoDB, NATS and MinIO. Shared by the full CLI and the small
 * `controller` entry (docs/operations.md, "Controller footprint"). An empty NATS URL disables event ingest, as in
 * the0 (with a warning).
 */
import { Effect, Layer } from "effect"
import * as LiveKubeApi from "./layers/live/LiveKubeApi.ts"
import * as MinioObjectStore from "./layers/live/MinioObjectStore.ts"
import * as MongoBotStore from "./layers/live/MongoBotStore.ts"
import * as NatsEventBus from "./layers/live/NatsEventBus.ts"
import * as MemoryEventBus from "./layers/memory/MemoryEventBus.ts"
import type { BackendSettings } from "./programs/cli/Controller.ts"
import type { Backends } from "./programs/controller/App.ts"

export const controllerBackends = (b: BackendSettings): Backends =>
  Layer.mergeAll(
    LiveKubeApi.layer({ kubeconfig: b.kubeconfig, qps: b.kubeQps, burst: b.kubeBurst }),
    MongoBotStore.layer({ uri: b.mongoUri, setting: "MONGO_URI" }),
    b.natsUrl === ""
      ? Layer.effectDiscard(
          Effect.logWarning("WARNING: NATS_URL not set, bots/schedules won't be synced from API")
        ).pipe(Layer.provideMerge(MemoryEventBus.layer))
      : Layer.unwrapEffect(
          Effect.map(NatsEventBus.parseServers(b.natsUrl, "NATS_URL"), () =>
            NatsEventBus.layer({ servers: b.natsUrl, prefetch: b.natsPrefetch })
          )
        ),
    MinioObjectStore.layerAt(b.minioEndpoint)
  )
