import { describe, expect, it } from "@effect/vitest"
import { validateObject } from "../../../src/domain/KubeValidation.ts"
import { Annotation, Label } from "../../../src/domain/Labels.ts"
import { defaults } from "../../../src/programs/manifests/ManifestSettings.ts"
import { cronJobName, scheduleCronJob } from "../../../src/programs/manifests/ScheduleCronJob.ts"
import { envNames, envOf, envValue, left, mountPaths, right, testSchedule } from "./fixtures.ts"

const cronJob = right(scheduleCronJob(defaults, testSchedule()))
const jobSpec = cronJob.spec.jobTemplate.spec
const podSpec = jobSpec.template.spec
const bot = podSpec.containers[0]

describe("cronJobName (the0 generateCronJobName)", () => {
  it.each([
    ["schedule-1", "schedule-schedule-1"],
    ["abc123", "schedule-abc123"],
    ["very-long-schedule-id-that-needs-to-be-truncated", "schedule-very-long-schedule-id-that-needs-to-be-trun"],
    ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbb", "schedule-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
  ])("%j → %j", (id, name) => {
    expect(cronJobName(id)).toBe(name)
    expect(cronJobName(id).length).toBeLessThanOrEqual(52)
  })
})

describe("scheduleCronJob", () => {
  it("metadata: name, labels (custom bot id sanitised), schedule hash", () => {
    expect(cronJob.apiVersion).toBe("batch/v1")
    expect(cronJob.kind).toBe("CronJob")
    expect(cronJob.metadata.name).toBe("schedule-schedule-1")
    expect(cronJob.metadata.namespace).toBe("the0")
    expect(cronJob.metadata.labels).toStrictEqual({
      [Label.scheduleId]: "schedule-1",
      [Label.customBotId]: "daily-report",
      [Label.runtime]: "python3.11",
      [Label.managedBy]: "the0-schedule-controller"
    })
    expect(cronJob.metadata.annotations?.[Annotation.scheduleHash]).toMatch(/^[0-9a-f]{16}$/)
    expect(Object.keys(cronJob.metadata.annotations ?? {})).toStrictEqual([Annotation.scheduleHash])
    expect(validateObject(cronJob)).toStrictEqual([])
  })

  it("spec: schedule, Forbid, history 3 and 1, backoffLimit 2, nothing else", () => {
    expect(cronJob.spec.schedule).toBe("0 9 * * *")
    expect(cronJob.spec.concurrencyPolicy).toBe("Forbid")
    expect(cronJob.spec.successfulJobsHistoryLimit).toBe(3)
    expect(cronJob.spec.failedJobsHistoryLimit).toBe(1)
    expect(cronJob.spec.timeZone).toBeUndefined()
    expect(cronJob.spec.startingDeadlineSeconds).toBeUndefined()
    expect(cronJob.spec.suspend).toBeUndefined()
    expect(jobSpec.backoffLimit).toBe(2)
    expect(jobSpec.ttlSecondsAfterFinished).toBeUndefined()
    expect(jobSpec.activeDeadlineSeconds).toBeUndefined()
  })

  it("job template Pod labels: schedule id, custom bot id, managed-by, bot id = schedule id", () => {
    expect(jobSpec.template.metadata).toStrictEqual({
      labels: {
        [Label.scheduleId]: "schedule-1",
        [Label.customBotId]: "daily-report",
        [Label.managedBy]: "the0-schedule-controller",
        [Label.botId]: "schedule-1"
      }
    })
  })

  it("the Pod: restart Never, restore then the sync sidecar, one bot container, no query sidecar", () => {
    const withQuery = right(
      scheduleCronJob(defaults, testSchedule({ entrypoints: { bot: "main.py", query: "query.py" } }))
    ).spec.jobTemplate.spec.template.spec
    for (const spec of [podSpec, withQuery]) {
      expect(spec.restartPolicy).toBe("Never")
      expect(spec.initContainers?.map((c) => [c.name, c.command?.slice(1), c.restartPolicy])).toStrictEqual([
        ["restore", ["daemon", "restore"], undefined],
        ["sync", ["daemon", "sync"], "Always"]
      ])
      expect(spec.initContainers?.[1]?.args).toStrictEqual([
        "--bot-id",
        "schedule-1",
        "--state-path",
        "/state",
        "--logs-path",
        "/var/the0/logs",
        "--readiness-port",
        "8079"
      ])
      expect(spec.containers.map((c) => c.name)).toStrictEqual(["bot"])
      expect(spec.automountServiceAccountToken).toBe(false)
      expect(spec.terminationGracePeriodSeconds).toBe(60)
      expect(spec.securityContext?.fsGroup).toBe(1000)
      expect(spec.volumes?.map((v) => v.name)).toStrictEqual(["bot-code", "bot-state", "the0", "tmp", "query"])
      expect(envNames(spec.containers[0])).not.toContain("QUERY_ENTRYPOINT")
    }
    expect(bot?.command).toStrictEqual([
      "/app/runtime",
      "execute",
      "--skip-sync",
      "--skip-query-server",
      "--skip-download"
    ])
    expect(bot?.workingDir).toBe("/bot")
    expect(mountPaths(bot)).toStrictEqual(["/bot", "/state", "/var/the0", "/tmp", "/query"])
    expect(bot?.image).toBe("runtime:latest")
    expect(bot?.resources?.limits).toStrictEqual({ memory: "768Mi", cpu: "500m" })
  })

  it("env: rows 1-9, BOT_TYPE=scheduled, IS_SCHEDULED=true; MinIO by secretKeyRef in restore and sync only", () => {
    expect(envNames(bot)).toStrictEqual([
      "BOT_ID",
      "CODE_FILE",
      "RUNTIME",
      "ENTRYPOINT",
      "BOT_CONFIG",
      "CODE_PATH",
      "STATE_PATH",
      "LOGS_PATH",
      "STATE_DIR",
      "BOT_TYPE",
      "IS_SCHEDULED"
    ])
    expect(envValue(bot, "BOT_ID")).toBe("schedule-1")
    expect(envValue(bot, "BOT_TYPE")).toBe("scheduled")
    expect(envValue(bot, "IS_SCHEDULED")).toBe("true")
    expect(envValue(bot, "BOT_CONFIG")).toBe('{"schedule":"0 9 * * *","symbol":"BTC/USD"}')
    for (const container of podSpec.initContainers ?? [])
      expect(envOf(container).find((e) => e.name === "MINIO_SECRET_KEY")?.valueFrom?.secretKeyRef).toStrictEqual({
        name: "the0-runtime-minio",
        key: "minio-secret-key"
      })
  })

  it("a 6-field schedule is converted; descriptors pass through", () => {
    expect(right(scheduleCronJob(defaults, testSchedule({}, "0 0 9 * * *"))).spec.schedule).toBe("0 9 * * *")
    expect(right(scheduleCronJob(defaults, testSchedule({}, "@daily"))).spec.schedule).toBe("@daily")
  })

  it("a new cron expression or version changes the hash; the same input keeps it", () => {
    const hash = (s: typeof cronJob) => s.metadata.annotations?.[Annotation.scheduleHash]
    expect(hash(right(scheduleCronJob(defaults, testSchedule())))).toBe(hash(cronJob))
    expect(hash(right(scheduleCronJob(defaults, testSchedule({}, "0 10 * * *"))))).not.toBe(hash(cronJob))
    // A new version, as the API writes it: a new code archive and the version in config.
    const upgraded = testSchedule({ version: "1.1.0", filePath: "user-1/test-bot/v1.1.0.zip" })
    expect(hash(right(scheduleCronJob(defaults, upgraded)))).not.toBe(hash(cronJob))
    const versionInConfig = testSchedule({ version: "1.1.0", config: { symbol: "BTC/USD", version: "1.1.0" } })
    expect(hash(right(scheduleCronJob(defaults, versionInConfig)))).not.toBe(hash(cronJob))
  })

  it("the hash covers the generated object only: a version that changes nothing in it changes nothing", () => {
    const hash = (s: typeof cronJob) => s.metadata.annotations?.[Annotation.scheduleHash]
    expect(hash(right(scheduleCronJob(defaults, testSchedule({ version: "9.9.9" }))))).toBe(hash(cronJob))
  })

  it("the custom bot id label is sanitised (the0 puts the raw name on CronJobs)", () => {
    const labeled = right(scheduleCronJob(defaults, testSchedule({ name: "Daily Report (v2)" })))
    expect(labeled.metadata.labels?.[Label.customBotId]).toBe("DailyReportv2")
    expect(labeled.spec.jobTemplate.spec.template.metadata?.labels?.[Label.customBotId]).toBe("DailyReportv2")
  })

  it("no cron expression", () => {
    for (const doc of [testSchedule({}, null), testSchedule({}, "   ")])
      expect(left(scheduleCronJob(defaults, doc))).toMatchObject({
        botId: "schedule-1",
        field: "config.schedule",
        message: "schedule schedule-1 has no cron expression"
      })
    expect(left(scheduleCronJob(defaults, testSchedule({ config: { schedule: 42 } }, null))).field).toBe(
      "config.schedule"
    )
  })

  it.each(["@every 1h", "61 * * * *", "* * * * * * *", "0 0 * * 8"])(
    "invalid cron %j names config.schedule",
    (cron) => {
      const error = left(scheduleCronJob(defaults, testSchedule({}, cron)))
      expect(error.field).toBe("config.schedule")
      expect(error.message).toContain(`invalid cron expression ${JSON.stringify(cron)}`)
    }
  )

  it("the bot rules apply to schedules too", () => {
    expect(left(scheduleCronJob(defaults, testSchedule({ id: "S".repeat(10) }))).field).toBe("id")
    expect(left(scheduleCronJob(defaults, testSchedule({ filePath: "test; rm -rf /" }))).field).toBe("custom.filePath")
    expect(left(scheduleCronJob(defaults, testSchedule({ runtime: "java17" }))).field).toBe("custom.config.runtime")
  })
})
