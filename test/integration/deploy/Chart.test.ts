/**
 * The Helm chart deploy/helm/the0-runtime, rendered by `helm template` (the helm the testbed builds) and put to the
 * real API server: every object of a default and a non-default rendering is accepted (server-side dry run), the
 * ServiceMonitor is rendered only when enabled, the Role grants what the controller calls and nothing more
 * (SubjectAccessReviews), the PodDisruptionBudget covers the Deployment's Pods (the disruption controller counts
 * them), and the NetworkPolicy's selectors pick the bot Pods as the controller generates them (`the0-runtime render`
 * with the chart's flags) and the peers it means, which the API server's own label selection confirms.
 */
import { execFile } from "node:child_process"
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { CoreV1Api, KubeConfig, PolicyV1Api } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { Label, ManagedBy } from "../../../src/domain/Labels.ts"
import { requireEnv, uniqueName } from "../testbed/env.ts"
import {
  botDocument,
  CHART,
  createAll,
  createNamespace,
  createObject,
  deleteNamespace,
  expectControllerAccess,
  helmTemplate,
  inCidr,
  type Obj,
  one,
  parkedDeployment,
  parkedPod,
  renderWithChartFlags,
  type Selector,
  selectedNamespaces,
  selectedPods
} from "./Chart.ts"

const env = requireEnv("KUBECONFIG", "THE0_HELM", "MINIO_ENDPOINT")

const kubeConfig = (): KubeConfig => {
  const kc = new KubeConfig()
  kc.loadFromFile(env.KUBECONFIG)
  return kc
}

/** Runs `body` in a namespace of its own, deleted afterwards. */
const inNamespace = async (prefix: string, body: (namespace: string, kc: KubeConfig) => Promise<void>) => {
  const kc = kubeConfig()
  const namespace = uniqueName(prefix)
  await createNamespace(kc, namespace)
  try {
    await body(namespace, kc)
  } finally {
    await deleteNamespace(kc, namespace)
  }
}

const template = (namespace: string, values?: object, release = "the0-runtime") => {
  const args: Array<string> = []
  if (values !== undefined) {
    const file = join(tmpdir(), `${uniqueName("values")}.yaml`)
    writeFileSync(file, stringify(values))
    args.push("--values", file)
  }
  return helmTemplate(env.THE0_HELM, release, namespace, args)
}

const controllerContainer = (deployment: Obj) => deployment.spec.template.spec.containers[0]

