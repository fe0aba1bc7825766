/**
 * What the tests of bots on the testbed's node share: the runtime image, the bot documents and their code in MinIO,
 * the stored state, and what "running" means for a bot Pod (every container ready, no restart, no OOM kill).
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api, type V1Pod } from "@kubernetes/client-node"
import { Effect } from "effect"
import * as Minio from "minio"
import { Bucket, stateKey } from "../../../src/domain/Buckets.ts"
import * as ControllerSettings from "../../../src/programs/controller/ControllerSettings.ts"
import { zipDirectory } from "../../programs/runtime/support/Zip.ts"
import { env, kubeConfig, podsOf, until } from "../controller/Harness.ts"
import { createObject } from "../deploy/Chart.ts"
import { pythonSdkBundle } from "../runtime/support/PythonSdkBundle.ts"
import { readAll, storedStateIn } from "../runtime/support/StoredState.ts"
import { requireEnv } from "../testbed/env.ts"

export const { THE0_RUNTIME_IMAGE: image } = requireEnv("THE0_RUNTIME_IMAGE")
const [host = "", port = "9000"] = env.MINIO_ENDPOINT.split(":")
export const s3 = new Minio.Client({
  endPoint: host,
  port: Number(port),
  useSSL: false,
  accessKey: env.MINIO_ACCESS_KEY,
  secretKey: env.MINIO_SECRET_KEY
})
const repo = new URL("../../..", import.meta.url).pathname

/** Manifest settings that run bot Pods from the runtime image the node already has. */
export const manifestOn = (namespace: string) => ({
  ...ControllerSettings.defaults.manifest,
  namespace,
  minioEndpoint: env.MINIO_ENDPOINT,
  runtimeImage: image,
  imagePullPolicy: "Never" as const
})

/** A bot as the0's API publishes it: the document's `config` and `custom` (docs/contracts.md, "Event payloads"). */
const botEvent = (
  id: string,
  bot: { type: string; runtime: string; name: string; entrypoints: Record<string, string>; filePath: string },
  config: Record<string, unknown>
) =>
  JSON.stringify({
    id,
    config: { name: `bot-${id}`, type: bot.type, version: "1.0.0", ...config },
    custom: {
      config: { name: bot.name, runtime: bot.runtime, type: bot.type, version: "1.0.0", entrypoints: bot.entrypoints },
      filePath: bot.filePath,
      version: "1.0.0"
    }
  })

/** The realtime Node fixture bot (test/fixtures/bots/node-bot) with `config`; `enabled: false` disables it. */
export const nodeBot = (id: string, config: Record<string, unknown>, enabled = true) =>
  botEvent(
    id,
    {
      type: "realtime",
      runtime: "nodejs20",
      name: "node-fixture-bot",
      entrypoints: { bot: "main.js", query: "query.js" },
      filePath: `e2e/node-bot/${id}.zip`
    },
    { enabled, ...config }
  )

export const uploadCode = (id: string) =>
  Effect.promise(async () => {
    if (!(await s3.bucketExists(Bucket.code))) await s3.makeBucket(Bucket.code)
    await s3.putObject(
      Bucket.code,
      `e2e/node-bot/${id}.zip`,
      Buffer.from(zipDirectory(`${repo}test/fixtures/bots/node-bot`))
    )
  })

/** A scheduled Python bot on the0's SDK (`the0-sdk` from PyPI, vendored as the0's CLI packs bots), every minute. */
export const pythonSchedule = (id: string) =>
  botEvent(
    id,
    {
      type: "scheduled",
      runtime: "python3.11",
      name: "python-fixture-bot",
      entrypoints: { bot: "main.py", query: "query.py" },
      filePath: `e2e/python-sdk/${id}.zip`
    },
    { schedule: "* * * * *", symbol: "BTC/USD" }
  )

export const uploadPythonCode = (id: string) =>
  Effect.promise(async () => {
    const bundle = mkdtempSync(path.join(tmpdir(), "the0-e2e-py-"))
    pythonSdkBundle(bundle)
    if (!(await s3.bucketExists(Bucket.code))) await s3.makeBucket(Bucket.code)
    await s3.putObject(Bucket.code, `e2e/python-sdk/${id}.zip`, Buffer.from(zipDirectory(bundle)))
    rmSync(bundle, { recursive: true, force: true })
  })

