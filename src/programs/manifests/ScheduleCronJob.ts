/**
 * The CronJob of a scheduled bot (docs/contracts.md, "Scheduled CronJob"): `Forbid`, history 3 and 1, `backoffLimit: 2`, the
 * schedule converted to 5 fields (docs/contracts.md, "Cron expressions") and checked as the API server checks it. Each run's Pod: the `restore` init
 * container, the native `sync` sidecar (the kubelet stops it after the `bot` container has ended, and it then
 * uploads the final state and logs) and the `bot` container, which holds no credentials (docs/operations.md,
 * "MinIO credentials").
 */
import { Either } from "effect"
import type { BotSchedule } from "../../domain/Bot.ts"
import { cronExpression } from "../../domain/Bot.ts"
import type { CronJob } from "../../domain/Kube.ts"
import { maxNameLength } from "../../domain/KubeValidation.ts"
import { Annotation, customBotIdLabel, Label, ManagedBy } from "../../domain/Labels.ts"
import { botSpec } from "./BotSpec.ts"
import { kubernetesSchedule } from "./Cron.ts"
import { withFingerprint } from "./Fingerprint.ts"
import { ManifestError, validated } from "./ManifestError.ts"
import type { ManifestSettings } from "./ManifestSettings.ts"
import {
  baseEnv,
  botResources,
  ContainerName,
  executeCommand,
  labelValue,
  podSpec,
  restoreContainer,
  runtimeContainer,
  standardMounts,
  syncSidecar
} from "./PodParts.ts"

/** the0's `generateCronJobName`: `schedule-<id>` cut to 52 characters, trailing `-` removed. */
export const cronJobName = (scheduleId: string): string =>
  `schedule-${scheduleId}`.slice(0, maxNameLength.CronJob).replace(/-+$/, "")

/** The CronJob for a schedule, fingerprinted in `the0.app/schedule-hash`. */
export const scheduleCronJob = (
  settings: ManifestSettings,
  schedule: BotSchedule
): Either.Either<CronJob, ManifestError> =>
  Either.gen(function* () {
    const expression = cronExpression(schedule)
    if (expression === undefined)
      return yield* Either.left(
        new ManifestError({
          botId: schedule.id,
          field: "config.schedule",
          message: `schedule ${schedule.id} has no cron expression`
        })
      )
    const cron = yield* kubernetesSchedule(expression).pipe(
      Either.mapLeft(
        (error) =>
          new ManifestError({
            botId: schedule.id,
            field: "config.schedule",
            message: `invalid cron expression ${JSON.stringify(expression)}: ${error.message}`
          })
      )
    )
    const spec = yield* botSpec(schedule)
    const resources = yield* botResources(spec)
    const customBotId = labelValue(customBotIdLabel(spec.customBotName, spec.id))
    const bot = runtimeContainer(settings, {
      name: ContainerName.bot,
      command: executeCommand("--skip-sync", "--skip-query-server"),
      workingDir: "/bot",
      env: [
        ...baseEnv(spec, spec.entrypoint),
        { name: "BOT_TYPE", value: "scheduled" },
        { name: "IS_SCHEDULED", value: "true" }
      ],
      resources,
      volumeMounts: standardMounts
    })
    const cronJob: CronJob = {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: {
        name: cronJobName(spec.id),
        namespace: settings.namespace,
        labels: {
          [Label.scheduleId]: labelValue(spec.id),
          [Label.customBotId]: customBotId,
          [Label.runtime]: labelValue(spec.runtime),
          [Label.managedBy]: ManagedBy.scheduleController
        }
      },
      spec: {
        schedule: cron,
        concurrencyPolicy: "Forbid",
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 1,
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            template: {
              metadata: {
                labels: {
                  [Label.scheduleId]: labelValue(spec.id),
                  [Label.customBotId]: customBotId,
                  [Label.managedBy]: ManagedBy.scheduleController,
                  [Label.botId]: labelValue(spec.id)
                }
              },
              spec: podSpec(settings, "Never", {
                initContainers: [restoreContainer(settings, spec, resources), syncSidecar(settings, spec.id)],
                containers: [bot]
              })
            }
          }
        }
      }
    }
    return yield* validated(spec.id, withFingerprint(cronJob, Annotation.scheduleHash))
  })
