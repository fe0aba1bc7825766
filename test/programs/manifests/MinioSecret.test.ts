import { describe, expect, it } from "@effect/vitest"
import { validateObject } from "../../../src/domain/KubeValidation.ts"
import { botPod } from "../../../src/programs/manifests/BotPod.ts"
import { defaults, settingsProblems } from "../../../src/programs/manifests/ManifestSettings.ts"
import { minioSecret } from "../../../src/programs/manifests/MinioSecret.ts"
import { right, testBot } from "./fixtures.ts"

const decode = (base64: string | undefined): string => Buffer.from(base64 ?? "", "base64").toString("utf8")

describe("minioSecret", () => {
  const credentials = { accessKey: "the0admin", secretKey: "s3cr3t/+=é" }

  it("the controller-owned Secret holds the credentials under the settings' keys", () => {
    const secret = minioSecret(defaults, credentials)
    expect(secret.apiVersion).toBe("v1")
    expect(secret.kind).toBe("Secret")
    expect(secret.type).toBe("Opaque")
    expect(secret.metadata.name).toBe("the0-runtime-minio")
    expect(secret.metadata.namespace).toBe("the0")
    expect(Object.keys(secret.data ?? {})).toStrictEqual(["minio-access-key", "minio-secret-key"])
    expect(decode(secret.data?.["minio-access-key"])).toBe("the0admin")
    expect(decode(secret.data?.["minio-secret-key"])).toBe("s3cr3t/+=é")
    expect(validateObject(secret)).toStrictEqual([])
  })

  it("is the Secret the Pods' secretKeyRefs point at", () => {
    const settings = {
      ...defaults,
      namespace: "prod",
      minioSecret: { name: "creds", accessKeyKey: "access", secretKeyKey: "secret" }
    }
    const secret = minioSecret(settings, credentials)
    const pod = right(botPod(settings, testBot()))
    const refs = (pod.spec.initContainers?.[0]?.env ?? []).flatMap((env) =>
      env.valueFrom?.secretKeyRef ? [env.valueFrom.secretKeyRef] : []
    )
    expect(refs.map((ref) => ref.name)).toStrictEqual([secret.metadata.name, secret.metadata.name])
    expect(refs.map((ref) => ref.key)).toStrictEqual(Object.keys(secret.data ?? {}))
    expect(secret.metadata.namespace).toBe(pod.metadata.namespace)
  })

  it("credentials never appear in generated Pods", () => {
    const pod = JSON.stringify(right(botPod(defaults, testBot({ entrypoints: { bot: "main.py", query: "q.py" } }))))
    expect(pod).not.toContain(credentials.accessKey)
    expect(pod).not.toContain("s3cr3t")
  })
})

describe("settingsProblems", () => {
  it("the defaults are usable", () => {
    expect(settingsProblems(defaults)).toStrictEqual([])
    expect(defaults).toMatchObject({
      namespace: "the0",
      runtimeImage: "runtime:latest",
      imagePullPolicy: "IfNotPresent",
      terminationGracePeriodSeconds: 60,
      queryJobTtlSeconds: 300,
      minioSecret: { accessKeyKey: "minio-access-key", secretKeyKey: "minio-secret-key" }
    })
  })

  it("names each bad setting", () => {
    const problems = settingsProblems({
      ...defaults,
      namespace: "The0",
      runtimeImage: " ",
      minioEndpoint: "https://minio:9000",
      minioSecret: { name: "Bad_Name", accessKeyKey: "a key", secretKeyKey: "a key" },
      terminationGracePeriodSeconds: -1,
      queryJobTtlSeconds: 1.5
    })
    expect(problems.join("\n")).toMatch(/namespace/)
    expect(problems.join("\n")).toMatch(/runtimeImage/)
    expect(problems.join("\n")).toMatch(/without a scheme/)
    expect(problems.join("\n")).toMatch(/minioSecret.name/)
    expect(problems.join("\n")).toMatch(/minioSecret.accessKeyKey/)
    expect(problems.join("\n")).toMatch(/must differ/)
    expect(problems.join("\n")).toMatch(/terminationGracePeriodSeconds/)
    expect(problems.join("\n")).toMatch(/queryJobTtlSeconds/)
  })
})
