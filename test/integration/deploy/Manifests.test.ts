/**
 * deploy/kubernetes/the0-runtime.yaml on the real API server: every object is accepted (the RBAC objects for
 * real, the Deployment and Service by server-side dry run), and the Role grants the controller exactly what it
 * calls (checked with SubjectAccessReviews) and nothing it does not need.
 */
import { readFileSync } from "node:fs"
import { AppsV1Api, AuthorizationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { parseAllDocuments } from "yaml"
import { requireEnv, uniqueName } from "../testbed/env.ts"

const env = requireEnv("KUBECONFIG")

type Doc = { kind: string; metadata: { name: string; namespace?: string }; subjects?: Array<{ namespace?: string }> }

const manifests = (namespace: string): Array<Doc> =>
  parseAllDocuments(readFileSync("deploy/kubernetes/the0-runtime.yaml", "utf8")).map((d) => {
    const doc = d.toJSON() as Doc
    return {
      ...doc,
      metadata: { ...doc.metadata, namespace },
      ...(doc.subjects === undefined ? {} : { subjects: doc.subjects.map((s) => ({ ...s, namespace })) })
    }
  })

describe("deploy manifests", () => {
  it("are accepted by the API server, and the Role grants what the controller uses and no more", async () => {
    const kc = new KubeConfig()
    kc.loadFromFile(env.KUBECONFIG)
    const core = kc.makeApiClient(CoreV1Api)
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
    const apps = kc.makeApiClient(AppsV1Api)
    const authz = kc.makeApiClient(AuthorizationV1Api)
    const namespace = uniqueName("deploy")
    await core.createNamespace({ body: { metadata: { name: namespace } } })
    try {
      const docs = manifests(namespace)
      expect(docs.map((d) => d.kind)).toEqual(["ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"])
      for (const doc of docs) {
        const body = doc as never
        if (doc.kind === "ServiceAccount") await core.createNamespacedServiceAccount({ namespace, body })
        if (doc.kind === "Role") await rbac.createNamespacedRole({ namespace, body })
        if (doc.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace, body })
        if (doc.kind === "Deployment") await apps.createNamespacedDeployment({ namespace, body, dryRun: "All" })
        if (doc.kind === "Service") await core.createNamespacedService({ namespace, body, dryRun: "All" })
      }
      const allowed = async (
        verb: string,
        resource: string,
        group = "",
        extra: { subresource?: string; name?: string } = {}
      ) =>
        (
          await authz.createSubjectAccessReview({
            body: {
              spec: {
                user: `system:serviceaccount:${namespace}:the0-runtime`,
                groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
                resourceAttributes: { namespace, verb, group, resource, ...extra }
              }
            }
          })
        ).status?.allowed === true
      const needed: Array<[string, string, string, { subresource?: string; name?: string }?]> = [
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
        ["create", "secrets", ""],
        ["get", "secrets", "", { name: "the0-runtime-minio" }],
        ["update", "secrets", "", { name: "the0-runtime-minio" }]
      ]
      for (const [verb, resource, group, extra] of needed)
        expect(await allowed(verb, resource, group, extra), `${verb} ${group}/${resource}`).toBe(true)
      const notNeeded: Array<[string, string, string, { subresource?: string; name?: string }?]> = [
        ["get", "secrets", "", { name: "the0-secrets" }],
        ["list", "secrets", ""],
        ["update", "pods", ""],
        ["list", "configmaps", ""],
        ["create", "pods", "", { subresource: "exec" }],
        ["delete", "leases", "coordination.k8s.io"]
      ]
      for (const [verb, resource, group, extra] of notNeeded)
        expect(await allowed(verb, resource, group, extra), `${verb} ${group}/${resource}`).toBe(false)
    } finally {
      await core.deleteNamespace({ name: namespace }).catch(() => undefined)
    }
  }, 60_000)
})
