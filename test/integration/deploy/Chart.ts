/**
 * What the deploy tests share: `helm template` of the chart deploy/helm/the0-runtime (with the helm the testbed
 * builds), creating objects on the real API server, the Role's SubjectAccessReview checks, label selectors as the
 * API server's query strings, IPv4 CIDR arithmetic, and the bot Pods as the controller generates them
 * (`the0-runtime render`, with the chart's own flags).
 */
import { execFile } from "node:child_process"
import * as https from "node:https"
import { promisify } from "node:util"
import {
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1Deployment,
  type V1Pod,
  type V1PodSpec
} from "@kubernetes/client-node"
import { expect } from "vitest"
import { parseAllDocuments } from "yaml"
import { apiDocument } from "../controller/Harness.ts"

export const CHART = "deploy/helm/the0-runtime"

/** A rendered object: what the tests read of it. */
export type Obj = KubernetesObject & {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
  // biome-ignore lint/suspicious/noExplicitAny: rendered YAML, read field by field by the tests
  spec?: any
}

const run = promisify(execFile)

/** `helm template RELEASE deploy/helm/the0-runtime --namespace NAMESPACE ARGS...`, parsed. */
export const helmTemplate = async (
  helm: string,
  release: string,
  namespace: string,
  args: ReadonlyArray<string> = []
): Promise<Array<Obj>> => {
  const { stdout } = await run(helm, ["template", release, CHART, "--namespace", namespace, ...args], {
    maxBuffer: 16 * 1024 * 1024
  })
  return parseAllDocuments(stdout)
    .map((d) => d.toJSON() as Obj | null)
    .filter((d): d is Obj => d !== null)
}

/** The one object of `kind` (and `name`, when given) among `objects`; fails the test when there is not exactly one. */
export const one = (objects: ReadonlyArray<Obj>, kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  expect(
    found.map((o) => `${o.kind}/${o.metadata.name}`),
    `exactly one ${kind}${name === undefined ? "" : ` ${name}`}`
  ).toHaveLength(1)
  return found[0] as Obj
}

/** The resource of each kind the tests create. */
const resources: Record<string, string> = {
  Pod: "pods",
  Service: "services",
  ServiceAccount: "serviceaccounts",
  Role: "roles",
  RoleBinding: "rolebindings",
  Deployment: "deployments",
  PodDisruptionBudget: "poddisruptionbudgets",
  NetworkPolicy: "networkpolicies"
}

/** One request to the API server with the kubeconfig's credentials; the body is sent as it is. */
const request = async (kc: KubeConfig, method: string, path: string, body?: string) => {
  const url = new URL(path, kc.getCurrentCluster()?.server)
  const options: https.RequestOptions = {
    method,
    hostname: url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
    headers: { "content-type": "application/json", accept: "application/json" }
  }
  await kc.applyToHTTPSOptions(options)
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(options, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        text += chunk
      })
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on("error", reject)
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)))
    if (body !== undefined) req.write(body)
    req.end()
  })
}

/**
 * Creates `object` in `namespace` (whatever its own metadata says; server-side dry run when `dryRun`) and returns
 * what the API server stored. The JSON goes out as it is: @kubernetes/client-node's typed clients (and its
 * KubernetesObjectApi) serialize through their models, which silently drop a NetworkPolicy's `ingress[].from`.
 */
