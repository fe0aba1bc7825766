/**
 * The fake cluster's events.k8s.io/v1 Events: stored per namespace and name, checked as the API server checks
 * them on create (required fields, lengths, MicroTimes, the series, `regarding` in the Event's namespace) and
 * patched in their series only, and gone an hour after their last write (the API server's default `--event-ttl`).
 * Synchronous; MemoryKubeApi supplies time, faults and counts.
 */
import { Effect } from "effect"
import type { EventSeries, KubeEvent } from "../../domain/Kube.ts"
import { type FieldViolation, validateLabelKey, validateName } from "../../domain/KubeValidation.ts"
import type { KubeApiError } from "../../services/KubeApi.ts"
import { defaultReason, statusError } from "../../services/KubeStatus.ts"

const microTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

const fail = (name: string, code: number, detail: string, causes?: ReadonlyArray<FieldViolation>): KubeApiError =>
  statusError({
    kind: "Event",
    name,
    code,
    reason: code === 409 ? "AlreadyExists" : defaultReason(code),
    detail,
    ...(causes === undefined ? {} : { causes })
  })

const validateSeries = (series: EventSeries | undefined): Array<FieldViolation> => {
  if (series === undefined) return []
  const out: Array<FieldViolation> = []
  if (!Number.isInteger(series.count) || series.count < 2)
    out.push({ field: "series.count", message: "Invalid value: should be at least 2" })
  return out
}

const badTimes = (event: KubeEvent): ReadonlyArray<string> =>
  [event.eventTime, ...(event.series === undefined ? [] : [event.series.lastObservedTime])].filter(
    (t) => !microTimePattern.test(t)
  )

const tooLong = (field: string, value: string | undefined, max: number): Array<FieldViolation> =>
  value !== undefined && value.length > max ? [{ field, message: `Too long: may not be more than ${max} bytes` }] : []

const required = (field: string, value: string | undefined): Array<FieldViolation> =>
  value === undefined || value === "" ? [{ field, message: "Required value" }] : []

const validate = (namespace: string, event: KubeEvent): Array<FieldViolation> => [
  ...validateName("Pod", event.metadata.name),
  ...required("eventTime", event.eventTime),
  ...required("reportingController", event.reportingController),
  ...(event.reportingController === "" ? [] : validateLabelKey(event.reportingController, "reportingController")),
  ...required("reportingInstance", event.reportingInstance),
  ...tooLong("reportingInstance", event.reportingInstance, 128),
  ...required("action", event.action),
  ...tooLong("action", event.action, 128),
  ...required("reason", event.reason),
  ...tooLong("reason", event.reason, 128),
  ...tooLong("note", event.note, 1024),
  ...(event.type === "Normal" || event.type === "Warning"
    ? []
    : [{ field: "type", message: `Unsupported value: ${JSON.stringify(event.type)}` }]),
  ...(event.regarding.namespace !== undefined && event.regarding.namespace !== namespace
    ? [{ field: "regarding.namespace", message: "Invalid value: does not match event.namespace" }]
    : []),
  ...validateSeries(event.series)
]

const iso = (millis: number): string => new Date(millis).toISOString()

/** How long an Event is kept after its last write. */
export const eventTtlMillis = 60 * 60 * 1000

export class EventStore {
  /** By namespace/name, least recently written first; `order` is the order of creation. */
  private readonly events = new Map<
    string,
    { readonly event: KubeEvent; readonly at: number; readonly order: number }
  >()
  private revision = 0
  private created = 0

  /** Forgets the Events not written for longer than the TTL. */
  private expire(now: number): void {
    for (const [key, { at }] of this.events) {
      if (now - at <= eventTtlMillis) return
      this.events.delete(key)
    }
  }

  private put(key: string, event: KubeEvent, at: number, order: number): void {
    this.events.delete(key)
    this.events.set(key, { event, at, order })
  }

  create(namespace: string, event: KubeEvent, at: number, uid: string): Effect.Effect<KubeEvent, KubeApiError> {
    this.expire(at)
    const name = event.metadata.name
    const times = badTimes(event)
    if (times.length > 0) return Effect.fail(fail(name, 400, `unable to parse MicroTime ${JSON.stringify(times[0])}`))
    const violations = validate(namespace, event)
    if (violations.length > 0)
      return Effect.fail(fail(name, 422, `Event ${JSON.stringify(name)} is invalid`, violations))
    const key = `${namespace}/${name}`
    if (this.events.has(key)) return Effect.fail(fail(name, 409, `events ${JSON.stringify(name)} already exists`))
    const stored: KubeEvent = {
      ...event,
      metadata: {
        ...event.metadata,
        namespace,
        uid,
        creationTimestamp: iso(at),
        resourceVersion: String(++this.revision)
      }
    }
    this.put(key, stored, at, ++this.created)
    return Effect.succeed(stored)
  }

  patchSeries(
    namespace: string,
    name: string,
    series: EventSeries,
    at: number
  ): Effect.Effect<KubeEvent, KubeApiError> {
    this.expire(at)
    const key = `${namespace}/${name}`
    const entry = this.events.get(key)
    if (entry === undefined) return Effect.fail(fail(name, 404, `events ${JSON.stringify(name)} not found`))
    const patched: KubeEvent = {
      ...entry.event,
      metadata: { ...entry.event.metadata, resourceVersion: String(++this.revision) },
      series: { ...entry.event.series, ...series }
    }
    const times = badTimes(patched)
    if (times.length > 0) return Effect.fail(fail(name, 400, `unable to parse MicroTime ${JSON.stringify(times[0])}`))
    const violations = validateSeries(patched.series)
    if (violations.length > 0)
      return Effect.fail(fail(name, 422, `Event ${JSON.stringify(name)} is invalid`, violations))
    this.put(key, patched, at, entry.order)
    return Effect.succeed(patched)
  }

  /** Oldest first, by creation. */
  list(namespace: string): ReadonlyArray<KubeEvent> {
    return [...this.events.values()]
      .filter(({ event }) => event.metadata.namespace === namespace)
      .sort((a, b) => a.order - b.order)
      .map(({ event }) => event)
  }
}
