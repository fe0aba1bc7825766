/**
 * The one-shot query Job (docs/contracts.md, "Query Job"): the `restore` init container, the native `result` sidecar that
 * uploads `/query/result.json` to the request's key once the query has ended, and the `bot` container that runs the
 * query entrypoint (or the bot entrypoint when there is none) with `QUERY_PATH` and `QUERY_PARAMS` and no
 * credentials (docs/operations.md, "MinIO credentials"), `backoffLimit: 0`,
 * cleaned up `ttlSecondsAfterFinished` after it ends. Unlike the0, it has `activeDeadlineSeconds`: the query's
 * timeout plus `queryJobDeadlineMarginSec`, so that a Job the QueryServer could not delete (it crashed, the API was
 * down) is stopped by Kubernetes instead of running on.
 */
import { Either } from "effect"
import type { Bot, JsonObject } from "../../domain/Bot.ts"
import type { Job } from "../../domain/Kube.ts"
import { maxNameLength } from "../../domain/KubeValidation.ts"
import { customBotIdLabel, Label, ManagedBy } from "../../domain/Labels.ts"
import { normaliseQueryPath } from "../../domain/Query.ts"
import { botSpec } from "./BotSpec.ts"
import { goJson } from "./Fingerprint.ts"
import { type ManifestError, validated } from "./ManifestError.ts"
import type { ManifestSettings } from "./ManifestSettings.ts"
import {
  baseEnv,
  botResources,
  ContainerName,
  executeCommand,
  labelValue,
  podSpec,
  restoreContainer,
  resultSidecar,
  runtimeContainer,
  standardMounts
} from "./PodParts.ts"

export interface QueryJobRequest {
  /** The query path; `/` is prefixed when missing (docs/contracts.md, "The :9477 API"). */
  readonly queryPath: string
  /** `QUERY_PARAMS`, set only when there is at least one parameter. */
  readonly params?: JsonObject | null | undefined
  /** `QUERY_RESULT_KEY`: where in the query-results bucket the Pod uploads `/query/result.json`. */
  readonly resultKey: string
  /** What makes this Job's name unique (lower-case letters, digits, `-`), kept whole in the name. */
  readonly suffix: string
  /** The query's timeout in seconds (the QueryServer's effective `timeout_sec`). */
  readonly timeoutSec: number
}

/** Seconds a query Job may run beyond its query's timeout (Pod start, the result upload) before Kubernetes stops it. */
export const queryJobDeadlineMarginSec = 30

const prefix = "query-"

/**
 * `query-<botId>-<suffix>` in at most 63 characters: the bot id is shortened when it must be, never the suffix,
 * so that two Jobs with different suffixes never share a name.
 */
export const queryJobName = (botId: string, suffix: string): string => {
  const room = maxNameLength.Job - prefix.length - 1 - suffix.length
  const id = botId.slice(0, Math.max(room, 0)).replace(/-+$/, "")
  return id === "" ? `${prefix}${suffix}` : `${prefix}${id}-${suffix}`
}

/** The query Job for a bot or schedule document. */
export const queryJob = (
  settings: ManifestSettings,
  doc: Bot,
  request: QueryJobRequest
): Either.Either<Job, ManifestError> =>
  Either.gen(function* () {
    const spec = yield* botSpec(doc)
    const resources = yield* botResources(spec)
    const params = request.params ?? {}
    const bot = runtimeContainer(settings, {
      name: ContainerName.bot,
      command: executeCommand("--skip-sync", "--skip-query-server"),
      workingDir: "/bot",
      env: [
        ...baseEnv(spec, spec.queryEntrypoint ?? spec.entrypoint),
        { name: "QUERY_PATH", value: normaliseQueryPath(request.queryPath) },
        ...(Object.keys(params).length === 0 ? [] : [{ name: "QUERY_PARAMS", value: goJson(params) }])
      ],
      resources,
      volumeMounts: standardMounts
    })
    const job: Job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: queryJobName(spec.id, request.suffix),
        namespace: settings.namespace,
        labels: {
          [Label.managedBy]: ManagedBy.queryHandler,
          [Label.botId]: labelValue(spec.id),
          [Label.query]: "true"
        }
      },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: Math.ceil(request.timeoutSec) + queryJobDeadlineMarginSec,
        ttlSecondsAfterFinished: settings.queryJobTtlSeconds,
        template: {
          metadata: {
            name: `${prefix}${spec.id}`,
            labels: {
              [Label.botId]: labelValue(spec.id),
              [Label.customBotId]: labelValue(customBotIdLabel(spec.customBotName, spec.id)),
              [Label.customBotVersion]: labelValue(spec.version),
              [Label.runtime]: labelValue(spec.runtime),
              [Label.managedBy]: ManagedBy.queryHandler
            }
          },
          spec: podSpec(settings, "Never", {
            initContainers: [restoreContainer(settings, spec, resources), resultSidecar(settings, request.resultKey)],
            containers: [bot]
          })
        }
      }
    }
    return yield* validated(spec.id, job)
  })
