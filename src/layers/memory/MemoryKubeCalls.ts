/**
 * The fake cluster's call counter: how many calls each verb of the faultable API got, for tests that check a
 * reconcile made no writes and benchmarks that count API reads.
 */

export type Verb =
  | "get"
  | "list"
  | "create"
  | "update"
  | "patchStatus"
  | "delete"
  | "watch"
  | "podLogs"
  | "createEvent"
  | "patchEventSeries"

const verbs: ReadonlyArray<Verb> = [
  "get",
  "list",
  "create",
  "update",
  "patchStatus",
  "delete",
  "watch",
  "podLogs",
  "createEvent",
  "patchEventSeries"
]

const zero = (): Record<Verb, number> => Object.fromEntries(verbs.map((v) => [v, 0])) as Record<Verb, number>

export class CallCounts {
  private counts = zero()

  count(verb: Verb): void {
    this.counts[verb]++
  }

  /** Every verb, zero included. */
  snapshot(): Readonly<Record<Verb, number>> {
    return { ...this.counts }
  }

  reset(): void {
    this.counts = zero()
  }
}
