/**
 * The fake cluster's fault injector: latency before every call of the faultable API, and the next calls of a verb
 * (and kind) failing with a given status, as the API server or the network would fail them.
 */
import { Effect, Stream } from "effect"
import type { KubeApiError, KubeApiService, RequestKind } from "../../services/KubeApi.ts"
import { defaultReason, statusError } from "../../services/KubeStatus.ts"
import type { Verb } from "./MemoryKubeCalls.ts"

export interface Fault {
  readonly verb: Verb
  /** Every kind when absent. */
  readonly kind?: RequestKind
  readonly times: number
  readonly code: number
  /** The code's usual reason when absent. */
  readonly reason?: string
}

export class FaultInjector {
  private readonly faults: Array<Fault & { remaining: number }> = []
  private latencyMillis = 0

  failNext(fault: Fault): void {
    this.faults.push({ ...fault, remaining: fault.times })
  }

  /** Forgets every pending fault and the latency. */
  clear(): void {
    this.faults.length = 0
    this.latencyMillis = 0
  }

  setLatency(millis: number): void {
    this.latencyMillis = millis
  }

  /** Before a call: the latency, then the first pending fault of the verb that matches the kind, used up once. */
  readonly before = (verb: Verb, kind: RequestKind): Effect.Effect<void, KubeApiError> =>
    Effect.gen(this, function* () {
      if (this.latencyMillis > 0) yield* Effect.sleep(`${this.latencyMillis} millis`)
      const fault = this.faults.find(
        (f) => f.verb === verb && (f.kind === undefined || f.kind === kind) && f.remaining > 0
      )
      if (fault !== undefined) {
        fault.remaining--
        return yield* Effect.fail(
          statusError({
            kind,
            name: undefined,
            code: fault.code,
            reason: fault.reason ?? defaultReason(fault.code),
            detail: "injected fault"
          })
        )
      }
    })
}

/**
 * The API as clients see it: `before` runs ahead of each call (counting, latency, faults) and may fail it instead.
 * Watches come from `watch`, which opens them as faultable (they can be dropped or silenced).
 */
export const guarded = (
  direct: KubeApiService,
  watch: KubeApiService["watch"],
  before: (verb: Verb, kind: RequestKind) => Effect.Effect<void, KubeApiError>
): KubeApiService => ({
  get: (kind, ns, name) => Effect.zipRight(before("get", kind), direct.get(kind, ns, name)),
  list: (kind, ns, o) => Effect.zipRight(before("list", kind), direct.list(kind, ns, o)),
  create: (kind, ns, obj, o) => Effect.zipRight(before("create", kind), direct.create(kind, ns, obj, o)),
  update: (kind, ns, obj, o) => Effect.zipRight(before("update", kind), direct.update(kind, ns, obj, o)),
  patchStatus: (kind, ns, name, s) =>
    Effect.zipRight(before("patchStatus", kind), direct.patchStatus(kind, ns, name, s)),
  delete: (kind, ns, name, o) => Effect.zipRight(before("delete", kind), direct.delete(kind, ns, name, o)),
  watch: (kind, ns, o) => Stream.unwrap(Effect.as(before("watch", kind), watch(kind, ns, o))),
  podLogs: (ns, name, o) => Effect.zipRight(before("podLogs", "Pod"), direct.podLogs(ns, name, o)),
  createEvent: (ns, event) => Effect.zipRight(before("createEvent", "Event"), direct.createEvent(ns, event)),
  patchEventSeries: (ns, name, series) =>
    Effect.zipRight(before("patchEventSeries", "Event"), direct.patchEventSeries(ns, name, series))
})
