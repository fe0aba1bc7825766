/**
 * Where the Kubernetes API server is and how to authenticate to it: the Pod's service account in a cluster, else a
 * kubeconfig (`--kubeconfig`, `KUBECONFIG` with its `:`-separated list, or `~/.kube/config`). Our own reader, so the
 * controller does not load a whole Kubernetes client for it (docs/operations.md, "Controller footprint"). It reads
 * what `kubectl` reads for the current context: the cluster's `server`, `certificate-authority(-data)`,
 * `insecure-skip-tls-verify` and `tls-server-name`; the user's `token`, `tokenFile`, `client-certificate(-data)`,
 * `client-key(-data)`, `username`/`password` and `exec` credential plugins (client.authentication.k8s.io, tokens);
 * anything else it cannot honour (`auth-provider`, `proxy-url`, client certificates from a plugin) is refused with
 * an error naming the field.
 */
import { execFile } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, isAbsolute, join } from "node:path"
import { Config, Data, Effect, Option } from "effect"
import { parse as parseYaml } from "yaml"

export class KubeConfigError extends Data.TaggedError("KubeConfigError")<{
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail
  }
}

export interface KubeTls {
  readonly ca?: Buffer
  readonly cert?: Buffer
  readonly key?: Buffer
  readonly rejectUnauthorized?: boolean
  readonly servername?: string
}

/** An API server and the means to authenticate to it. */
export interface KubeTarget {
  readonly server: string
  readonly namespace: string
  readonly tls: KubeTls
  /** Headers for the next request: tokens are read again from their file or plugin when they may have rotated. */
  readonly authHeaders: () => Promise<Record<string, string>>
}

/** Where a service account's files are mounted in every Pod. */
export const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

/** A token file is read again after this long: projected service-account tokens rotate (every hour or so). */
const tokenFileMillis = 60_000

const fail = (detail: string, cause?: unknown): never => {
  throw new KubeConfigError({ detail, ...(cause === undefined ? {} : { cause }) })
}

