/**
 * `dev` runs every Pod's containers on this machine, so each Pod's container ports are mapped to host ports of
 * their own; the dev kubelet announces each mapping on the Pod (`devHostPortAnnotation`). Read here, and only here.
 */
import type { Pod } from "../../domain/Kube.ts"
import { devHostPortAnnotation } from "../../domain/Labels.ts"
import type { PortOf } from "../query/BotResolver.ts"

/** The host port a container port of the Pod is mapped to, if the dev kubelet announced a valid one. */
export const mappedHostPort = (pod: Pod, containerPort: number): number | undefined => {
  const mapped = Number(pod.metadata.annotations?.[devHostPortAnnotation(containerPort)])
  return Number.isInteger(mapped) && mapped > 0 && mapped < 65536 ? mapped : undefined
}

/** Where the QueryServer reaches a container port of a dev Pod: its mapped host port, else the port itself. */
export const hostPortOf: PortOf = (pod, containerPort) => mappedHostPort(pod, containerPort) ?? containerPort
