/**
 * A generated Pod's containers started on this machine as the kubelet would start them: each container's command
 * and args with `/app/runtime` replaced by this checkout's CLI, its in-container paths (volume mounts, working dir)
 * rewritten to per-Pod directories, its declared ports mapped to free host ports, and its env made only of what
 * its spec says (literal values, `secretKeyRef` resolved from `secrets`) plus what the image sets. Each container is
 * its own PID namespace with its own /proc (unshare) and runs as uid 1000, the Pods' user, so a process sees only
 * the processes of its own container, as without `shareProcessNamespace`. Needs root.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { chmodSync, chownSync, mkdirSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import type { Container, Pod } from "../../../../src/domain/Kube.ts"
import { cli, freePort, repo } from "./PodWorld.ts"

export const podUid = 1000

export interface StartedContainer {
  readonly name: string
  /** `unshare`: killing it kills the container's processes. */
  readonly child: ChildProcess
  readonly output: () => string
  readonly exit: Promise<number>
  /** Sends `signal` to the container's first process (what the kubelet signals). */
  readonly signal: (signal: NodeJS.Signals) => void
}

export interface RenderedPod {
  readonly dir: string
  /** Host port of a container port (the sync sidecar's 8079, the query server's 9476). */
  readonly port: (containerPort: number) => number
  readonly start: (container: Container) => StartedContainer
}

/**
 * Directories for the Pod's volumes under `dir` (owned by the Pod's user), and free host ports for every declared
 * port and probe port. `secrets` resolves `secretKeyRef` keys; `storeEnv` is this machine's object-store settings
 * (bucket names), given only to the containers whose spec holds the credentials, as `dev` does.
 */
export const renderedPod = async (
  pod: Pod,
  dir: string,
  secrets: Readonly<Record<string, string>>,
  storeEnv: Readonly<Record<string, string>>
): Promise<RenderedPod> => {
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers]
  const ports = new Map<number, number>()
  for (const container of containers) {
    const declared = [
      ...(container.ports ?? []).map((p) => p.containerPort),
      Number(container.startupProbe?.httpGet?.port ?? Number.NaN)
    ]
    for (const port of declared) if (Number.isInteger(port) && !ports.has(port)) ports.set(port, await freePort())
  }
  for (const volume of pod.spec.volumes ?? []) mkdirSync(path.join(dir, volume.name), { recursive: true })
  for (const sub of ["", ...(pod.spec.volumes ?? []).map((v) => v.name)]) chownSync(path.join(dir, sub), podUid, podUid)
  for (let up = dir; up.startsWith(`${tmpdir()}/`); up = path.dirname(up)) chmodSync(up, 0o755)

  const start = (container: Container): StartedContainer => {
    const mounts = (container.volumeMounts ?? [])
      .map((m) => [m.mountPath, path.join(dir, m.name)] as const)
      .sort((a, b) => b[0].length - a[0].length)
    const rewrite = (value: string): string => {
      for (const [inside, outside] of mounts) {
        if (value === inside) return outside
        if (value.startsWith(`${inside}/`)) return outside + value.slice(inside.length)
      }
      return value
    }
    const holdsCredentials = (container.env ?? []).some((e) => e.name === "MINIO_ACCESS_KEY")
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: path.join(dir, "tmp"),
      THE0_WRAPPERS_DIR: path.join(repo, "assets/wrappers"),
      ...(holdsCredentials ? storeEnv : {})
    }
    for (const [inside, variable] of [
      ["/query", "THE0_QUERY_DIR"],
      ["/var/the0/done", "THE0_DONE_FILE"],
      ["/tmp", "TMPDIR"]
    ] as const)
      if (rewrite(inside) !== inside) env[variable] = rewrite(inside)
    const queryPort = (container.ports ?? []).find((p) => p.containerPort === 9476)
    if (queryPort !== undefined) env.THE0_QUERY_PORT = String(ports.get(9476))
    for (const variable of container.env ?? []) {
      const ref = variable.valueFrom?.secretKeyRef
      const value = ref === undefined ? variable.value : secrets[ref.key]
      if (value !== undefined) env[variable.name] = rewrite(value)
    }
    const [binary, ...rest] = [...(container.command ?? []), ...(container.args ?? [])].map((arg) => {
      const port = /^\d+$/.test(arg) ? ports.get(Number(arg)) : undefined
      return port === undefined ? rewrite(arg) : String(port)
    })
    if (binary !== "/app/runtime") throw new Error(`container ${container.name} does not run the runtime: ${binary}`)
    const isolation = [
      "--pid",
      "--fork",
      "--kill-child",
      "--mount-proc",
      "setpriv",
      `--reuid=${podUid}`,
      `--regid=${podUid}`
    ]
    const child = spawn("unshare", [...isolation, "--clear-groups", cli, ...rest], {
      cwd: container.workingDir === undefined ? dir : rewrite(container.workingDir),
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const collect = (chunk: Buffer) => {
      output += chunk.toString("utf8")
    }
    child.stdout?.on("data", collect)
    child.stderr?.on("data", collect)
    const exit = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 128)))
    const signal = (name: NodeJS.Signals) => {
      const inner = execFileSync("ps", ["-o", "pid=", "--ppid", String(child.pid)])
        .toString()
        .trim()
      if (inner !== "") process.kill(Number(inner.split(/\s+/)[0]), name)
    }
    return { name: container.name, child, output: () => output, exit, signal }
  }

  return {
    dir,
    port: (containerPort) => {
      const port = ports.get(containerPort)
      if (port === undefined) throw new Error(`no container declares port ${containerPort}`)
      return port
    },
    start
  }
}
