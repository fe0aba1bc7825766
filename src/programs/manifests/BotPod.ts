/**
 * The realtime bot Pod (docs/contracts.md, "Realtime bot Pod"): the `restore` init container (code and state onto the volumes), the
 * native `sync` sidecar, the `bot` container and, when the bot has a query entrypoint, the `query-server` container
 * on :9476. Only `restore` and `sync` hold the object-store credentials; the containers that run bot code hold
 * none, and no container sees another's processes (docs/operations.md, "MinIO credentials").
 */
import { Either } from "effect"
import type { Bot } from "../../domain/Bot.ts"
import type { Container, EnvVar, Pod } from "../../domain/Kube.ts"
import { Annotation, customBotIdLabel, Label, ManagedBy } from "../../domain/Labels.ts"
import { botQueryPort } from "../../domain/Query.ts"
import { botSpec } from "./BotSpec.ts"
import { withFingerprint } from "./Fingerprint.ts"
import { type ManifestError, validated } from "./ManifestError.ts"
import type { ManifestSettings } from "./ManifestSettings.ts"
import {
  baseEnv,
  botResources,
  ContainerName,
  executeCommand,
  labelValue,
  podSpec,
  queryPortName,
  queryServerResources,
  restoreContainer,
  runtimeContainer,
  standardMounts,
  syncSidecar
} from "./PodParts.ts"

export const botPodName = (botId: string): string => `bot-${botId}`

/** The Pod for a realtime bot, fingerprinted in `the0.app/config-hash`. */
export const botPod = (settings: ManifestSettings, doc: Bot): Either.Either<Pod, ManifestError> =>
  Either.gen(function* () {
    const spec = yield* botSpec(doc)
    const resources = yield* botResources(spec)
    const env: ReadonlyArray<EnvVar> = [
      ...baseEnv(spec, spec.entrypoint),
      { name: "BOT_TYPE", value: "realtime" },
      ...(spec.queryEntrypoint === undefined ? [] : [{ name: "QUERY_ENTRYPOINT", value: spec.queryEntrypoint }])
    ]
    const bot: Container = runtimeContainer(settings, {
      name: ContainerName.bot,
      command: executeCommand("--skip-sync", "--skip-query-server"),
      workingDir: "/bot",
      env,
      resources,
      volumeMounts: standardMounts
    })
    const queryServer: ReadonlyArray<Container> =
      spec.queryEntrypoint === undefined
        ? []
        : [
            runtimeContainer(settings, {
              name: ContainerName.queryServer,
              command: executeCommand("--query-server-only"),
              env,
              ports: [{ name: queryPortName, containerPort: botQueryPort, protocol: "TCP" }],
              resources: queryServerResources,
              volumeMounts: standardMounts
            })
          ]
    const pod: Pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: botPodName(spec.id),
        namespace: settings.namespace,
        labels: {
          [Label.botId]: labelValue(spec.id),
          [Label.customBotId]: labelValue(customBotIdLabel(spec.customBotName, spec.id)),
          [Label.customBotVersion]: labelValue(spec.version),
          [Label.runtime]: labelValue(spec.runtime),
          [Label.managedBy]: ManagedBy.botController
        }
      },
      spec: podSpec(settings, "Always", {
        initContainers: [restoreContainer(settings, spec, resources), syncSidecar(settings, spec.id)],
        containers: [bot, ...queryServer]
      })
    }
    return yield* validated(spec.id, withFingerprint(pod, Annotation.configHash))
  })
