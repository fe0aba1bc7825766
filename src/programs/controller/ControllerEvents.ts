/**
 * Which Event each thing a controller does becomes (docs/operations.md, "Kubernetes Events"): its reason, type,
 * action and note, on the object it is about. Pure; the EventRecorder writes them.
 */
import { kindInfo, type ObjectReference } from "../../domain/Kube.ts"
import type { ManifestError } from "../manifests/ManifestError.ts"
import type { EventInput } from "./EventRecorder.ts"
import type { DeleteReason } from "./Plan.ts"

/** What the controller knows about a key whose object it is about to delete. */
export interface Subject {
  readonly kind: "Pod" | "CronJob"
  /** `bot` or `schedule`. */
  readonly noun: string
  readonly id: string
}

/** Why a key wants nothing running: its document was deleted, is disabled, or is not among the enabled ones. */
export type Absence = "deleted" | "disabled" | "unlisted"

/** Deletions followed by a create of the same key's object. */
export type ReplaceReason = Extract<DeleteReason, "changed" | "template" | "terminal" | "migration">

export const isReplace = (reason: DeleteReason): reason is ReplaceReason =>
  reason === "changed" || reason === "template" || reason === "terminal" || reason === "migration"

/** What a recreated object replaced: the reason its predecessor was deleted, with the phase it ended in. */
export interface Replaced {
  readonly reason: ReplaceReason
  readonly phase?: string
}

export const reference = (
  kind: "Pod" | "CronJob" | "Lease",
  namespace: string,
  name: string,
  uid?: string
): ObjectReference => ({
  apiVersion: kindInfo[kind].apiVersion,
  kind,
  name,
  namespace,
  ...(uid === undefined ? {} : { uid })
})

const why = (replaced: Replaced, noun: string): string => {
  switch (replaced.reason) {
    case "changed":
      return `the ${noun}'s document changed`
    case "template":
      return "the template changed (roll-out)"
    case "terminal":
      return `the previous Pod ended (phase ${replaced.phase ?? "unknown"})`
    case "migration":
      return "it replaces the Pod made by the0's controller"
  }
}

/** A create succeeded: `Created`, or `Recreated` with the reason when it replaces an object we deleted. */
export const created = (s: Subject, object: ObjectReference, replaced: Replaced | undefined): EventInput =>
  replaced === undefined
    ? {
        regarding: object,
        type: "Normal",
        reason: "Created",
        action: "Create",
        note: `Created ${s.kind} ${object.name} for ${s.noun} ${s.id}`
      }
    : {
        regarding: object,
        type: "Normal",
        reason: "Recreated",
        action: "Create",
        note: `Recreated ${s.kind} ${object.name} for ${s.noun} ${s.id}: ${why(replaced, s.noun)}`
      }

/** A CronJob was replaced in place with what its document and the template make now. */
export const updated = (s: Subject, object: ObjectReference): EventInput => ({
  regarding: object,
  type: "Normal",
  reason: "Updated",
  action: "Update",
  note: `Updated ${s.kind} ${object.name} to ${s.noun} ${s.id}'s document and the current template`
})

const orphanEvent = (s: Subject, absence: Absence): Pick<EventInput, "reason" | "note"> => {
  switch (absence) {
    case "disabled":
      return { reason: "Disabled", note: `${s.noun} ${s.id} is disabled; deleting its ${s.kind}` }
    case "deleted":
      return { reason: "Orphaned", note: `${s.noun} ${s.id}'s document was deleted; deleting its ${s.kind}` }
    case "unlisted":
      return {
        reason: "Orphaned",
        note: `${s.noun} ${s.id} has no enabled document (deleted or disabled); deleting its ${s.kind}`
      }
  }
}

/** A delete succeeded, on the object deleted. */
export const deleted = (
  s: Subject,
  object: ObjectReference,
  reason: DeleteReason,
  detail: { readonly absence: Absence; readonly phase?: string; readonly rollLimit: number }
): EventInput => {
  const base = { regarding: object, action: "Delete" } as const
  switch (reason) {
    case "orphan":
      return { ...base, type: "Normal", ...orphanEvent(s, detail.absence) }
    case "changed":
      return {
        ...base,
        type: "Normal",
        reason: "ConfigChanged",
        note: `${s.noun} ${s.id}'s document changed; deleting the ${s.kind} to recreate it`
      }
    case "template":
      return {
        ...base,
        type: "Normal",
        reason: "TemplateChanged",
        note: `The ${s.kind} template changed; deleting the ${s.kind} to recreate it (${detail.rollLimit} at a time)`
      }
    case "terminal":
      return {
        ...base,
        type: "Warning",
        reason: "TerminalPhase",
        note: `The Pod ended (phase ${detail.phase ?? "unknown"}); deleting it to recreate it`
      }
    case "migration":
      return {
        ...base,
        type: "Normal",
        reason: "Migrating",
        note: `Made by the0's controller; deleting it to recreate it (${detail.rollLimit} at a time)`
      }
    case "duplicate":
      return {
        ...base,
        type: "Normal",
        reason: "Duplicate",
        note: `Another ${s.kind} runs ${s.noun} ${s.id}; deleting this one`
      }
  }
}

/** The document cannot be built into an object: on the object that keeps running. */
export const invalid = (s: Subject, object: ObjectReference, error: ManifestError): EventInput => ({
  regarding: object,
  type: "Warning",
  reason: "InvalidDocument",
  action: "Build",
  note: `Cannot build a ${s.kind} from ${s.noun} ${s.id}'s document (the running one is kept): ${error.field}: ${error.message}`
})

/** A replacement waits for a roll-out slot: on the object that keeps running meanwhile. */
export const rollWaiting = (s: Subject, object: ObjectReference, rollLimit: number): EventInput => ({
  regarding: object,
  type: "Normal",
  reason: "RolloutWaiting",
  action: "Recreate",
  note: `Waiting for a roll-out slot to recreate this ${s.kind} (${rollLimit} are recreated at a time)`
})

/** A resync refused to delete most of the objects: on the leader's Lease. */
export const massDeletionRefused = (
  lease: ObjectReference,
  kind: string,
  collection: string,
  absent: number,
  observed: number
): EventInput => ({
  regarding: lease,
  type: "Warning",
  reason: "MassDeletionRefused",
  action: "Delete",
  note:
    `Refusing to delete ${absent} of ${observed} managed ${kind}s whose documents are gone from ${collection}; ` +
    "check the database, or restart with --allow-mass-delete to proceed"
})