export const createObject = async (kc: KubeConfig, namespace: string, object: Obj, dryRun = false): Promise<Obj> => {
  const resource = resources[object.kind]
  if (resource === undefined) throw new Error(`createObject: no resource for kind ${object.kind}`)
  const prefix = object.apiVersion.includes("/") ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`
  const path = `${prefix}/namespaces/${namespace}/${resource}${dryRun ? "?dryRun=All" : ""}`
  const body = JSON.stringify({ ...object, metadata: { ...object.metadata, namespace } })
  const { status, text } = await request(kc, "POST", path, body)
  if (status < 200 || status > 299)
    throw new Error(
      `the API server refused ${object.kind} ${object.metadata.name}${dryRun ? " (dry run)" : ""}: ${status} ${text}`
    )
  return JSON.parse(text) as Obj
}

/** Creates `objects` in `namespace`, in order (server-side dry run when `dryRun`). */
export const createAll = async (
  kc: KubeConfig,
  namespace: string,
  objects: ReadonlyArray<Obj>,
  dryRun: boolean
): Promise<void> => {
  for (const object of objects) await createObject(kc, namespace, object, dryRun)
}

export const createNamespace = async (kc: KubeConfig, name: string): Promise<void> => {
  const core = kc.makeApiClient(CoreV1Api)
  await core.createNamespace({ body: { metadata: { name } } })
  // Pods without a serviceAccountName need the namespace's `default` ServiceAccount, which
  // kube-controller-manager makes
  const deadline = Date.now() + 60_000
  for (;;) {
    const found = await core.readNamespacedServiceAccount({ name: "default", namespace: name }).then(
      () => true,
      () => false
    )
    if (found) return
    if (Date.now() > deadline) throw new Error(`namespace ${name}: no ServiceAccount default after 60 s`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

export const deleteNamespace = (kc: KubeConfig, name: string): Promise<unknown> =>
  kc
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch(() => undefined)

type Access = [verb: string, resource: string, group: string, extra?: { subresource?: string; name?: string }]

/** What the controller calls on the API server (src/programs/controller, src/programs/query). */
export const controllerNeeds: ReadonlyArray<Access> = [
  ["get", "pods", ""], // its own Pod, for the Secret its MinIO credentials come from
  ["list", "pods", ""],
  ["watch", "pods", ""],
  ["create", "pods", ""],
  ["delete", "pods", ""],
  ["get", "pods", "", { subresource: "log" }],
  ["list", "cronjobs", "batch"],
  ["watch", "cronjobs", "batch"],
  ["create", "cronjobs", "batch"],
  ["update", "cronjobs", "batch"],
  ["delete", "cronjobs", "batch"],
  ["create", "jobs", "batch"],
  ["get", "jobs", "batch"],
  ["watch", "jobs", "batch"],
  ["delete", "jobs", "batch"],
  ["get", "leases", "coordination.k8s.io"],
  ["create", "leases", "coordination.k8s.io"],
  ["update", "leases", "coordination.k8s.io"],
  ["create", "events", "events.k8s.io"],
  ["patch", "events", "events.k8s.io"]
]

/**
 * What it must not have: nothing on Secrets (bot Pods are pointed at the0's Secret by name, so the controller never
 * writes one of its own), no Pod updates or exec, no ConfigMaps, no Lease deletion; on Events only create and patch
 * of events.k8s.io ones (no reads, updates or deletions, nothing on the core group's events).
 */
export const controllerMustNotHave: ReadonlyArray<Access> = [
  ["get", "secrets", "", { name: "the0-secrets" }],
  ["list", "secrets", ""],
  ["create", "secrets", ""],
  ["get", "secrets", "", { name: "the0-runtime-minio" }],
  ["update", "secrets", "", { name: "the0-runtime-minio" }],
  ["update", "pods", ""],
  ["patch", "pods", ""],
  ["list", "configmaps", ""],
  ["create", "pods", "", { subresource: "exec" }],
  ["delete", "leases", "coordination.k8s.io"],
  ["create", "deployments", "apps"],
  ["get", "events", "events.k8s.io"],
  ["list", "events", "events.k8s.io"],
  ["update", "events", "events.k8s.io"],
  ["delete", "events", "events.k8s.io"],
  ["create", "events", ""],
  ["patch", "events", ""]
]

/** Asks the API server, with SubjectAccessReviews, what `serviceAccount` may do in `namespace`, and checks it. */
export const expectControllerAccess = async (
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string
): Promise<void> => {
  const authz = kc.makeApiClient(AuthorizationV1Api)
  const allowed = async ([verb, resource, group, extra]: Access) =>
    (
      await authz.createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${namespace}:${serviceAccount}`,
            groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
            resourceAttributes: { namespace, verb, group, resource, ...extra }
          }
        }
      })
    ).status?.allowed === true
  const label = ([verb, resource, group, extra]: Access) =>
    `${verb} ${group}/${resource}${extra?.subresource ? `/${extra.subresource}` : ""}${extra?.name ? ` ${extra.name}` : ""}`
  for (const access of controllerNeeds) expect(await allowed(access), `allowed: ${label(access)}`).toBe(true)
  for (const access of controllerMustNotHave) expect(await allowed(access), `refused: ${label(access)}`).toBe(false)
}

