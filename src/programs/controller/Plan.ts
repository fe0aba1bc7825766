/**
 * The reconcile rules (docs/architecture.md, "Reconcile") as a pure function from what is desired and what is
 * observed for one key to the actions that move the world towards it. Everything that decides lives here.
 */
import type { CronJob, Pod } from "../../domain/Kube.ts"
import { Annotation } from "../../domain/Labels.ts"
import type { ManifestError } from "../manifests/ManifestError.ts"

export type Owned = Pod | CronJob

export type Desired<O extends Owned> =
  /** No document, or a disabled one: nothing should run. */
  | { readonly _tag: "Absent" }
  /** The document could not be read or decoded: touch nothing. */
  | { readonly _tag: "Unknown"; readonly reason: string }
  /** The document exists but no valid object can be built from it: keep what runs, report. */
  | { readonly _tag: "Invalid"; readonly error: ManifestError }
  | Present<O>

/**
 * A valid object can be built. The plan compares its two hashes only; the object itself is held only from a read or
 * a notification until it is sent (docs/architecture.md, "Reconcile"), and a plan that must send it while it is not
 * held asks for a `Read`.
 */
export interface Present<O extends Owned> {
  readonly _tag: "Present"
  /** The object's fingerprint annotation. */
  readonly fingerprint: string | undefined
  /** The object's document-hash annotation. */
  readonly documentHash: string | undefined
  readonly object?: O
}

export type DeleteReason = "orphan" | "changed" | "template" | "migration" | "terminal" | "duplicate"
/** Deletions that take one of the roll limit's slots until the replacement runs. */
export const rolledReasons: ReadonlySet<DeleteReason> = new Set(["template", "migration"])
export type WaitReason = "terminating" | "roll-limit" | "mass-delete-guard"

export type Action<O extends Owned> =
  | { readonly _tag: "Create"; readonly object: O }
  | { readonly _tag: "Update"; readonly object: O }
  | { readonly _tag: "Delete"; readonly name: string; readonly uid: string; readonly reason: DeleteReason }
  | { readonly _tag: "Wait"; readonly reason: WaitReason }
  | { readonly _tag: "Report"; readonly error: ManifestError }
  /** The object must be sent and is not held: read the document, build the object, plan again. */
  | { readonly _tag: "Read" }

export interface PlanInput<O extends Owned> {
  readonly desired: Desired<O>
  /** Our objects carrying this key's id label. */
  readonly observed: ReadonlyArray<O>
  /** `recreate` for Pods (immutable), `update` for CronJobs (replaced in place). */
  readonly onChange: "recreate" | "update"
  readonly fingerprintAnnotation: string
  /** False until a full desired read has confirmed absences, and while a mass deletion is refused. */
  readonly orphanDeletesAllowed: boolean
  /**
   * False when the roll-out budget is spent: a template-only change, or the replacement of a Pod made by the0
   * (no document hash), must wait its turn.
   */
  readonly rollAllowed: boolean
}

const terminalPhases = new Set(["Succeeded", "Failed", "Unknown"])

const isTerminating = (object: Owned): boolean => object.metadata.deletionTimestamp !== undefined

const isTerminal = (object: Owned): boolean =>
  object.kind === "Pod" && object.status?.phase !== undefined && terminalPhases.has(object.status.phase)

const annotation = (object: Owned, key: string): string | undefined => object.metadata.annotations?.[key]

/** What the plan needs of an object built for a key, with the object. */
export const present = <O extends Owned>(object: O, fingerprintAnnotation: string): Present<O> => ({
  _tag: "Present",
  fingerprint: annotation(object, fingerprintAnnotation),
  documentHash: annotation(object, Annotation.documentHash),
  object
})

/** The same without the object: what is kept of a key at rest. */
export const withoutObject = <O extends Owned>(desired: Desired<O>): Desired<O> =>
  desired._tag === "Present"
    ? { _tag: "Present", fingerprint: desired.fingerprint, documentHash: desired.documentHash }
    : desired

/** Made by the0's controller: ours always carry the document hash. */
export const madeByThe0 = (object: Owned): boolean => annotation(object, Annotation.documentHash) === undefined

const remove = <O extends Owned>(object: O, reason: DeleteReason): Action<O> => ({
  _tag: "Delete",
  name: object.metadata.name,
  uid: object.metadata.uid ?? "",
  reason
})

export const plan = <O extends Owned>(input: PlanInput<O>): ReadonlyArray<Action<O>> => {
  const { desired, observed } = input
  const live = observed.filter((o) => !isTerminating(o))
  switch (desired._tag) {
    case "Unknown":
      return []
    case "Invalid":
      return [{ _tag: "Report", error: desired.error }]
    case "Absent":
      if (live.length === 0) return []
      return input.orphanDeletesAllowed
        ? live.map((o) => remove(o, "orphan"))
        : [{ _tag: "Wait", reason: "mass-delete-guard" }]
    case "Present": {
      const { object } = desired
      if (live.length === 0) {
        if (observed.length > 0) return [{ _tag: "Wait", reason: "terminating" }]
        return [object === undefined ? { _tag: "Read" } : { _tag: "Create", object }]
      }
      const matches = (o: O) => annotation(o, input.fingerprintAnnotation) === desired.fingerprint
      const keep = live.find((o) => matches(o) && !isTerminal(o)) ?? live[0]
      if (keep === undefined) return []
      const duplicates = live.filter((o) => o !== keep).map((o) => remove(o, "duplicate"))
      if (matches(keep)) return isTerminal(keep) ? [...duplicates, remove(keep, "terminal")] : duplicates
      const templateOnly =
        annotation(keep, Annotation.documentHash) !== undefined &&
        annotation(keep, Annotation.documentHash) === desired.documentHash
      if (input.onChange === "update") {
        if (object === undefined) return [{ _tag: "Read" }]
        const update = { ...object, metadata: { ...object.metadata, resourceVersion: keep.metadata.resourceVersion } }
        return [...duplicates, { _tag: "Update", object: update }]
      }
      if (isTerminal(keep)) return [...duplicates, remove(keep, "terminal")]
      const paced = templateOnly ? "template" : madeByThe0(keep) ? "migration" : undefined
      if (paced === undefined) return [...duplicates, remove(keep, "changed")]
      return [...duplicates, input.rollAllowed ? remove(keep, paced) : { _tag: "Wait", reason: "roll-limit" }]
    }
  }
}
