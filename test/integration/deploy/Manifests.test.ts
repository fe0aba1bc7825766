/**
 * deploy/kubernetes/the0-runtime.yaml, the plain manifest for clusters without Helm: it is exactly what
 * scripts/render-manifest makes of the chart deploy/helm/the0-runtime with default values, and on the real API server
 * every object is accepted (the RBAC objects for real, the rest by server-side dry run) and the Role grants the
 * controller exactly what it calls (checked with SubjectAccessReviews) and nothing it does not need.
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { promisify } from "node:util"
import { KubeConfig } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { parseAllDocuments } from "yaml"
import { requireEnv, uniqueName } from "../testbed/env.ts"
import { createAll, createNamespace, deleteNamespace, expectControllerAccess, type Obj } from "./Chart.ts"

const env = requireEnv("KUBECONFIG", "THE0_HELM")

const MANIFEST = "deploy/kubernetes/the0-runtime.yaml"

/** The manifest's objects, moved to `namespace`. */
const manifests = (namespace: string): Array<Obj> =>
  parseAllDocuments(readFileSync(MANIFEST, "utf8")).map((d) => {
    const doc = d.toJSON() as Obj & { subjects?: Array<{ namespace?: string }> }
    return {
      ...doc,
      metadata: { ...doc.metadata, namespace },
      ...(doc.subjects === undefined ? {} : { subjects: doc.subjects.map((s) => ({ ...s, namespace })) })
    }
  })

describe("deploy manifests", () => {
  it("are the chart's rendering with default values (scripts/render-manifest)", async () => {
    const { stdout } = await promisify(execFile)("scripts/render-manifest", ["--print"], {
      env: { ...process.env, THE0_HELM: env.THE0_HELM },
      maxBuffer: 16 * 1024 * 1024
    })
    expect(readFileSync(MANIFEST, "utf8"), `${MANIFEST} differs from the chart: run scripts/render-manifest`).toBe(
      stdout
    )
  })

  it("are accepted by the API server, and the Role grants what the controller uses and no more", async () => {
    const kc = new KubeConfig()
    kc.loadFromFile(env.KUBECONFIG)
    const namespace = uniqueName("deploy")
    await createNamespace(kc, namespace)
    try {
      const docs = manifests(namespace)
      expect(docs.map((d) => d.kind)).toEqual([
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment"
      ])
      const rbac = ["ServiceAccount", "Role", "RoleBinding"]
      await createAll(
        kc,
        namespace,
        docs.filter((d) => rbac.includes(d.kind)),
        false
      )
      await createAll(
        kc,
        namespace,
        docs.filter((d) => !rbac.includes(d.kind)),
        true
      )
      await expectControllerAccess(kc, namespace, "the0-runtime")
    } finally {
      await deleteNamespace(kc, namespace)
    }
  }, 60_000)
})