/** A label selector (as in the objects' JSON). */
export type Selector = {
  matchLabels?: Record<string, string>
  matchExpressions?: Array<{ key: string; operator: string; values?: Array<string> }>
}

/** A label selector as the API server's `labelSelector` query parameter. */
export const selectorString = (selector: Selector): string => {
  const terms = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`)
  for (const e of selector.matchExpressions ?? []) {
    const values = (e.values ?? []).join(",")
    if (e.operator === "In") terms.push(`${e.key} in (${values})`)
    else if (e.operator === "NotIn") terms.push(`${e.key} notin (${values})`)
    else if (e.operator === "Exists") terms.push(e.key)
    else if (e.operator === "DoesNotExist") terms.push(`!${e.key}`)
    else throw new Error(`selector operator ${e.operator}`)
  }
  return terms.join(",")
}

/** The names of the Pods in `namespace` that the API server finds with `selector`, sorted. */
export const selectedPods = async (kc: KubeConfig, namespace: string, selector: Selector) =>
  (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: selectorString(selector) })).items
    .map((p) => p.metadata?.name ?? "")
    .sort()

/** The names of the namespaces the API server finds with `selector`. */
export const selectedNamespaces = async (kc: KubeConfig, selector: Selector) =>
  (await kc.makeApiClient(CoreV1Api).listNamespace({ labelSelector: selectorString(selector) })).items.map(
    (n) => n.metadata?.name ?? ""
  )

const ipv4 = (ip: string): number => {
  const parts = ip.split(".").map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(ip)
  return parts.reduce((n, p) => n * 256 + p, 0)
}

/** Whether IPv4 address `ip` is in `cidr` (false for an IPv6 `cidr`). */
export const inCidr = (ip: string, cidr: string): boolean => {
  const [base, bits] = cidr.split("/")
  if (base === undefined || base.includes(":")) return false
  const size = 2 ** (32 - Number(bits ?? 32))
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size)
}

/** A Pod that no scheduler ever binds (so it never runs) with `labels`, and a spec of its own or a minimal one. */
export const NEVER_SCHEDULED = "the0-test-never-scheduled"
export const parkedPod = (name: string, labels: Record<string, string>, spec?: object): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels },
  spec: {
    ...((spec as V1PodSpec | undefined) ?? {
      automountServiceAccountToken: false,
      containers: [{ name: "c", image: "registry.invalid/none:1" }]
    }),
    schedulerName: NEVER_SCHEDULED
  }
})

/** The Deployment's Pods parked: same template, never scheduled (for a PDB's or a selector's real count). */
export const parkedDeployment = (deployment: Obj): V1Deployment => {
  const d = structuredClone(deployment) as unknown as V1Deployment
  if (d.spec?.template.spec !== undefined) d.spec.template.spec.schedulerName = NEVER_SCHEDULED
  return d
}

/** A bot document in the Mongo shape the0's API writes. */
export const botDocument = (id: string) => apiDocument(id)

/** The flags of the chart's controller that `the0-runtime render` takes too (the manifest settings). */
const manifestFlags = [
  "--namespace=",
  "--runtime-image=",
  "--runtime-image-pull-policy=",
  "--minio-endpoint=",
  "--minio-secret-name=",
  "--minio-secret-access-key-key=",
  "--minio-secret-secret-key-key="
]

/** `the0-runtime render TARGET` of `doc` with the manifest flags of the chart's Deployment: what the controller makes. */
export const renderWithChartFlags = async (deployment: Obj, target: string, doc: unknown): Promise<Obj> => {
  const args: ReadonlyArray<string> = deployment.spec.template.spec.containers[0].args
  const flags = args.filter((a) => manifestFlags.some((f) => a.startsWith(f)))
  expect(flags.length, `manifest flags among ${args.join(" ")}`).toBe(manifestFlags.length)
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(
      "./bin/the0-runtime",
      ["render", target, "--format", "json", ...flags],
      { timeout: 60_000 },
      (error, out, stderr) => (error === null ? resolve(out) : reject(new Error(`render ${target}: ${stderr}`)))
    )
    child.stdin?.end(JSON.stringify(doc))
  })
  return JSON.parse(stdout) as Obj
}
