import https from "node:https"
import * as k8s from "@kubernetes/client-node"
import { afterAll, describe, expect, it } from "vitest"
import { requireEnv, uniqueName } from "./env.ts"

const env = requireEnv("KUBECONFIG", "THE0_TESTBED_NAMESPACE", "THE0_TESTBED_NODE", "THE0_POD_GATEWAY")
const namespace = env.THE0_TESTBED_NAMESPACE

const kc = new k8s.KubeConfig()
kc.loadFromFile(env.KUBECONFIG)
const core = kc.makeApiClient(k8s.CoreV1Api)
const batch = kc.makeApiClient(k8s.BatchV1Api)
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api)

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

/** GET a raw path of the API server with the kubeconfig's credentials. */
const getRaw = async (path: string): Promise<{ readonly status: number; readonly body: string }> => {
  const server = kc.getCurrentCluster()?.server
  if (server === undefined) throw new Error(`no current cluster in ${env.KUBECONFIG}`)
  const options: https.RequestOptions = {}
  await kc.applyToHTTPSOptions(options)
  return new Promise((resolve, reject) => {
    https
      .get(new URL(path, server), options, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }))
        res.on("error", reject)
      })
      .on("error", reject)
  })
}

/** The error a promise rejects with, or a failure when it resolves. */
const rejection = async (promise: Promise<unknown>): Promise<k8s.ApiException<unknown>> => {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error
  )
  if (!(outcome instanceof k8s.ApiException)) {
    throw new Error(`expected an ApiException, got ${outcome === undefined ? "success" : String(outcome)}`)
  }
  return outcome
}

