/**
 * The roll budget (docs/architecture.md, "Reconcile"): at most `limit` keys at a time have their object deleted to be
 * replaced by a template change or a migration from the0; the others wait for a slot. A key holds its slot from the
 * plan that deletes its object until its replacement runs.
 */
import type { Action, Desired, Owned } from "./Plan.ts"
import { rolledReasons } from "./Plan.ts"

export interface RollBudget {
  /** Whether the key may start (or continue) a roll now. */
  readonly allowed: (id: string) => boolean
  /**
   * Takes the key's slot when its plan deletes to roll. Taken with the plan, before any call, so that workers
   * planning meanwhile see it spent.
   */
  readonly take: (id: string, actions: ReadonlyArray<Action<Owned>>) => void
  /** The key's replacement waits for a slot: it is queued again when one frees. */
  readonly wait: (id: string) => void
  /**
   * Frees the key's slot if it rolls and `isOver` (see `rollOver`); returns the keys to queue again: every waiting one
   * when a slot was freed, none otherwise.
   */
  readonly settle: (id: string, isOver: () => boolean) => ReadonlyArray<string>
  readonly isRolling: (id: string) => boolean
  readonly rolling: () => ReadonlyArray<string>
  /** Forgets the keys not kept (their document and object are gone). */
  readonly prune: (keep: (id: string) => boolean) => void
}

export const make = (limit: number): RollBudget => {
  const rolling = new Set<string>()
  const waiting = new Set<string>()
  return {
    allowed: (id) => rolling.has(id) || rolling.size < limit,
    take: (id, actions) => {
      if (actions.some((a) => a._tag === "Delete" && rolledReasons.has(a.reason))) rolling.add(id)
    },
    wait: (id) => {
      waiting.add(id)
    },
    settle: (id, isOver) => {
      if (!rolling.has(id) || !isOver()) return []
      rolling.delete(id)
      const next = [...waiting]
      waiting.clear()
      return next
    },
    isRolling: (id) => rolling.has(id),
    rolling: () => [...rolling],
    prune: (keep) => {
      for (const id of rolling) if (!keep(id)) rolling.delete(id)
      for (const id of waiting) if (!keep(id)) waiting.delete(id)
    }
  }
}

/**
 * A roll is over once the key runs its desired object (Running, for a Pod) or wants nothing. An Invalid or Unknown
 * document ends it too: nothing will replace the object until the document changes.
 */
export const rollOver = <O extends Owned>(
  desired: Desired<O>,
  observed: ReadonlyArray<O>,
  fingerprintAnnotation: string
): boolean =>
  desired._tag !== "Present" ||
  observed.some(
    (o) =>
      o.metadata.deletionTimestamp === undefined &&
      o.metadata.annotations?.[fingerprintAnnotation] === desired.fingerprint &&
      (o.kind !== "Pod" || o.status?.phase === "Running")
  )