const readFileOr = (path: string, field: string): Buffer => {
  try {
    return readFileSync(path)
  } catch (cause) {
    return fail(`${field}: cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
  }
}

/** A token kept for a minute, then read again from its file. */
const tokenFromFile = (path: string, field: string): (() => Promise<Record<string, string>>) => {
  let token = ""
  let readAt = Number.NEGATIVE_INFINITY
  return () => {
    if (Date.now() - readAt >= tokenFileMillis) {
      token = readFileOr(path, field).toString("utf8").trim()
      readAt = Date.now()
    }
    return Promise.resolve({ Authorization: `Bearer ${token}` })
  }
}

/** The service account of the Pod this process runs in, as every in-cluster client reads it. */
export const inCluster = (
  env: Readonly<Record<string, string | undefined>>,
  dir: string = serviceAccountDir
): KubeTarget => {
  const host = env.KUBERNETES_SERVICE_HOST ?? ""
  const port = env.KUBERNETES_SERVICE_PORT ?? "443"
  if (host === "") fail("KUBERNETES_SERVICE_HOST is not set: not running in a Pod")
  const namespaceFile = join(dir, "namespace")
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    namespace: existsSync(namespaceFile) ? readFileSync(namespaceFile, "utf8").trim() : "default",
    tls: { ca: readFileOr(join(dir, "ca.crt"), "service account ca.crt") },
    authHeaders: tokenFromFile(join(dir, "token"), "service account token")
  }
}

type Entry = Record<string, unknown>

interface Source {
  readonly file: string
  readonly doc: Entry
}

const record = (value: unknown, field: string): Entry => {
  if (value === undefined || value === null) return {}
  if (typeof value !== "object" || Array.isArray(value)) return fail(`${field}: expected a mapping`)
  return value as Entry
}

const text = (entry: Entry, key: string, field: string): string | undefined => {
  const value = entry[key]
  if (value === undefined || value === null || value === "") return undefined
  if (typeof value !== "string") return fail(`${field}.${key}: expected a string`)
  return value
}

/** The named entry of a list (`clusters`, `users`, `contexts`) in the first file that has it, as kubectl merges. */
const named = (sources: ReadonlyArray<Source>, list: string, name: string, inner: string) => {
  for (const { file, doc } of sources) {
    const items = doc[list]
    if (items === undefined || items === null) continue
    if (!Array.isArray(items)) return fail(`${list}: expected a list (${file})`)
    for (const item of items) {
      const entry = record(item, list)
      if (entry.name === name) return { file, entry: record(entry[inner], `${list}[${name}].${inner}`) }
    }
  }
  return fail(`${list}: no entry named "${name}"`)
}

/** A file path of the kubeconfig is relative to the file it is written in. */
const resolvePath = (file: string, path: string) => (isAbsolute(path) ? path : join(dirname(file), path))

/** Data from `<key>-data` (base64) or the file `<key>` names. */
const material = (file: string, entry: Entry, key: string, field: string): Buffer | undefined => {
  const data = text(entry, `${key}-data`, field)
  if (data !== undefined) return Buffer.from(data, "base64")
  const path = text(entry, key, field)
  return path === undefined ? undefined : readFileOr(resolvePath(file, path), `${field}.${key}`)
}

interface ExecCredential {
  readonly token: string
  readonly expiresAt: number
}

/** Runs an `exec` credential plugin and reads the token of its ExecCredential; kept until it expires. */
const execPlugin = (file: string, exec: Entry, field: string): (() => Promise<Record<string, string>>) => {
  const command = text(exec, "command", field) ?? fail(`${field}.command: required`)
  const args = exec.args ?? []
  if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) return fail(`${field}.args: expected strings`)
  const env: Record<string, string> = {}
  const envList = exec.env ?? []
  if (!Array.isArray(envList)) return fail(`${field}.env: expected a list`)
  for (const item of envList) {
    const variable = record(item, `${field}.env`)
    env[text(variable, "name", `${field}.env`) ?? fail(`${field}.env: name required`)] = String(variable.value ?? "")
  }
  const apiVersion = text(exec, "apiVersion", field) ?? "client.authentication.k8s.io/v1"
  const program = command.includes("/") ? resolvePath(file, command) : command
  let current: ExecCredential | undefined
  const run = () =>
    new Promise<ExecCredential>((resolve, reject) => {
      const info = { apiVersion, kind: "ExecCredential", spec: { interactive: false } }
      // the plugin runs with our whole environment plus its own variables, as kubectl runs it
      execFile(
        program,
        args as Array<string>,
        { env: { ...process.env, ...env, KUBERNETES_EXEC_INFO: JSON.stringify(info) }, timeout: 60_000 },
        (error, stdout, stderr) => {
          if (error)
            return reject(new KubeConfigError({ detail: `${field}: ${command} failed: ${stderr || error.message}` }))
          try {
            const status = record(record(JSON.parse(stdout), "ExecCredential").status, "ExecCredential.status")
            if (status.clientCertificateData !== undefined)
              return reject(
                new KubeConfigError({ detail: `${field}: client certificates from a plugin are not supported` })
              )
            const token =
              text(status, "token", "ExecCredential.status") ?? fail("ExecCredential.status.token: required")
            const expiry = text(status, "expirationTimestamp", "ExecCredential.status")
            resolve({ token, expiresAt: expiry === undefined ? Number.POSITIVE_INFINITY : Date.parse(expiry) })
          } catch (cause) {
            reject(
              cause instanceof KubeConfigError
                ? cause
                : new KubeConfigError({ detail: `${field}: ${command} printed no ExecCredential`, cause })
            )
          }
        }
      )
    })
  return async () => {
    if (current === undefined || Date.now() >= current.expiresAt - 10_000) current = await run()
    return { Authorization: `Bearer ${current.token}` }
  }
}

const userAuth = (file: string, user: Entry, field: string): (() => Promise<Record<string, string>>) => {
  if (user["auth-provider"] !== undefined) return fail(`${field}.auth-provider: not supported; use an exec plugin`)
  const token = text(user, "token", field)
  if (token !== undefined) return () => Promise.resolve({ Authorization: `Bearer ${token}` })
  const tokenFile = text(user, "tokenFile", field)
  if (tokenFile !== undefined) return tokenFromFile(resolvePath(file, tokenFile), `${field}.tokenFile`)
  if (user.exec !== undefined) return execPlugin(file, record(user.exec, `${field}.exec`), `${field}.exec`)
  const username = text(user, "username", field)
  if (username !== undefined) {
    const basic = Buffer.from(`${username}:${text(user, "password", field) ?? ""}`).toString("base64")
    return () => Promise.resolve({ Authorization: `Basic ${basic}` })
  }
  return () => Promise.resolve({})
}

/** The current context of one or more kubeconfig files (the first file that says wins, as kubectl merges). */
export const fromFiles = (files: ReadonlyArray<string>): KubeTarget => {
  const sources: Array<Source> = []
  for (const file of files) {
    let doc: unknown
    try {
      doc = parseYaml(readFileSync(file, "utf8"))
    } catch (cause) {
      fail(`kubeconfig ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
    }
    sources.push({ file, doc: record(doc, `kubeconfig ${file}`) })
  }
  const contextName =
    sources.map((s) => text(s.doc, "current-context", "kubeconfig")).find((c) => c !== undefined) ??
    fail(`current-context: not set in ${files.join(", ")}`)
  const context = named(sources, "contexts", contextName, "context").entry
  const clusterName =
    text(context, "cluster", `contexts[${contextName}]`) ?? fail(`contexts[${contextName}].cluster: required`)
  const cluster = named(sources, "clusters", clusterName, "cluster")
  const clusterField = `clusters[${clusterName}].cluster`
  if (cluster.entry["proxy-url"] !== undefined) fail(`${clusterField}.proxy-url: not supported`)
  const server = text(cluster.entry, "server", clusterField) ?? fail(`${clusterField}.server: required`)
  const userName = text(context, "user", `contexts[${contextName}]`)
  const user = userName === undefined ? undefined : named(sources, "users", userName, "user")
  const userField = `users[${userName}].user`
  const ca = material(cluster.file, cluster.entry, "certificate-authority", clusterField)
  const cert = user === undefined ? undefined : material(user.file, user.entry, "client-certificate", userField)
  const key = user === undefined ? undefined : material(user.file, user.entry, "client-key", userField)
  const servername = text(cluster.entry, "tls-server-name", clusterField)
  return {
    server,
    namespace: text(context, "namespace", `contexts[${contextName}]`) ?? "default",
    tls: {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(cluster.entry["insecure-skip-tls-verify"] === true ? { rejectUnauthorized: false } : {}),
      ...(servername === undefined ? {} : { servername })
    },
    authHeaders: user === undefined ? () => Promise.resolve({}) : userAuth(user.file, user.entry, userField)
  }
}