const eventually = async <A>(what: string, timeoutMs: number, attempt: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await attempt().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

const container: k8s.V1Container = { name: "main", image: "busybox:1.36", command: ["true"] }

describe("testbed: Kubernetes control plane", () => {
  it("is ready, and is the version that was built", async () => {
    const readyz = await getRaw("/readyz?verbose")
    expect(readyz.status).toBe(200)
    expect(readyz.body).toContain("readyz check passed")
    expect(readyz.body).toContain("[+]etcd ok")
    const version = JSON.parse((await getRaw("/version")).body) as { gitVersion: string }
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+/)
  })

  it("rejects a Pod with an invalid label value with 422; the scheduler binds a valid one to the node", async () => {
    const error = await rejection(
      core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: uniqueName("invalid"), labels: { app: "not a valid value!" } },
          spec: { containers: [container] }
        }
      })
    )
    expect(error.code).toBe(422)
    expect(String(error.body)).toContain("metadata.labels")
    expect(String(error.body)).toContain("Invalid value")

    const name = uniqueName("pending")
    const created = await core.createNamespacedPod({
      namespace,
      body: { metadata: { name }, spec: { containers: [container] } }
    })
    expect(created.status?.phase).toBe("Pending")
    // The ServiceAccount admission plugin mounted a projected token, signed with the testbed's key.
    expect(created.spec?.serviceAccountName).toBe("default")
    expect(created.spec?.volumes?.some((volume) => volume.projected !== undefined)).toBe(true)
    const bound = await eventually("the Pod bound to the node", 30_000, async () => {
      const read = await core.readNamespacedPod({ namespace, name })
      return read.spec?.nodeName === env.THE0_TESTBED_NODE ? read : undefined
    })
    // no registry is reachable: the image cannot be pulled, so the Pod stays Pending on the node
    expect(bound.status?.phase).toBe("Pending")
    await core.deleteNamespacedPod({ namespace, name })
    await eventually("the Pod gone", 60_000, async () =>
      (await rejection(core.readNamespacedPod({ namespace, name }))).code === 404 ? true : undefined
    )
  })

  it("runs a Pod on its node: the locally built pause image, with an IP on the Pod network", async () => {
    const node = await core.readNode({ name: env.THE0_TESTBED_NODE })
    expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True")
    const name = uniqueName("runs")
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: { containers: [{ name: "main", image: "localhost/the0-testbed/pause:1", imagePullPolicy: "Never" }] }
      }
    })
    const running = await eventually("the Pod running", 60_000, async () => {
      const read = await core.readNamespacedPod({ namespace, name })
      return read.status?.phase === "Running" ? read : undefined
    })
    const gateway = env.THE0_POD_GATEWAY.split(".").slice(0, 2).join(".")
    expect(running.status?.podIP?.startsWith(`${gateway}.`)).toBe(true)
    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 })
  })

  it("runs a CronJob: kube-controller-manager creates its Job, and the Job's Pod", async () => {
    const name = uniqueName("cron")
    cleanups.push(() => batch.deleteNamespacedCronJob({ namespace, name, propagationPolicy: "Background" }))
    await batch.createNamespacedCronJob({
      namespace,
      body: {
        metadata: { name },
        spec: {
          schedule: "* * * * *",
          concurrencyPolicy: "Forbid",
          jobTemplate: {
            metadata: { labels: { "smoke-cronjob": name } },
            spec: { backoffLimit: 0, template: { spec: { restartPolicy: "Never", containers: [container] } } }
          }
        }
      }
    })
    // The schedule fires at the next minute boundary.
    const job = await eventually("the CronJob's Job", 90_000, async () => {
      const jobs = await batch.listNamespacedJob({ namespace, labelSelector: `smoke-cronjob=${name}` })
      return jobs.items.find((item) =>
        item.metadata?.ownerReferences?.some((owner) => owner.kind === "CronJob" && owner.name === name)
      )
    })
    const jobName = job.metadata?.name ?? ""
    expect(jobName.startsWith(`${name}-`)).toBe(true)
    const pod = await eventually("the Job's Pod", 30_000, async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` })
      return pods.items[0]
    })
    expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe("Job")
    expect(pod.status?.phase).toBe("Pending")
    const cronJob = await eventually("the CronJob's status", 10_000, async () => {
      const read = await batch.readNamespacedCronJob({ namespace, name })
      return read.status?.lastScheduleTime === undefined ? undefined : read
    })
    expect(cronJob.status?.active?.map((ref) => ref.name)).toContain(jobName)
  }, 150_000)

  it("lets a ServiceAccount do what its Role grants and denies it the rest", async () => {
    const name = uniqueName("reader")
    cleanups.push(
      () => core.deleteNamespacedServiceAccount({ namespace, name }),
      () => rbac.deleteNamespacedRole({ namespace, name }),
      () => rbac.deleteNamespacedRoleBinding({ namespace, name })
    )
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }] }
    })
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [{ kind: "ServiceAccount", name, namespace }]
      }
    })
    // A token from the TokenRequest API, signed with the API server's service-account key.
    const request = await core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: { spec: { audiences: ["https://kubernetes.default.svc.cluster.local"], expirationSeconds: 600 } }
    })
    const token = request.status?.token ?? ""
    expect(token.split(".")).toHaveLength(3)

    const cluster = kc.getCurrentCluster()
    if (cluster === null) throw new Error(`no current cluster in ${env.KUBECONFIG}`)
    const asServiceAccount = new k8s.KubeConfig()
    asServiceAccount.loadFromOptions({
      clusters: [cluster],
      users: [{ name, token }],
      contexts: [{ name, cluster: cluster.name, user: name, namespace }],
      currentContext: name
    })
    const saCore = asServiceAccount.makeApiClient(k8s.CoreV1Api)

    // Granted (once the authorizer's cache has the binding).
    const pods = await eventually("the RoleBinding to take effect", 15_000, () =>
      saCore.listNamespacedPod({ namespace })
    )
    expect(Array.isArray(pods.items)).toBe(true)
    // Not granted: another verb, another resource, another namespace.
    const denied = [
      await rejection(
        saCore.createNamespacedPod({ namespace, body: { metadata: { name }, spec: { containers: [container] } } })
      ),
      await rejection(saCore.listNamespacedSecret({ namespace })),
      await rejection(saCore.listNamespacedPod({ namespace: "default" }))
    ]
    expect(denied.map((error) => error.code)).toEqual([403, 403, 403])
    expect(String(denied[1]?.body)).toContain(`system:serviceaccount:${namespace}:${name}`)
    // An invalid token is not authenticated at all.
    const forged = new k8s.KubeConfig()
    forged.loadFromOptions({
      clusters: [cluster],
      users: [{ name, token: `${token.slice(0, -4)}AAAA` }],
      contexts: [{ name, cluster: cluster.name, user: name, namespace }],
      currentContext: name
    })
    expect((await rejection(forged.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace }))).code).toBe(401)
  })
})
