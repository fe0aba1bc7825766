import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Pod } from "../../../src/domain/Kube.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { resolve } from "../../../src/programs/controller/MinioCredentialsSource.ts"
import { controllerOwnedMinioSecret } from "../../../src/programs/manifests/ManifestSettings.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const ns = "the0"

/** A controller Pod shaped as the0's Helm chart makes it: the MinIO credentials from `<release>-secrets`. */
const controllerPod = (env: NonNullable<Pod["spec"]["containers"][number]["env"]>): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "the0-bot-controller-7d9f-abcde", namespace: ns },
  spec: { containers: [{ name: "bot-controller", image: "the0/runtime:1", env }] }
})

const fromSecret = (name: string, secret: string, key: string) => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } }
})

const withPod = (pod: Pod) => Effect.flatMap(KubeApi, (api) => api.create("Pod", ns, pod))

describe("where bot Pods read the MinIO credentials from", () => {
  it.effect("a Secret the operator names is used as it is, without reading anything", () =>
    Effect.gen(function* () {
      const named = { name: "my-minio", accessKeyKey: "user", secretKeyKey: "password" }
      expect(yield* resolve(named, ns, "absent")).toEqual({ _tag: "Named", secret: named })
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.effect("otherwise the Secret and keys the controller's own Pod takes them from (the0's chart)", () =>
    Effect.gen(function* () {
      yield* withPod(
        controllerPod([
          { name: "MINIO_ENDPOINT", value: "minio:9000" },
          fromSecret("MINIO_ACCESS_KEY", "the0-secrets", "minio-access-key"),
          fromSecret("MINIO_SECRET_KEY", "the0-secrets", "minio-secret-key")
        ])
      )
      expect(yield* resolve(controllerOwnedMinioSecret, ns, "the0-bot-controller-7d9f-abcde")).toEqual({
        _tag: "OwnPod",
        pod: "the0-bot-controller-7d9f-abcde",
        secret: { name: "the0-secrets", accessKeyKey: "minio-access-key", secretKeyKey: "minio-secret-key" }
      })
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.effect("a Secret of its own when its Pod has the credentials literally, in two Secrets, or cannot be read", () =>
    Effect.gen(function* () {
      yield* withPod({
        ...controllerPod([
          { name: "MINIO_ACCESS_KEY", value: "literal" },
          fromSecret("MINIO_SECRET_KEY", "the0-secrets", "minio-secret-key")
        ]),
        metadata: { name: "literal", namespace: ns }
      })
      yield* withPod({
        ...controllerPod([fromSecret("MINIO_ACCESS_KEY", "one", "a"), fromSecret("MINIO_SECRET_KEY", "two", "b")]),
        metadata: { name: "split", namespace: ns }
      })
      for (const pod of ["literal", "split"]) {
        const source = yield* resolve(controllerOwnedMinioSecret, ns, pod)
        expect(source).toMatchObject({ _tag: "Owned", secret: controllerOwnedMinioSecret })
        expect(source._tag === "Owned" && source.why).toContain("takes them from no single Secret")
      }
      const outside = yield* resolve(controllerOwnedMinioSecret, ns, "my-laptop")
      expect(outside._tag === "Owned" && outside.why).toContain("cannot read Pod the0/my-laptop")
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.live("an API server that does not answer at first is asked again; a refusal is an answer", () =>
    Effect.gen(function* () {
      yield* withPod(
        controllerPod([
          fromSecret("MINIO_ACCESS_KEY", "the0-secrets", "minio-access-key"),
          fromSecret("MINIO_SECRET_KEY", "the0-secrets", "minio-secret-key")
        ])
      )
      const cluster = yield* MemoryCluster
      yield* cluster.failNext({ verb: "get", kind: "Pod", times: 2, code: 503, reason: "ServiceUnavailable" })
      expect((yield* resolve(controllerOwnedMinioSecret, ns, "the0-bot-controller-7d9f-abcde"))._tag).toBe("OwnPod")
      yield* cluster.failNext({ verb: "get", kind: "Pod", times: 1, code: 403, reason: "Forbidden" })
      const refused = yield* resolve(controllerOwnedMinioSecret, ns, "the0-bot-controller-7d9f-abcde")
      expect(refused._tag === "Owned" && refused.why).toContain("403")
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )
})