/** Values an operator of the0 would change, with the ServiceMonitor off; release "prod" of both charts. */
const otherValues = {
  the0: { release: "prod" },
  global: { imagePullPolicy: "Always", existingSecret: "prod-runtime-secrets" },
  botController: {
    replicas: 3,
    image: { repository: "registry.example.com/the0/runtime-ts", tag: "1.2.3" },
    reconcileInterval: "1m",
    runtimeImage: "registry.example.com/the0/runtime-ts:1.2.3-bots",
    runtimeImagePullPolicy: "Never",
    minio: { endpoint: env.MINIO_ENDPOINT, useSSL: true, bucket: "other-bucket" },
    env: [{ name: "QUERY_MAX_JOBS_IN_FLIGHT", value: "16" }],
    extraArgs: ["--workers=8"],
    leaderElection: { leaseName: "prod-lease", leaseDuration: "20s", renewDeadline: "15s", retryPeriod: "3s" },
    healthPort: 18080,
    queryPort: 19477,
    resources: { requests: { cpu: "200m", memory: "300Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    nodeSelector: { "kubernetes.io/os": "linux" },
    podDisruptionBudget: { minAvailable: 2 }
  },
  metrics: { podAnnotations: false, serviceMonitor: { enabled: false } },
  networkPolicy: {
    egress: {
      // the testbed's MinIO and NATS listen on the Pod network's gateway, outside the cluster
      minio: { to: [{ ipBlock: { cidr: "10.88.0.1/32" } }], ports: [{ port: 19000, protocol: "TCP" }] },
      nats: { to: [{ ipBlock: { cidr: "10.88.0.1/32" } }], ports: [{ port: 14222, protocol: "TCP" }] },
      internet: { clusterCIDRs: ["203.0.113.0/24"], ports: [{ port: 443, protocol: "TCP" }] },
      extra: [{ to: [{ ipBlock: { cidr: "::/0", except: ["fc00::/7", "fe80::/10"] } }] }]
    }
  }
}

// ---- NetworkPolicy evaluation -------------------------------------------------------------------------------

type Peer = { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: { cidr: string; except?: Array<string> } }
type PolicyPort = { port?: number | string; protocol?: string }
/** A NetworkPolicy as the API server stores it. */
type Policy = {
  spec: {
    podSelector: Selector
    policyTypes?: Array<string>
    ingress?: Array<{ from?: Array<Peer>; ports?: Array<PolicyPort> }>
    egress?: Array<{ to?: Array<Peer>; ports?: Array<PolicyPort> }>
  }
}
type Pod = { name: string; namespace: string; labels: Record<string, string>; ip: string }
type Destination = { pod?: Pod; ip: string; port: number; protocol: "TCP" | "UDP" }

const matches = (selector: Selector | undefined, labels: Record<string, string>): boolean => {
  if (selector === undefined) return true
  const labelsOk = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v)
  const expressionsOk = (selector.matchExpressions ?? []).every((e) => {
    const value = labels[e.key]
    if (e.operator === "In") return value !== undefined && (e.values ?? []).includes(value)
    if (e.operator === "NotIn") return value === undefined || !(e.values ?? []).includes(value)
    if (e.operator === "Exists") return value !== undefined
    if (e.operator === "DoesNotExist") return value === undefined
    throw new Error(`operator ${e.operator}`)
  })
  return labelsOk && expressionsOk
}

/** Whether `peer` (of a policy in `policyNamespace`) covers `pod` or, for an ipBlock, the address `ip`. */
const peerCovers = (peer: Peer, policyNamespace: string, pod: Pod | undefined, ip: string) => {
  if (peer.ipBlock !== undefined)
    return inCidr(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(ip, c))
  if (pod === undefined) return false
  const namespaceOk =
    peer.namespaceSelector === undefined
      ? pod.namespace === policyNamespace
      : matches(peer.namespaceSelector, { "kubernetes.io/metadata.name": pod.namespace })
  return namespaceOk && matches(peer.podSelector, pod.labels)
}

const portCovers = (ports: ReadonlyArray<PolicyPort> | undefined, port: number, protocol: string) =>
  ports === undefined ||
  ports.length === 0 ||
  ports.some((p) => (p.protocol ?? "TCP") === protocol && (p.port === undefined || p.port === port))

/** Whether the policy lets a bot Pod connect to `to`. */
const egressAllows = (policy: Policy, namespace: string, to: Destination) =>
  (policy.spec.egress ?? []).some(
    (rule) =>
      portCovers(rule.ports, to.port, to.protocol) &&
      (rule.to === undefined || rule.to.some((peer) => peerCovers(peer, namespace, to.pod, to.ip)))
  )

/** Whether the policy lets `from` connect to a bot Pod's `port`. */
const ingressAllows = (policy: Policy, namespace: string, from: Pod, port: number) =>
  (policy.spec.ingress ?? []).some(
    (rule) =>
      portCovers(rule.ports, port, "TCP") &&
      (rule.from === undefined || rule.from.some((peer) => peerCovers(peer, namespace, from, from.ip)))
  )

/** the0's own Pods, labelled as the0's chart labels them (release `release`). */
const the0Pod = (release: string, component: string) => ({
  name: `the0-${component}`,
  labels: {
    "app.kubernetes.io/name": "the0",
    "app.kubernetes.io/instance": release,
    "app.kubernetes.io/component": component
  }
})

/**
 * The rendering's NetworkPolicy on the API server, with bot Pods made by `the0-runtime render` from the chart's
 * flags, the controller's Pods, the0's Pods and a stranger, all parked (never scheduled). Returns the stored policy,
 * the Pods (with a made-up Pod IP) and the names the API server selects with each of the policy's selectors.
 */
const networkPolicyWorld = async (kc: KubeConfig, namespace: string, objects: ReadonlyArray<Obj>, release: string) => {
  const deployment = one(objects, "Deployment")
  const id = uniqueName("np").replace(/[^a-z0-9-]/g, "")
  const doc = botDocument(id)
  const [botPod, cronJob, queryJob] = await Promise.all([
    renderWithChartFlags(deployment, "pod", doc),
    renderWithChartFlags(deployment, "cronjob", { ...doc, config: { ...doc.config, schedule: "0 9 * * 1-5" } }),
    renderWithChartFlags(deployment, "query-job", doc)
  ])
  // bot Pods read the MinIO credentials from the Secret the chart names
  const secretOf = (pod: Obj) =>
    new Set(
      [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap(
        (c: { env?: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string } } }> }) =>
          (c.env ?? [])
            .filter((e) => e.name === "MINIO_ACCESS_KEY")
            .map((e) => e.valueFrom?.secretKeyRef?.name ?? "literal")
      )
    )
  const secret = (deployment.spec.template.spec.containers[0].args as Array<string>)
    .find((a) => a.startsWith("--minio-secret-name="))
    ?.split("=")[1]
  expect([...secretOf(botPod)]).toEqual([secret])

  const podLabels = deployment.spec.template.metadata.labels as Record<string, string>
  const the0Release = release === "prod" ? "prod" : "the0"
  const scheduledRun = cronJob.spec.jobTemplate.spec.template
  const queryRun = queryJob.spec.template
  const pods: Array<{ name: string; labels: Record<string, string>; spec?: object }> = [
    { name: "bot", labels: botPod.metadata.labels ?? {}, spec: botPod.spec },
    { name: "schedule-run", labels: scheduledRun.metadata.labels, spec: scheduledRun.spec },
    { name: "query-run", labels: queryRun.metadata.labels, spec: queryRun.spec },
    { name: "controller-a", labels: podLabels },
    { name: "controller-b", labels: podLabels },
    // the controller of another release of this chart
    { name: "other-controller", labels: { ...podLabels, "app.kubernetes.io/instance": "other" } },
    ...["minio", "nats", "mongo", "api", "frontend"].map((c) => the0Pod(the0Release, c)),
    { name: "stranger", labels: { app: "stranger", [Label.botId]: id } }
  ]
  await createAll(
    kc,
    namespace,
    pods.map((p) => parkedPod(p.name, p.labels, p.spec) as unknown as Obj),
    false
  )
  // as the API server stores it (defaults filled in)
  const stored = (await createObject(kc, namespace, one(objects, "NetworkPolicy"))) as unknown as Policy
  const world: Array<Pod> = pods.map((p, i) => ({ name: p.name, namespace, labels: p.labels, ip: `10.88.1.${i + 10}` }))
  return { policy: stored, pods: world, byName: (name: string) => world.find((p) => p.name === name) as Pod }
}

