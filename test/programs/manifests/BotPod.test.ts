import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { validateObject } from "../../../src/domain/KubeValidation.ts"
import { Annotation, Label } from "../../../src/domain/Labels.ts"
import { botPod, botPodName } from "../../../src/programs/manifests/BotPod.ts"
import { defaults, type ManifestSettings } from "../../../src/programs/manifests/ManifestSettings.ts"
import { envNames, envOf, envValue, left, mountPaths, right, testBot } from "./fixtures.ts"

const settings: ManifestSettings = { ...defaults, namespace: "bots", runtimeImage: "ghcr.io/the0/runtime:1.3.2" }
const pod = right(botPod(settings, testBot()))
const [restore, sync] = pod.spec.initContainers ?? []
const bot = pod.spec.containers[0]

const minioEnv = [
  { name: "MINIO_ENDPOINT", value: "minio:9000" },
  { name: "MINIO_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "the0-runtime-minio", key: "minio-access-key" } } },
  { name: "MINIO_SECRET_KEY", valueFrom: { secretKeyRef: { name: "the0-runtime-minio", key: "minio-secret-key" } } },
  { name: "MINIO_USE_SSL", value: "false" }
]

describe("botPod (realtime)", () => {
  it("metadata: name, namespace, the five labels, the config hash", () => {
    expect(botPodName("test-bot-123")).toBe("bot-test-bot-123")
    expect(pod.apiVersion).toBe("v1")
    expect(pod.kind).toBe("Pod")
    expect(pod.metadata.name).toBe("bot-test-bot-123")
    expect(pod.metadata.namespace).toBe("bots")
    expect(pod.metadata.labels).toStrictEqual({
      [Label.botId]: "test-bot-123",
      [Label.customBotId]: "test-bot",
      [Label.customBotVersion]: "1.0.0",
      [Label.runtime]: "python3.11",
      [Label.managedBy]: "the0-bot-controller"
    })
    expect(Object.keys(pod.metadata.annotations ?? {})).toStrictEqual([Annotation.configHash])
    expect(pod.metadata.annotations?.[Annotation.configHash]).toMatch(/^[0-9a-f]{16}$/)
    expect(validateObject(pod)).toStrictEqual([])
  })

  it("Pod spec: restart Always, no service-account token, grace period, security context", () => {
    expect(pod.spec.restartPolicy).toBe("Always")
    expect(pod.spec.automountServiceAccountToken).toBe(false)
    expect(pod.spec.terminationGracePeriodSeconds).toBe(60)
    expect(pod.spec.securityContext).toStrictEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: "RuntimeDefault" }
    })
    expect(right(botPod({ ...settings, terminationGracePeriodSeconds: 120 }, testBot())).spec).toMatchObject({
      terminationGracePeriodSeconds: 120
    })
  })

  it("the five emptyDir volumes, in order", () => {
    expect(pod.spec.volumes).toStrictEqual([
      { name: "bot-code", emptyDir: {} },
      { name: "bot-state", emptyDir: {} },
      { name: "the0", emptyDir: {} },
      { name: "tmp", emptyDir: {} },
      { name: "query", emptyDir: {} }
    ])
  })

  it("the restore init container: code and state onto the volumes, with the credentials and the bot's resources", () => {
    expect(pod.spec.initContainers).toHaveLength(2)
    expect(restore).toStrictEqual({
      name: "restore",
      image: "ghcr.io/the0/runtime:1.3.2",
      imagePullPolicy: "IfNotPresent",
      command: ["/app/runtime", "daemon", "restore"],
      args: [
        "--bot-id",
        "test-bot-123",
        "--code-path",
        "/bot",
        "--state-path",
        "/state",
        "--code-file",
        "user-1/test-bot/v1.0.0.zip"
      ],
      env: minioEnv,
      resources: { limits: { memory: "768Mi", cpu: "500m" }, requests: { memory: "256Mi", cpu: "100m" } },
      volumeMounts: [
        { name: "bot-code", mountPath: "/bot" },
        { name: "bot-state", mountPath: "/state" }
      ],
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] }
      }
    })
    const custom = right(botPod(settings, testBot({ config: { memory_limit: "1Gi", memory_request: "512Mi" } })))
    expect(custom.spec.initContainers?.[0]?.resources).toStrictEqual(custom.spec.containers[0]?.resources)
  })

  it("the sync native sidecar, after the restore", () => {
    expect(sync).toStrictEqual({
      name: "sync",
      image: "ghcr.io/the0/runtime:1.3.2",
      imagePullPolicy: "IfNotPresent",
      command: ["/app/runtime", "daemon", "sync"],
      args: [
        "--bot-id",
        "test-bot-123",
        "--state-path",
        "/state",
        "--logs-path",
        "/var/the0/logs",
        "--readiness-port",
        "8079"
      ],
      env: minioEnv,
      resources: { limits: { memory: "128Mi", cpu: "100m" }, requests: { memory: "64Mi", cpu: "10m" } },
      volumeMounts: [
        { name: "bot-state", mountPath: "/state" },
        { name: "the0", mountPath: "/var/the0" }
      ],
      startupProbe: {
        httpGet: { path: "/readyz", port: 8079 },
        initialDelaySeconds: 0,
        periodSeconds: 1,
        failureThreshold: 30
      },
      restartPolicy: "Always",
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] }
      }
    })
  })

  it("the bot container: image, command, working dir, mounts, default resources, security", () => {
    expect(pod.spec.containers).toHaveLength(1)
    expect(bot?.name).toBe("bot")
    expect(bot?.image).toBe("ghcr.io/the0/runtime:1.3.2")
    expect(bot?.imagePullPolicy).toBe("IfNotPresent")
    expect(bot?.command).toStrictEqual([
      "/app/runtime",
      "execute",
      "--skip-sync",
      "--skip-query-server",
      "--skip-download"
    ])
    expect(bot?.args).toBeUndefined()
    expect(bot?.workingDir).toBe("/bot")
    expect(mountPaths(bot)).toStrictEqual(["/bot", "/state", "/var/the0", "/tmp", "/query"])
    expect(bot?.resources).toStrictEqual({
      limits: { memory: "768Mi", cpu: "500m" },
      requests: { memory: "256Mi", cpu: "100m" }
    })
    expect(bot?.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] }
    })
  })

  it("the bot container's env, in the0's order, without the MinIO variables", () => {
    expect(envOf(bot)).toStrictEqual([
      { name: "BOT_ID", value: "test-bot-123" },
      { name: "CODE_FILE", value: "user-1/test-bot/v1.0.0.zip" },
      { name: "RUNTIME", value: "python3.11" },
      { name: "ENTRYPOINT", value: "main.py" },
      { name: "BOT_CONFIG", value: '{"interval":"1m","symbol":"BTC/USD"}' },
      { name: "CODE_PATH", value: "/bot" },
      { name: "STATE_PATH", value: "/state" },
      { name: "LOGS_PATH", value: "/var/the0/logs" },
      { name: "STATE_DIR", value: "/state/.the0-state" },
      { name: "BOT_TYPE", value: "realtime" }
    ])
    expect(envNames(bot)).not.toContain("IS_SCHEDULED")
    expect(envValue(bot, "BOT_CONFIG")).toContain("BTC/USD")
  })

  it("BOT_CONFIG is Go's JSON: sorted keys at every level, HTML characters escaped, null without config", () => {
    const withNested = right(botPod(settings, testBot({ config: { z: { b: 1, a: [2, { d: 3, c: 4 }] }, h: "<&>" } })))
    expect(envValue(withNested.spec.containers[0], "BOT_CONFIG")).toBe(
      '{"h":"\\u003c\\u0026\\u003e","z":{"a":[2,{"c":4,"d":3}],"b":1}}'
    )
    const { config: _none, ...noConfig } = testBot()
    expect(envValue(right(botPod(settings, noConfig)).spec.containers[0], "BOT_CONFIG")).toBe("null")
  })

  it("the MinIO settings and the named Secret reach the restore and sync containers, and only them", () => {
    const custom = right(
      botPod(
        {
          ...settings,
          minioEndpoint: "s3.example.com:443",
          minioUseSSL: true,
          minioSecret: { name: "the0-secrets", accessKeyKey: "minio-access-key", secretKeyKey: "minio-secret-key" }
        },
        testBot({ entrypoints: { bot: "main.py", query: "query.py" } })
      )
    )
    expect(custom.spec.initContainers?.map((c) => c.name)).toStrictEqual(["restore", "sync"])
    for (const container of custom.spec.containers) expect(envNames(container).join()).not.toMatch(/MINIO_/)
    for (const container of custom.spec.initContainers ?? []) {
      expect(envValue(container, "MINIO_ENDPOINT")).toBe("s3.example.com:443")
      expect(envValue(container, "MINIO_USE_SSL")).toBe("true")
      const secretRefs = envOf(container).flatMap((env) =>
        env.valueFrom?.secretKeyRef ? [env.valueFrom.secretKeyRef] : []
      )
      expect(secretRefs).toStrictEqual([
        { name: "the0-secrets", key: "minio-access-key" },
        { name: "the0-secrets", key: "minio-secret-key" }
      ])
      expect(envOf(container).filter((env) => env.name.startsWith("MINIO_") && env.name.endsWith("_KEY"))).toSatisfy(
        (vars: ReadonlyArray<{ readonly value?: string }>) => vars.every((env) => env.value === undefined)
      )
    }
  })

  it("with a query entrypoint: QUERY_ENTRYPOINT last, and the query-server container on 9476", () => {
    const withQuery = right(botPod(settings, testBot({ entrypoints: { bot: "main.py", query: "query.py" } })))
    const [main, query] = withQuery.spec.containers
    expect(withQuery.spec.containers.map((c) => c.name)).toStrictEqual(["bot", "query-server"])
    expect(envNames(main).at(-1)).toBe("QUERY_ENTRYPOINT")
    expect(envValue(main, "QUERY_ENTRYPOINT")).toBe("query.py")
    expect(query?.command).toStrictEqual(["/app/runtime", "execute", "--query-server-only", "--skip-download"])
    expect(query?.args).toBeUndefined()
    expect(query?.env).toStrictEqual(main?.env)
    expect(envValue(query, "BOT_TYPE")).toBe("realtime")
    expect(query?.ports).toStrictEqual([{ name: "query", containerPort: 9476, protocol: "TCP" }])
    expect(mountPaths(query)).toStrictEqual(["/bot", "/state", "/var/the0", "/tmp", "/query"])
    expect(query?.resources).toStrictEqual({
      limits: { memory: "128Mi", cpu: "200m" },
      requests: { memory: "32Mi", cpu: "10m" }
    })
    expect(query?.image).toBe("ghcr.io/the0/runtime:1.3.2")
    expect(query?.startupProbe).toBeUndefined()
  })

  it("custom resources from config", () => {
    const custom = right(
      botPod(
        settings,
        testBot({ config: { memory_limit: "1Gi", cpu_limit: "1000m", memory_request: "256Mi", cpu_request: "200m" } })
      )
    )
    expect(custom.spec.containers[0]?.resources).toStrictEqual({
      limits: { memory: "1Gi", cpu: "1000m" },
      requests: { memory: "256Mi", cpu: "200m" }
    })
  })

  it("every label value is sanitised: version, runtime, custom bot id", () => {
    const labels = right(botPod(settings, testBot({ version: "1.0.0+build", name: "My Bot!" }))).metadata.labels
    expect(labels?.[Label.customBotVersion]).toBe("1.0.0build")
    expect(labels?.[Label.customBotId]).toBe("MyBot")
    expect(right(botPod(settings, testBot({ version: "" }))).metadata.labels?.[Label.customBotVersion]).toBe("")
    expect(
      right(botPod(settings, testBot({ name: "", id: "abcdefg-hijk" }))).metadata.labels?.[Label.customBotId]
    ).toBe("abcdefg")
  })

  it("the0's rejections become a ManifestError naming the field, never a throw", () => {
    expect(left(botPod(settings, testBot({ runtime: "" }))).field).toBe("custom.config.runtime")
    expect(left(botPod(settings, testBot({ filePath: "test; rm -rf /" }))).field).toBe("custom.filePath")
    expect(left(botPod(settings, testBot({ id: "x".repeat(64) }))).field).toBe("id")
    expect(left(botPod(settings, testBot({ runtime: "nodejs18" }))).field).toBe("custom.config.runtime")
    expect(Either.isLeft(botPod(settings, testBot({ config: { memory_request: "2Gi" } })))).toBe(true)
  })
})
