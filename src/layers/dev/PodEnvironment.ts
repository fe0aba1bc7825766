/**
 * A Pod's containers as this machine runs them: in-container paths (the container's volume mounts, the image's
 * runtime binary) rewritten to the Pod's directories and this repository's CLI, container ports in the command
 * replaced by their host ports, and the env resolved (the node's variables, literal values, `secretKeyRef` from the
 * cluster's Secrets, `fieldRef`, the path and port variables the runtime reads). The object store's location goes
 * only to the containers that hold its credentials.
 */
import * as path from "node:path"
import { Data, Effect } from "effect"
import type { Container, EnvVar } from "../../domain/Kube.ts"
import { botQueryPort } from "../../domain/Query.ts"
import { type KubeletNode, nodeName, podIP } from "./KubeletNode.ts"
import type { PodRun } from "./PodRun.ts"

/** In-container paths the runtime reads from these variables when set (the0 hard-codes them). */
const pathVariables: ReadonlyArray<readonly [string, string]> = [
  ["/query", "THE0_QUERY_DIR"],
  ["/var/the0/done", "THE0_DONE_FILE"],
  ["/tmp", "TMPDIR"]
]

/** Container ports whose mapped host port a bot reads from a variable: the SDK's query server port. */
const portVariables: Readonly<Record<number, string>> = { [botQueryPort]: "THE0_QUERY_PORT" }

const defaultInherit = ["PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "SHELL", "TZ", "PYTHONPATH"]

/** Node variables that locate the object store: the `dev` counterpart of the MinIO credentials. */
const objectStoreVariables: ReadonlyArray<string> = ["THE0_OBJECT_STORE_DIR"]

/**
 * Whether the container talks to the object store: its spec carries the credentials (the `restore` init container
 * and the sidecars). Only such a container gets the object store's location; the `bot` and `query-server`
 * containers, whose processes run bot code, get neither (docs/operations.md, "MinIO credentials").
 */
export const holdsObjectStore = (container: Container): boolean =>
  (container.env ?? []).some((variable) => variable.name === "MINIO_ACCESS_KEY")

/** A variable the container cannot be given (the kubelet's `CreateContainerConfigError`); the message says which. */
export class ContainerConfigError extends Data.TaggedError("ContainerConfigError")<{ readonly message: string }> {}

/** The env of one container: the node's, the spec's (resolved, paths rewritten), the mapped ports. */
export const resolveEnv = (
  node: KubeletNode,
  run: PodRun,
  container: Container,
  rewrite: (value: string) => string
): Effect.Effect<Record<string, string>, ContainerConfigError> =>
  Effect.gen(function* () {
    const env: Record<string, string> = {}
    // a dev container inherits these from this process, as a container inherits its image's environment
    for (const name of node.options.inheritEnv ?? defaultInherit) {
      const value = process.env[name]
      if (value !== undefined) env[name] = value
    }
    const storeAccess = holdsObjectStore(container)
    for (const [name, value] of Object.entries(node.options.env ?? {}))
      if (storeAccess || !objectStoreVariables.includes(name)) env[name] = value
    for (const [inside, variable] of pathVariables) {
      const outside = rewrite(inside)
      if (outside !== inside) env[variable] = outside
    }
    for (const port of container.ports ?? []) {
      const variable = portVariables[port.containerPort]
      const host = run.ports.get(port.containerPort)
      if (variable !== undefined && host !== undefined) env[variable] = String(host)
    }
    for (const variable of container.env ?? []) {
      const value = yield* envValue(node, run, variable)
      if (value !== undefined) env[variable.name] = rewrite(value)
    }
    return env
  })

/** One variable's value; a missing Secret or key (not optional) fails with a message saying which. */
const envValue = (
  node: KubeletNode,
  run: PodRun,
  variable: EnvVar
): Effect.Effect<string | undefined, ContainerConfigError> =>
  Effect.gen(function* () {
    if (variable.value !== undefined) return variable.value
    const secretRef = variable.valueFrom?.secretKeyRef
    if (secretRef !== undefined) {
      const secret = yield* node.api
        .get("Secret", node.namespace, secretRef.name)
        .pipe(Effect.catchAll(() => Effect.succeed(undefined)))
      const encoded = secret?.data?.[secretRef.key]
      if (encoded !== undefined) return Buffer.from(encoded, "base64").toString("utf8")
      if (secretRef.optional === true) return undefined
      return yield* new ContainerConfigError({
        message: `secret ${JSON.stringify(secretRef.name)} ${secret === undefined ? "not found" : `has no key ${JSON.stringify(secretRef.key)}`}`
      })
    }
    const field = variable.valueFrom?.fieldRef?.fieldPath
    if (field === "metadata.name") return run.name
    if (field === "metadata.namespace") return node.namespace
    if (field === "status.podIP" || field === "status.hostIP") return podIP
    if (field === "spec.nodeName") return nodeName
    return ""
  })

/** Rewrites in-container paths (the container's mounts) to this machine's. */
export const rewriter = (run: PodRun, container: Container): ((value: string) => string) => {
  const mounts = [...(container.volumeMounts ?? [])]
    .map((m) => [m.mountPath.replace(/\/+$/, ""), path.join(run.dir, m.name)] as const)
    .sort((a, b) => b[0].length - a[0].length)
  return (value: string): string => {
    for (const [inside, outside] of mounts) {
      if (value === inside) return outside
      if (value.startsWith(`${inside}/`)) return outside + value.slice(inside.length)
    }
    return value
  }
}

export interface Command {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
}

/** What to run for the container: its command and args (ports mapped, paths rewritten, the image binary replaced). */
export const commandOf = (
  node: KubeletNode,
  run: PodRun,
  container: Container,
  rewrite: (value: string) => string
): Command => {
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((arg) => {
    const port = /^\d+$/.test(arg) ? run.ports.get(Number(arg)) : undefined
    return port !== undefined ? String(port) : rewrite(arg)
  })
  const [first = "", ...rest] = argv
  const cwd = container.workingDir === undefined ? run.dir : rewrite(container.workingDir)
  return first === node.imageBinary
    ? { file: node.options.runtime.file, args: [...node.options.runtime.args, ...rest], cwd }
    : { file: first, args: rest, cwd }
}
