/**
 * What the bots and schedules sections of `the0-runtime status` are built from (docs/operations.md,
 * "`the0-runtime status`"): the documents by id, the controller's objects by the id label they carry, and the
 * section itself, its items sorted by id and counted by state.
 */
import { Either } from "effect"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { CronJob, Pod } from "../../domain/Kube.ts"

export interface Section<S extends string, I> {
  /** Documents, decoded or not, each id once. */
  readonly desired: number
  /** Every state, in the order the section lists them, zero included. */
  readonly counts: Readonly<Record<S, number>>
  /** By id. */
  readonly items: ReadonlyArray<I>
}

export interface Documents<D> {
  /** The first document of each id. */
  readonly decoded: ReadonlyMap<string, D>
  /** Why the documents of an id do not decode (the last one's reason). */
  readonly invalid: ReadonlyMap<string, string>
}

/** Documents by id (the first of a duplicated id), and the ids of those that do not decode with why. */
export const documents = <D extends { readonly id: string }>(
  results: ReadonlyArray<Either.Either<D, DocumentDecodeError>>
): Documents<D> => {
  const decoded = new Map<string, D>()
  const invalid = new Map<string, string>()
  for (const result of results)
    Either.match(result, {
      onLeft: (error) => invalid.set(error.documentId, error.message),
      onRight: (document) => {
        if (!decoded.has(document.id)) decoded.set(document.id, document)
      }
    })
  return { decoded, invalid }
}

/** Objects by the value of `label`; those without it are left out. */
export const byLabel = <O extends Pod | CronJob>(objects: ReadonlyArray<O>, label: string) => {
  const map = new Map<string, Array<O>>()
  for (const o of objects) {
    const id = o.metadata.labels?.[label]
    if (id !== undefined) map.set(id, [...(map.get(id) ?? []), o])
  }
  return map
}

/** An id counts once as desired, whether its documents decode or not. */
export const section = <S extends string, I extends { readonly id: string; readonly state: S }>(
  states: ReadonlyArray<S>,
  desired: Documents<unknown>,
  items: ReadonlyArray<I>
): Section<S, I> => {
  const counts = Object.fromEntries(states.map((s) => [s, 0])) as Record<S, number>
  for (const item of items) counts[item.state]++
  return {
    desired: desired.decoded.size + [...desired.invalid.keys()].filter((id) => !desired.decoded.has(id)).length,
    counts,
    items: [...items].sort((a, b) => a.id.localeCompare(b.id))
  }
}
