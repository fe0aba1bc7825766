/**
 * The backends of `status`: the Kubernetes API and MongoDB, connected as the controller connects, and NATS for
 * where event ingest stands (docs/operations.md, "`the0-runtime status`").
 */
import { Layer } from "effect"
import * as LiveKubeApi from "./layers/live/LiveKubeApi.ts"
import * as MongoBotStore from "./layers/live/MongoBotStore.ts"
import * as NatsEventBus from "./layers/live/NatsEventBus.ts"
import type { StatusBackends } from "./programs/cli/Status.ts"

export const statusBackends: StatusBackends = {
  cluster: (b) =>
    Layer.merge(
      LiveKubeApi.layer({ kubeconfig: b.kubeconfig, qps: b.kubeQps, burst: b.kubeBurst }),
      MongoBotStore.layer({ uri: b.mongoUri, setting: "MONGO_URI" })
    ),
  events: (natsUrl) => NatsEventBus.layer({ servers: natsUrl })
}