/** The query results stored for a bot (none once its one-shot queries are answered and cleaned). */
export const queryResults = (id: string) =>
  Effect.promise(async () => {
    if (!(await s3.bucketExists(Bucket.queryResults))) return []
    const names: Array<string> = []
    for await (const item of s3.listObjectsV2(Bucket.queryResults, `${id}/`, true))
      names.push((item as { name: string }).name)
    return names
  })

/** Everything the bot's daily log objects in MinIO hold, in key order. */
export const storedLogText = (id: string) =>
  Effect.promise(async () => {
    const keys: Array<string> = []
    for await (const item of s3.listObjectsV2(Bucket.logs, `logs/${id}/`, true))
      keys.push((item as { name: string }).name)
    const bodies = await Promise.all(keys.sort().map((key) => s3.getObject(Bucket.logs, key).then(readAll)))
    return bodies.map((body) => body.toString("utf8")).join("")
  })

export const storedState = (id: string) => Effect.promise(() => storedStateIn(s3, Bucket.state, stateKey(id)))

/** The `restore` init container ended with 0, and the other three (the sync sidecar included) are ready. */
export const allReady = (pod: V1Pod) => {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
  const restore = statuses.find((c) => c.name === "restore")
  const running = statuses.filter((c) => c.name !== "restore")
  return (
    pod.status?.phase === "Running" &&
    restore?.state?.terminated?.exitCode === 0 &&
    running.length === 3 &&
    running.every((c) => c.ready)
  )
}

/** The live (not terminating) Pod of a bot, once it runs with every container ready. */
export const runningPod = (ns: string, id: string, millis = 90_000) =>
  until(
    Effect.flatMap(podsOf(ns), (pods) => {
      const pod = pods.find((p) => p.metadata?.name === `bot-${id}` && p.metadata.deletionTimestamp === undefined)
      return pod !== undefined && allReady(pod) ? Effect.succeed(pod) : Effect.fail(pod?.status)
    }),
    millis
  )

export const percentile = (values: ReadonlyArray<number>, p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? Number.NaN

/** The peak memory the kernel charged to a container (cgroup v1; the kubelet names its group by container id), MiB. */
export const peakMiB = (containerId: string) => {
  const [dir] = execFileSync("find", ["/sys/fs/cgroup/memory/the0-testbed", "-type", "d", "-name", containerId])
    .toString()
    .split("\n")
  return dir ? Number(readFileSync(`${dir}/memory.max_usage_in_bytes`, "utf8")) / 1024 / 1024 : Number.NaN
}

/** Restarts and OOM kills of a Pod's containers: none is allowed. */
export const incidents = (pod: V1Pod) =>
  [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    .filter((c) => c.restartCount > 0 || c.lastState?.terminated?.reason === "OOMKilled")
    .map((c) => `${c.name}: ${c.restartCount} restarts, last ${c.lastState?.terminated?.reason ?? "-"}`)

/** The Secret the0's Helm chart makes for a release named `the0`: MongoDB and MinIO credentials. */
export const the0Secrets = (namespace: string) =>
  Effect.promise(() =>
    kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: "the0-secrets" },
          stringData: {
            "mongo-url": env.MONGO_URI,
            "minio-access-key": env.MINIO_ACCESS_KEY,
            "minio-secret-key": env.MINIO_SECRET_KEY
          }
        }
      })
  )

/**
 * Creates `docs` (ServiceAccounts, Roles, RoleBindings, Deployments, Services, PodDisruptionBudgets, NetworkPolicies)
 * in `namespace`, in order.
 */
export const apply = (namespace: string, docs: ReadonlyArray<{ readonly kind: string }>) =>
  Effect.promise(async () => {
    const kc = kubeConfig()
    const core = kc.makeApiClient(CoreV1Api)
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
    const apps = kc.makeApiClient(AppsV1Api)
    for (const doc of docs) {
      const body = doc as never
      if (doc.kind === "ServiceAccount") await core.createNamespacedServiceAccount({ namespace, body })
      else if (doc.kind === "Role") await rbac.createNamespacedRole({ namespace, body })
      else if (doc.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace, body })
      else if (doc.kind === "Deployment") await apps.createNamespacedDeployment({ namespace, body })
      else if (doc.kind === "Service") await core.createNamespacedService({ namespace, body })
      // sent as JSON as it is: the typed clients drop a NetworkPolicy's ingress[].from
      else if (doc.kind === "PodDisruptionBudget" || doc.kind === "NetworkPolicy")
        await createObject(kc, namespace, body)
      else throw new Error(`apply: no client for ${doc.kind}`)
    }
  })
