/**
 * What each controller owns: the kind, its labels and annotations, the collection it follows, how it builds
 * the object from a document, and how it changes and deletes it.
 */
import { Either } from "effect"
import { type Bot, type BotSchedule, decodeBot, decodeBotSchedule } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { CronJob, KindMap, Pod } from "../../domain/Kube.ts"
import { Annotation, Label, ManagedBy } from "../../domain/Labels.ts"
import type { BotStoreService, DocumentCollection } from "../../services/BotStore.ts"
import type { DeleteOptions } from "../../services/KubeApi.ts"
import { botPod } from "../manifests/BotPod.ts"
import { canonicalJson, sha256Hex16 } from "../manifests/Fingerprint.ts"
import type { ManifestError } from "../manifests/ManifestError.ts"
import type { ManifestSettings } from "../manifests/ManifestSettings.ts"
import { scheduleCronJob } from "../manifests/ScheduleCronJob.ts"

export interface OwnedKind<K extends "Pod" | "CronJob", D extends Bot> {
  readonly controller: "bot" | "schedule"
  readonly kind: K
  readonly collectionName: string
  readonly managedBy: string
  readonly idLabel: string
  readonly fingerprintAnnotation: string
  readonly onChange: "recreate" | "update"
  readonly deleteOptions: DeleteOptions
  readonly collection: (store: BotStoreService) => DocumentCollection<D>
  /** A document of that collection as stored (what ingest hands over with a notification). */
  readonly decode: (raw: unknown) => Either.Either<D, DocumentDecodeError>
  /** The object the controller creates for a document: the generated manifest plus the document hash. */
  readonly build: (settings: ManifestSettings, document: D) => Either.Either<KindMap[K], ManifestError>
  /** What the informer keeps of each observed object (docs/operations.md, "Controller footprint"). */
  readonly keep?: (object: KindMap[K]) => KindMap[K]
}

/** Hash of the document alone, to tell a template-only change from a change of the bot. */
export const documentHash = (document: Bot): string =>
  sha256Hex16(canonicalJson({ id: document.id, config: document.config ?? null, custom: document.custom ?? null }))

const withDocumentHash = <O extends Pod | CronJob>(object: O, document: Bot): O => ({
  ...object,
  metadata: {
    ...object.metadata,
    annotations: { ...object.metadata.annotations, [Annotation.documentHash]: documentHash(document) }
  }
})

/**
 * What the controller and the QueryServer read of a bot Pod: its metadata (labels, annotations with the
 * fingerprints, deletion), its status (phase, IP, container readiness) and its containers' names and ports. The
 * rest of the spec is ours (its fingerprint is in an annotation) and is most of a Pod's size, so the cache drops it.
 */
export const podEssentials = (pod: Pod): Pod => ({
  apiVersion: pod.apiVersion,
  kind: pod.kind,
  metadata: pod.metadata,
  spec: {
    containers: pod.spec.containers.map((c) => ({
      name: c.name,
      image: c.image,
      ...(c.ports === undefined ? {} : { ports: c.ports })
    })),
    ...(pod.spec.nodeName === undefined ? {} : { nodeName: pod.spec.nodeName })
  },
  ...(pod.status === undefined ? {} : { status: pod.status })
})

export const botPods: OwnedKind<"Pod", Bot> = {
  controller: "bot",
  kind: "Pod",
  collectionName: "bot_runner.bots",
  managedBy: ManagedBy.botController,
  idLabel: Label.botId,
  fingerprintAnnotation: Annotation.configHash,
  onChange: "recreate",
  deleteOptions: {},
  collection: (store) => store.bots,
  decode: decodeBot,
  build: (settings, document) => Either.map(botPod(settings, document), (pod) => withDocumentHash(pod, document)),
  keep: podEssentials
}

export const scheduleCronJobs: OwnedKind<"CronJob", BotSchedule> = {
  controller: "schedule",
  kind: "CronJob",
  collectionName: "bot_scheduler.bot_schedules",
  managedBy: ManagedBy.scheduleController,
  idLabel: Label.scheduleId,
  fingerprintAnnotation: Annotation.scheduleHash,
  onChange: "update",
  deleteOptions: { propagationPolicy: "Foreground" },
  collection: (store) => store.schedules,
  decode: decodeBotSchedule,
  build: (settings, document) =>
    Either.map(scheduleCronJob(settings, document), (cronJob) => withDocumentHash(cronJob, document))
}
