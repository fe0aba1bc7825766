import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { validateObject } from "../../../src/domain/KubeValidation.ts"
import { Label } from "../../../src/domain/Labels.ts"
import { defaults } from "../../../src/programs/manifests/ManifestSettings.ts"
import { queryJob, queryJobName } from "../../../src/programs/manifests/QueryJob.ts"
import { envOf, envValue, left, mountPaths, right, testBot, testSchedule } from "./fixtures.ts"

const request = {
  queryPath: "/status",
  params: { key: "value" },
  resultKey: "test-bot-123/1704672000000000000/result.json",
  suffix: "1704672000000000000",
  timeoutSec: 30
}
const withQuery = testBot({ entrypoints: { bot: "main.py", query: "query.py" } })
const job = right(queryJob(defaults, withQuery, request))
const pod = job.spec.template
const bot = pod.spec.containers[0]

describe("queryJobName", () => {
  it("query-<botId>-<suffix>", () => {
    expect(queryJobName("test-bot-123", "1704672000000000000")).toBe("query-test-bot-123-1704672000000000000")
  })

  it("shortens the id, never the suffix, to stay within 63", () => {
    const name = queryJobName("b".repeat(63), "1704672000000000000-x7k2")
    expect(name).toHaveLength(63)
    expect(name.endsWith("-1704672000000000000-x7k2")).toBe(true)
    expect(queryJobName("ab-cd", "s".repeat(55))).toBe(`query-a-${"s".repeat(55)}`)
    expect(queryJobName("ab", "s".repeat(57))).toBe(`query-${"s".repeat(57)}`)
  })

  it.prop(
    "different suffixes never give the same name, and names stay valid",
    [
      fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/),
      fc.stringMatching(/^[0-9]{19}-[a-z0-9]{1,8}$/),
      fc.stringMatching(/^[0-9]{19}-[a-z0-9]{1,8}$/)
    ],
    ([id, a, b]) => {
      const nameA = queryJobName(id, a)
      expect(nameA.length).toBeLessThanOrEqual(63)
      expect(nameA).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
      if (a !== b) expect(nameA).not.toBe(queryJobName(id, b))
    }
  )
})

