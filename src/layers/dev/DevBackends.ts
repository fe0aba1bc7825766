/**
 * The embedded backends of `the0-runtime dev`: the memory BotStore and EventBus, the on-disk ObjectStore, and a
 * local cluster (the memory cluster with its Job controller, a CronJob controller and the process kubelet that
 * runs every Pod's containers as child processes of this one).
 */
import { Layer } from "effect"
import * as MemoryBotStore from "../memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../memory/MemoryEventBus.ts"
import * as MemoryJobController from "../memory/MemoryJobController.ts"
import * as MemoryKubeApi from "../memory/MemoryKubeApi.ts"
import * as CronJobController from "./CronJobController.ts"
import * as DiskObjectStore from "./DiskObjectStore.ts"
import { podIP } from "./KubeletNode.ts"
import * as ProcessKubelet from "./ProcessKubelet.ts"

export interface DevBackendSettings {
  readonly namespace: string
  /** The object store's directory (shared with the bot processes through THE0_OBJECT_STORE_DIR). */
  readonly objectsDir: string
  readonly podsDir: string
  /** What runs `/app/runtime`: this repository's CLI. */
  readonly runtime: { readonly file: string; readonly args: ReadonlyArray<string> }
  /** The bot launchers (`/app/wrappers` in the image). */
  readonly wrappersDir: string
}

export const layer = (settings: DevBackendSettings) => {
  const cluster = Layer.mergeAll(
    ProcessKubelet.layer({
      namespace: settings.namespace,
      podsDir: settings.podsDir,
      runtime: settings.runtime,
      env: {
        THE0_OBJECT_STORE_DIR: settings.objectsDir,
        THE0_WRAPPERS_DIR: settings.wrappersDir,
        // listeners in Pods bind the Pod IP (loopback), where probes and the QueryServer's proxy reach them
        THE0_READINESS_HOST: podIP,
        THE0_QUERY_HOST: podIP
      }
    }),
    MemoryJobController.layer(settings.namespace),
    CronJobController.layer(settings.namespace)
  ).pipe(Layer.provideMerge(MemoryKubeApi.layer({ historyLimit: 10_000 })))
  return Layer.mergeAll(cluster, MemoryBotStore.layer, MemoryEventBus.layer, DiskObjectStore.layer(settings.objectsDir))
}
