/**
 * What every part of the process kubelet shares: the node it pretends to be (its name, its IP, 127.0.0.1), the
 * options it was started with, and those options resolved once (defaults applied) together with the cluster.
 */
import { Duration } from "effect"
import type { KubeApiService } from "../../services/KubeApi.ts"
import type { MemoryClusterControl } from "../memory/MemoryKubeApi.ts"
import type { ProcessTable } from "./ProcessRecord.ts"

export const nodeName = "dev-node"
export const podIP = "127.0.0.1"

export interface ProcessKubeletOptions {
  readonly namespace: string
  /**
   * Each Pod gets `<podsDir>/<pod name>-<uid>/<volume>/` and `.../logs/<container>.log`; `<podsDir>/processes.json`
   * records the container processes running (ProcessRecord.ts).
   */
  readonly podsDir: string
  /** What the image's runtime binary stands for here, e.g. `node bin/the0-runtime`. */
  readonly runtime: { readonly file: string; readonly args: ReadonlyArray<string> }
  /** The binary's path in the image (`/app/runtime`). */
  readonly imageBinary?: string
  /** Variables every container gets (this machine's node configuration: object store directory, wrappers...). */
  readonly env?: Readonly<Record<string, string>>
  /** Host variables passed through (a container's env is otherwise only its spec's). */
  readonly inheritEnv?: ReadonlyArray<string>
  /** First restart delay, doubled up to `maxBackoff` (Kubernetes: 10 s up to 5 min). */
  readonly initialBackoff?: Duration.DurationInput
  readonly maxBackoff?: Duration.DurationInput
  /** How often startup probes and port checks run. */
  readonly probeInterval?: Duration.DurationInput
}

/** The kubelet's options with their defaults, and the cluster it runs Pods for. */
export interface KubeletNode {
  readonly options: ProcessKubeletOptions
  readonly cluster: MemoryClusterControl
  /** The cluster's API without faults or latency. */
  readonly api: KubeApiService
  readonly namespace: string
  readonly imageBinary: string
  readonly initialBackoff: Duration.Duration
  readonly maxBackoff: Duration.Duration
  readonly probeInterval: Duration.Duration
  /** The record of the container processes running (ProcessRecord.ts). */
  readonly processes: ProcessTable
}

export const kubeletNode = (
  options: ProcessKubeletOptions,
  cluster: MemoryClusterControl,
  processes: ProcessTable
): KubeletNode => ({
  options,
  cluster,
  processes,
  api: cluster.direct,
  namespace: options.namespace,
  imageBinary: options.imageBinary ?? "/app/runtime",
  initialBackoff: Duration.decode(options.initialBackoff ?? "1 second"),
  maxBackoff: Duration.decode(options.maxBackoff ?? "30 seconds"),
  probeInterval: Duration.decode(options.probeInterval ?? "200 millis")
})