/**
 * An explicit kubeconfig path; else the service account when in a Pod and `KUBECONFIG` is unset; else `KUBECONFIG`
 * (a `:`-separated list) or `~/.kube/config`.
 */
export const load = (
  kubeconfigPath: string | undefined,
  accountDir: string = serviceAccountDir
): Effect.Effect<KubeTarget, KubeConfigError> =>
  Effect.flatMap(kubeEnv, (env) => loadWith(kubeconfigPath, env, accountDir))

/** The variables `load` reads, from the environment (the ConfigProvider); unset ones are absent. */
const kubeEnv: Effect.Effect<Readonly<Record<string, string>>> = Effect.orDie(
  Config.all(
    ["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HOME"].map((name) =>
      Config.map(Config.option(Config.string(name)), (value) => [name, value] as const)
    )
  )
).pipe(
  Effect.map((entries) =>
    Object.fromEntries(entries.flatMap(([name, value]) => (Option.isSome(value) ? [[name, value.value]] : [])))
  )
)

/**
 * The parse itself is synchronous and throws `KubeConfigError` from deep inside (`fail`); this `Effect.try` is its
 * one boundary (docs/architecture.md, "Errors and configuration").
 */
const loadWith = (
  kubeconfigPath: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  accountDir: string
): Effect.Effect<KubeTarget, KubeConfigError> =>
  Effect.try({
    try: () => {
      if (kubeconfigPath !== undefined && kubeconfigPath !== "") return fromFiles([kubeconfigPath])
      const listed = (env.KUBECONFIG ?? "").split(":").filter((p) => p !== "")
      if (listed.length === 0 && env.KUBERNETES_SERVICE_HOST !== undefined) return inCluster(env, accountDir)
      const files = (listed.length > 0 ? listed : [join(env.HOME ?? homedir(), ".kube", "config")]).filter(existsSync)
      if (files.length === 0)
        return fail(
          `no kubeconfig found (${listed.length > 0 ? `KUBECONFIG=${env.KUBECONFIG}` : "~/.kube/config"}) and not in a Pod`
        )
      return fromFiles(files)
    },
    catch: (cause) =>
      cause instanceof KubeConfigError
        ? new KubeConfigError({
            detail: `cannot load the Kubernetes configuration (in-cluster service account, or KUBECONFIG): ${cause.detail}`,
            cause
          })
        : new KubeConfigError({ detail: `cannot load the Kubernetes configuration: ${String(cause)}`, cause })
  })