/** The peers of the egress rules that name `port`. */
const egressPeersFor = (policy: Policy, port: number) =>
  (policy.spec.egress ?? []).filter((r) => r.ports?.some((p) => p.port === port)).flatMap((r) => r.to ?? [])

describe("the Helm chart deploy/helm/the0-runtime", () => {
  it("passes helm lint --strict", async () => {
    const { stdout } = await promisify(execFile)(env.THE0_HELM, ["lint", "--strict", CHART])
    expect(stdout).toContain("1 chart(s) linted, 0 chart(s) failed")
  })

  it("with default values: the controller's objects, no ServiceMonitor, all accepted by the API server (dry run)", async () => {
    await inNamespace("chart-default", async (namespace, kc) => {
      const objects = await template(namespace)
      expect(objects.map((o) => o.kind).sort()).toEqual([
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount"
      ])
      expect(objects.every((o) => o.metadata.namespace === namespace)).toBe(true)
      expect(objects.some((o) => o.apiVersion.startsWith("monitoring.coreos.com"))).toBe(false)

      const deployment = one(objects, "Deployment", "the0-runtime-controller")
      const pod = deployment.spec.template
      const container = controllerContainer(deployment)
      expect(deployment.spec.replicas).toBe(2)
      expect(container.image).toBe("ghcr.io/the0/runtime-ts:latest")
      expect(container.command).toEqual(["/app/runtime", "controller"])
      expect(container.args).toEqual(
        expect.arrayContaining([
          `--namespace=${namespace}`,
          "--reconcile-interval=30s",
          "--minio-endpoint=the0-minio:9000",
          "--runtime-image=ghcr.io/the0/runtime-ts:latest",
          "--runtime-image-pull-policy=IfNotPresent",
          "--minio-secret-name=the0-secrets",
          "--lease-name=the0-runtime-controller",
          "--lease-duration=15s",
          "--renew-deadline=10s",
          "--retry-period=2s",
          "--health-port=8080",
          "--query-port=9477"
        ])
      )
      const envOf = (name: string) => container.env.find((e: { name: string }) => e.name === name)
      expect(envOf("POD_NAME").valueFrom.fieldRef.fieldPath).toBe("metadata.name")
      for (const [name, key] of [
        ["MONGO_URI", "mongo-url"],
        ["MINIO_ACCESS_KEY", "minio-access-key"],
        ["MINIO_SECRET_KEY", "minio-secret-key"]
      ] as const)
        expect(envOf(name).valueFrom.secretKeyRef).toEqual({ name: "the0-secrets", key })
      expect(envOf("NATS_URL").value).toBe("nats://the0-nats:4222")
      // liveness on /healthz, readiness on /readyz, both on the health port, where /metrics is too
      expect(container.ports).toContainEqual({ name: "health", containerPort: 8080, protocol: "TCP" })
      expect(container.ports).toContainEqual({ name: "query", containerPort: 9477, protocol: "TCP" })
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "health" })
      expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "health" })
      expect(pod.metadata.annotations).toEqual({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics"
      })
      // hardened
      expect(pod.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        seccompProfile: { type: "RuntimeDefault" }
      })
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" }
      })
      expect(container.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }])
      expect(pod.spec.volumes).toEqual([{ name: "tmp", emptyDir: expect.any(Object) }])
      expect(pod.spec.serviceAccountName).toBe(one(objects, "ServiceAccount").metadata.name)

      // the Service the0's API calls
      const service = one(objects, "Service", "the0-bot-controller")
      expect(service.spec.selector).toEqual(pod.metadata.labels)
      expect(service.spec.ports).toEqual([{ name: "query", port: 9477, targetPort: "query", protocol: "TCP" }])

      await createAll(kc, namespace, objects, true)
    })
  })

  it("with other values (ServiceMonitor off): they reach the objects, all accepted by the API server (dry run)", async () => {
    await inNamespace("chart-values", async (namespace, kc) => {
      const objects = await template(namespace, otherValues, "prod")
      expect(objects.map((o) => o.kind).sort()).toEqual([
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount"
      ])
      const deployment = one(objects, "Deployment", "prod-the0-runtime-controller")
      const pod = deployment.spec.template
      const container = controllerContainer(deployment)
      expect(deployment.spec.replicas).toBe(3)
      expect(container.image).toBe("registry.example.com/the0/runtime-ts:1.2.3")
      expect(container.imagePullPolicy).toBe("Always")
      expect(container.args).toEqual(
        expect.arrayContaining([
          "--reconcile-interval=1m",
          `--minio-endpoint=${env.MINIO_ENDPOINT}`,
          "--minio-bucket=other-bucket",
          "--runtime-image=registry.example.com/the0/runtime-ts:1.2.3-bots",
          "--runtime-image-pull-policy=Never",
          "--minio-secret-name=prod-runtime-secrets",
          "--lease-name=prod-lease",
          "--lease-duration=20s",
          "--renew-deadline=15s",
          "--retry-period=3s",
          "--health-port=18080",
          "--query-port=19477",
          "--workers=8"
        ])
      )
      const envOf = (name: string) => container.env.find((e: { name: string }) => e.name === name)
      expect(envOf("MONGO_URI").valueFrom.secretKeyRef.name).toBe("prod-runtime-secrets")
      expect(envOf("NATS_URL").value).toBe("nats://prod-the0-nats:4222")
      expect(envOf("MINIO_USE_SSL").value).toBe("true")
      expect(envOf("QUERY_MAX_JOBS_IN_FLIGHT").value).toBe("16")
      expect(container.ports).toContainEqual({ name: "health", containerPort: 18080, protocol: "TCP" })
      expect(container.ports).toContainEqual({ name: "query", containerPort: 19477, protocol: "TCP" })
      expect(container.resources.limits).toEqual({ cpu: "2", memory: "1Gi" })
      expect(pod.spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" })
      expect(pod.metadata.annotations).toBeUndefined()
      const pdb = one(objects, "PodDisruptionBudget")
      expect(pdb.spec.minAvailable).toBe(2)
      expect(pdb.spec.maxUnavailable).toBeUndefined()
      // the Service keeps the name the0's API of release "prod" calls
      expect(one(objects, "Service").metadata.name).toBe("prod-the0-bot-controller")
      const egress = one(objects, "NetworkPolicy").spec.egress
      expect(egress).toContainEqual(otherValues.networkPolicy.egress.extra[0])

      await createAll(kc, namespace, objects, true)
    })
  })

  it("with the ServiceMonitor on: a monitoring.coreos.com/v1 ServiceMonitor that scrapes /metrics of every replica", async () => {
    await inNamespace("chart-monitor", async (namespace, kc) => {
      const objects = await template(namespace, {
        metrics: { serviceMonitor: { enabled: true, interval: "15s", labels: { release: "kube-prometheus-stack" } } }
      })
      const monitor = one(objects, "ServiceMonitor")
      expect(monitor.apiVersion).toBe("monitoring.coreos.com/v1")
      expect(monitor.metadata.namespace).toBe(namespace)
      expect(monitor.metadata.labels?.release).toBe("kube-prometheus-stack")
      expect(monitor.spec.namespaceSelector).toEqual({ matchNames: [namespace] })
      expect(monitor.spec.endpoints).toEqual([
        { port: "metrics", path: "/metrics", interval: "15s", scrapeTimeout: "10s" }
      ])
      // it selects the metrics Service and not the QueryServer's; that Service reaches the health port of the Pods
      const services = objects.filter((o) => o.kind === "Service")
      const selected = services.filter((s) => matches(monitor.spec.selector, s.metadata.labels ?? {}))
      expect(selected.map((s) => s.metadata.name)).toEqual(["the0-runtime-metrics"])
      const metrics = selected[0] as Obj
      const deployment = one(objects, "Deployment")
      expect(metrics.spec.clusterIP).toBe("None")
      expect(metrics.spec.selector).toEqual(deployment.spec.template.metadata.labels)
      expect(metrics.spec.ports).toEqual([{ name: "metrics", port: 8080, targetPort: "health", protocol: "TCP" }])
      expect(controllerContainer(deployment).ports).toContainEqual({
        name: "health",
        containerPort: 8080,
        protocol: "TCP"
      })
      // the testbed has no Prometheus Operator CRDs: everything else is put to the API server
      await createAll(
        kc,
        namespace,
        objects.filter((o) => o.kind !== "ServiceMonitor"),
        true
      )
    })
  })

  it("the Role grants the controller what it calls and nothing more (SubjectAccessReviews)", async () => {
    for (const [release, values] of [
      ["the0-runtime", undefined],
      ["prod", otherValues]
    ] as const)
      await inNamespace("chart-rbac", async (namespace, kc) => {
        const objects = await template(namespace, values, release)
        const rbac = objects.filter((o) => ["ServiceAccount", "Role", "RoleBinding"].includes(o.kind))
        expect(rbac.map((o) => o.kind)).toEqual(["ServiceAccount", "Role", "RoleBinding"])
        await createAll(kc, namespace, rbac, false)
        const serviceAccount = one(objects, "ServiceAccount").metadata.name
        expect(one(objects, "Deployment").spec.template.spec.serviceAccountName).toBe(serviceAccount)
        await expectControllerAccess(kc, namespace, serviceAccount)
      })
  })

  it("the PodDisruptionBudget covers the controller's Pods (the disruption controller counts the Deployment's)", async () => {
    await inNamespace("chart-pdb", async (namespace, kc) => {
      const objects = await template(namespace)
      const pdb = one(objects, "PodDisruptionBudget")
      const deployment = one(objects, "Deployment")
      expect(pdb.spec.maxUnavailable).toBe(1)
      // the Deployment for real, its Pods never scheduled (so nothing runs), and a bot Pod beside them
      await createAll(
        kc,
        namespace,
        [
          one(objects, "ServiceAccount"),
          parkedDeployment(deployment) as unknown as Obj,
          parkedPod("bot-x", { [Label.botId]: "x", [Label.managedBy]: ManagedBy.botController }) as unknown as Obj,
          pdb
        ],
        false
      )
      const policy = kc.makeApiClient(PolicyV1Api)
      const deadline = Date.now() + 60_000
      let status: unknown
      for (;;) {
        const read = await policy.readNamespacedPodDisruptionBudget({ name: pdb.metadata.name, namespace })
        status = read.status
        if (read.status?.expectedPods === 2 && (await selectedPods(kc, namespace, pdb.spec.selector)).length === 2)
          break
        if (Date.now() > deadline) throw new Error(`PDB status after 60 s: ${JSON.stringify(status)}`)
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
      const controllerPods = (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace })).items
        .filter((p) => p.metadata?.name?.startsWith(`${deployment.metadata.name}-`))
        .map((p) => p.metadata?.name ?? "")
        .sort()
      expect(controllerPods).toHaveLength(2)
      expect(await selectedPods(kc, namespace, pdb.spec.selector)).toEqual(controllerPods)
    })
  })

  it("the NetworkPolicy confines the bot Pods as the controller generates them: in from the controller on :9476 only; out to DNS, MinIO, NATS and the internet only", async () => {
    await inNamespace("chart-netpol", async (namespace, kc) => {
      const objects = await template(namespace)
      const { policy, byName } = await networkPolicyWorld(kc, namespace, objects, "the0-runtime")
      const spec = policy.spec
      expect(spec.policyTypes).toEqual(["Ingress", "Egress"])

      // the API server's own selection: the bot Pods of all three kinds, the controller's Pods, the0's MinIO and NATS
      expect(await selectedPods(kc, namespace, spec.podSelector)).toEqual(["bot", "query-run", "schedule-run"])
      const managedBy = spec.podSelector.matchExpressions?.find((e) => e.key === Label.managedBy)
      expect([...(managedBy?.values ?? [])].sort()).toEqual(Object.values(ManagedBy).sort())
      const ingressPeers = (spec.ingress ?? []).flatMap((r) => r.from ?? [])
      expect(ingressPeers).toHaveLength(1)
      expect(await selectedPods(kc, namespace, ingressPeers[0]?.podSelector ?? {})).toEqual([
        "controller-a",
        "controller-b"
      ])
      const [minioPeer] = egressPeersFor(policy, 9000)
      const [natsPeer] = egressPeersFor(policy, 4222)
      expect(await selectedPods(kc, namespace, minioPeer?.podSelector ?? {})).toEqual(["the0-minio"])
      expect(await selectedPods(kc, namespace, natsPeer?.podSelector ?? {})).toEqual(["the0-nats"])
      const dnsRule = (spec.egress ?? []).find((r) => r.ports?.some((p) => p.port === 53))
      expect(dnsRule?.ports).toEqual([
        { port: 53, protocol: "UDP" },
        { port: 53, protocol: "TCP" }
      ])
      expect(await selectedNamespaces(kc, dnsRule?.to?.[0]?.namespaceSelector ?? {})).toEqual(["kube-system"])

      // in: only the controller, only to the bot's query server
      const from = (name: string, port: number) => ingressAllows(policy, namespace, byName(name), port)
      expect(from("controller-a", 9476)).toBe(true)
      expect(from("controller-b", 9476)).toBe(true)
      for (const [name, port] of [
        ["controller-a", 8079],
        ["controller-a", 8080],
        ["other-controller", 9476],
        ["bot", 9476],
        ["schedule-run", 9476],
        ["the0-api", 9476],
        ["the0-minio", 9476],
        ["stranger", 9476]
      ] as const)
        expect(from(name, port), `${name} -> bot:${port}`).toBe(false)

      // out
      const toPod = (name: string, port: number, protocol: "TCP" | "UDP" = "TCP") =>
        egressAllows(policy, namespace, { pod: byName(name), ip: byName(name).ip, port, protocol })
      const toIp = (ip: string, port: number, protocol: "TCP" | "UDP" = "TCP") =>
        egressAllows(policy, namespace, { ip, port, protocol })
      const dns = { name: "coredns", namespace: "kube-system", labels: { "k8s-app": "kube-dns" }, ip: "10.0.0.10" }
      expect(egressAllows(policy, namespace, { pod: dns, ip: dns.ip, port: 53, protocol: "UDP" })).toBe(true)
      expect(egressAllows(policy, namespace, { pod: dns, ip: dns.ip, port: 53, protocol: "TCP" })).toBe(true)
      expect(toPod("the0-minio", 9000)).toBe(true)
      expect(toPod("the0-nats", 4222)).toBe(true)
      expect(toIp("1.1.1.1", 443)).toBe(true)
      expect(toIp("104.16.132.229", 9443)).toBe(true)
      const core = kc.makeApiClient(CoreV1Api)
      const kubernetesService = await core.readNamespacedService({ name: "kubernetes", namespace: "default" })
      const apiServer = (await core.readNamespacedEndpoints({ name: "kubernetes", namespace: "default" })).subsets?.[0]
      for (const [what, allowed] of [
        ["MongoDB", toPod("the0-mongo", 27017)],
        ["the0's API", toPod("the0-api", 3000)],
        ["MinIO's console", toPod("the0-minio", 9001)],
        ["another bot", toPod("schedule-run", 9476)],
        ["the controller's QueryServer", toPod("controller-a", 9477)],
        ["the controller's metrics", toPod("controller-a", 8080)],
        ["a stranger", toPod("stranger", 80)],
        ["the kubernetes Service", toIp(kubernetesService.spec?.clusterIP ?? "", 443)],
        ["the API server", toIp(apiServer?.addresses?.[0]?.ip ?? "", apiServer?.ports?.[0]?.port ?? 0)],
        ["cloud metadata", toIp("169.254.169.254", 80)],
        ["the testbed's MinIO by address", toIp("10.88.0.1", 19000)],
        ["a private network", toIp("192.168.1.10", 443)]
      ] as const)
        expect(allowed, `bot -> ${what}`).toBe(false)
    })
  })

  it("the NetworkPolicy with other values: MinIO and NATS at an address, more cluster ranges, internet ports", async () => {
    await inNamespace("chart-netpol-values", async (namespace, kc) => {
      const objects = await template(namespace, otherValues, "prod")
      const { policy, byName } = await networkPolicyWorld(kc, namespace, objects, "prod")
      expect(await selectedPods(kc, namespace, policy.spec.podSelector)).toEqual(["bot", "query-run", "schedule-run"])
      const toIp = (ip: string, port: number) => egressAllows(policy, namespace, { ip, port, protocol: "TCP" })
      const [host = "", port = "0"] = env.MINIO_ENDPOINT.split(":")
      expect(toIp(host, Number(port))).toBe(true)
      expect(toIp("10.88.0.1", 14222)).toBe(true)
      expect(toIp("10.88.0.1", 27117)).toBe(false)
      expect(toIp("10.88.0.1", 16443)).toBe(false)
      expect(toIp("1.1.1.1", 443)).toBe(true)
      expect(toIp("1.1.1.1", 80)).toBe(false)
      expect(toIp("203.0.113.10", 443)).toBe(false)
      expect(
        egressAllows(policy, namespace, { pod: byName("the0-minio"), ip: "10.88.1.99", port: 9000, protocol: "TCP" })
      ).toBe(false)
      expect(ingressAllows(policy, namespace, byName("controller-a"), 9476)).toBe(true)
      expect(ingressAllows(policy, namespace, byName("other-controller"), 9476)).toBe(false)
    })
  })
})
