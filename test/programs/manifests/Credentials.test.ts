/**
 * No credential in any container that runs bot code (issue 16): in the realtime Pod, the CronJob's run Pod and the
 * query Job's Pod, only the `restore` init container and the native sidecar hold the MinIO variables and Secret
 * references; the `bot` and `query-server` containers hold none, in env, envFrom, arguments or volumes, and no Pod
 * shares its process namespace. The restore runs to its end before the sidecar and the main containers start, and
 * the sidecar's startup probe holds the main containers back until it is ready.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Container, PodSpec } from "../../../src/domain/Kube.ts"
import { botPod } from "../../../src/programs/manifests/BotPod.ts"
import { defaults, type ManifestSettings } from "../../../src/programs/manifests/ManifestSettings.ts"
import { queryJob } from "../../../src/programs/manifests/QueryJob.ts"
import { scheduleCronJob } from "../../../src/programs/manifests/ScheduleCronJob.ts"
import { right, testBot, testSchedule } from "./fixtures.ts"

const settings: ManifestSettings = {
  ...defaults,
  minioSecret: { name: "the0-secrets", accessKeyKey: "minio-access-key", secretKeyKey: "minio-secret-key" }
}
const entrypoints = { bot: "main.py", query: "query.py" }
const request = {
  queryPath: "/status",
  params: { a: 1 },
  resultKey: "b/1-x/result.json",
  suffix: "1-x",
  timeoutSec: 30
}

const specs: ReadonlyArray<readonly [string, string, PodSpec]> = [
  ["realtime Pod", "sync", right(botPod(settings, testBot({ entrypoints }))).spec],
  ["realtime Pod without a query entrypoint", "sync", right(botPod(settings, testBot())).spec],
  [
    "scheduled run",
    "sync",
    right(scheduleCronJob(settings, testSchedule({ entrypoints }))).spec.jobTemplate.spec.template.spec
  ],
  ["query Job", "result", right(queryJob(settings, testBot({ entrypoints }), request)).spec.template.spec]
]

/** Everything in a container that could carry a credential or point at one. */
const credentialsOf = (container: Container): ReadonlyArray<string> => [
  ...(container.env ?? []).filter((e) => e.name.startsWith("MINIO_") || e.valueFrom !== undefined).map((e) => e.name),
  ...Object.keys(container).filter((key) => key === "envFrom"),
  ...[...(container.command ?? []), ...(container.args ?? [])].filter((arg) => /minio|secret|object-store/i.test(arg))
]

describe("object-store credentials in generated Pods", () => {
  it.each(specs)("%s: the bot and query-server containers hold none", (_, _sidecar, spec) => {
    expect(spec.containers.length).toBeGreaterThan(0)
    for (const container of spec.containers) {
      expect(container.name).toMatch(/^(bot|query-server)$/)
      expect(credentialsOf(container), container.name).toStrictEqual([])
      expect(container.command).toContain("--skip-download")
    }
    expect(Object.keys(spec)).not.toContain("shareProcessNamespace")
    expect(spec.volumes?.every((volume) => Object.keys(volume).join() === "name,emptyDir")).toBe(true)
  })

  it.each(specs)("%s: restore first, then the %s sidecar, each with the MinIO variables", (_, sidecar, spec) => {
    const inits = spec.initContainers ?? []
    expect(inits.map((c) => [c.name, c.restartPolicy])).toStrictEqual([
      ["restore", undefined],
      [sidecar, "Always"]
    ])
    for (const container of inits) {
      expect(credentialsOf(container)).toStrictEqual([
        "MINIO_ENDPOINT",
        "MINIO_ACCESS_KEY",
        "MINIO_SECRET_KEY",
        "MINIO_USE_SSL"
      ])
      expect(
        (container.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : []))
      ).toStrictEqual(["the0-secrets", "the0-secrets"])
    }
    expect(inits[1]?.startupProbe).toStrictEqual({
      httpGet: { path: "/readyz", port: 8079 },
      initialDelaySeconds: 0,
      periodSeconds: 1,
      failureThreshold: 30
    })
    expect(inits[1]?.args?.slice(-2)).toStrictEqual(["--readiness-port", "8079"])
  })
})