describe("queryJob", () => {
  it("the Job: name, labels, backoffLimit 0, deadline the query timeout plus 30 s, TTL from settings, no annotations", () => {
    expect(job.apiVersion).toBe("batch/v1")
    expect(job.kind).toBe("Job")
    expect(job.metadata).toStrictEqual({
      name: "query-test-bot-123-1704672000000000000",
      namespace: "the0",
      labels: {
        [Label.managedBy]: "the0-query-handler",
        [Label.botId]: "test-bot-123",
        [Label.query]: "true"
      }
    })
    expect(job.spec.backoffLimit).toBe(0)
    expect(job.spec.activeDeadlineSeconds).toBe(60)
    expect(right(queryJob(defaults, withQuery, { ...request, timeoutSec: 300 })).spec.activeDeadlineSeconds).toBe(330)
    expect(right(queryJob(defaults, withQuery, { ...request, timeoutSec: 2.5 })).spec.activeDeadlineSeconds).toBe(33)
    expect(job.spec.ttlSecondsAfterFinished).toBe(300)
    expect(
      right(queryJob({ ...defaults, queryJobTtlSeconds: 60 }, withQuery, request)).spec.ttlSecondsAfterFinished
    ).toBe(60)
    expect(validateObject(job)).toStrictEqual([])
  })

  it("the Pod template: name query-<id>, the bot labels with managed-by the0-query-handler", () => {
    expect(pod.metadata).toStrictEqual({
      name: "query-test-bot-123",
      labels: {
        [Label.botId]: "test-bot-123",
        [Label.customBotId]: "test-bot",
        [Label.customBotVersion]: "1.0.0",
        [Label.runtime]: "python3.11",
        [Label.managedBy]: "the0-query-handler"
      }
    })
  })

  it("the Pod: restart Never, restore, the result sidecar, one bot container with five mounts", () => {
    expect(pod.spec.restartPolicy).toBe("Never")
    const [restore, result] = pod.spec.initContainers ?? []
    expect(pod.spec.initContainers).toHaveLength(2)
    expect(restore?.name).toBe("restore")
    expect(restore?.restartPolicy).toBeUndefined()
    expect(restore?.args).toStrictEqual([
      "--bot-id",
      "test-bot-123",
      "--code-path",
      "/bot",
      "--state-path",
      "/state",
      "--code-file",
      "user-1/test-bot/v1.0.0.zip"
    ])
    expect(result).toMatchObject({
      name: "result",
      command: ["/app/runtime", "daemon", "query-result"],
      args: [
        "--result-key",
        "test-bot-123/1704672000000000000/result.json",
        "--query-dir",
        "/query",
        "--readiness-port",
        "8079"
      ],
      restartPolicy: "Always",
      startupProbe: { httpGet: { path: "/readyz", port: 8079 } },
      volumeMounts: [{ name: "query", mountPath: "/query" }]
    })
    expect(pod.spec.containers.map((c) => c.name)).toStrictEqual(["bot"])
    expect(pod.spec.automountServiceAccountToken).toBe(false)
    expect(bot?.command).toStrictEqual([
      "/app/runtime",
      "execute",
      "--skip-sync",
      "--skip-query-server",
      "--skip-download"
    ])
    expect(mountPaths(bot)).toContain("/query")
    expect(mountPaths(bot)).toStrictEqual(["/bot", "/state", "/var/the0", "/tmp", "/query"])
  })

  it("env: rows 1-9 with the query entrypoint, QUERY_PATH, QUERY_PARAMS; the result key is the sidecar's", () => {
    expect(envOf(bot).map((e) => e.name)).toStrictEqual([
      "BOT_ID",
      "CODE_FILE",
      "RUNTIME",
      "ENTRYPOINT",
      "BOT_CONFIG",
      "CODE_PATH",
      "STATE_PATH",
      "LOGS_PATH",
      "STATE_DIR",
      "QUERY_PATH",
      "QUERY_PARAMS"
    ])
    expect(envValue(bot, "ENTRYPOINT")).toBe("query.py")
    expect(envValue(bot, "QUERY_PATH")).toBe("/status")
    expect(envValue(bot, "QUERY_PARAMS")).toBe('{"key":"value"}')
  })

  it("normalises the path, omits empty params, falls back to the bot entrypoint", () => {
    const plain = right(queryJob(defaults, testBot(), { ...request, queryPath: "price", params: {} }))
    const container = plain.spec.template.spec.containers[0]
    expect(envValue(container, "QUERY_PATH")).toBe("/price")
    expect(envOf(container).map((e) => e.name)).not.toContain("QUERY_PARAMS")
    expect(envValue(container, "ENTRYPOINT")).toBe("main.py")
    const nullParams = right(queryJob(defaults, testBot(), { ...request, params: null }))
    expect(envOf(nullParams.spec.template.spec.containers[0]).map((e) => e.name)).not.toContain("QUERY_PARAMS")
  })

  it("params are Go's JSON: sorted keys", () => {
    const sorted = right(queryJob(defaults, testBot(), { ...request, params: { symbol: "BTC", amount: 100 } }))
    expect(envValue(sorted.spec.template.spec.containers[0], "QUERY_PARAMS")).toBe('{"amount":100,"symbol":"BTC"}')
  })

  it("works for schedules", () => {
    const scheduled = right(queryJob(defaults, testSchedule(), { ...request, suffix: "1" }))
    expect(scheduled.metadata.name).toBe("query-schedule-1-1")
    expect(envValue(scheduled.spec.template.spec.containers[0], "BOT_ID")).toBe("schedule-1")
  })

  it("what the API server would reject is a ManifestError naming the field", () => {
    expect(left(queryJob(defaults, withQuery, { ...request, suffix: "Not_Valid" }))).toMatchObject({
      botId: "test-bot-123",
      field: "metadata.name"
    })
    expect(left(queryJob(defaults, withQuery, { ...request, suffix: "1".repeat(60) })).field).toBe("metadata.name")
    expect(left(queryJob(defaults, testBot({ runtime: "" }), request)).field).toBe("custom.config.runtime")
  })
})
