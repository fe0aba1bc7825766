/**
 * Kubernetes Events (events.k8s.io/v1) on the objects a controller owns, recorded the way client-go's event
 * broadcaster records them (docs/operations.md, "Kubernetes Events"):
 *
 * - **Aggregation.** A repeat of an Event (same object, type, reason, action and note) within `window` of its last
 *   observation is not a new Event: its `series.count` and `series.lastObservedTime` are patched. Later, it starts
 *   a new Event.
 * - **A rate limit per object** (kind, namespace and name, so a Pod recreated over and over is one object): each
 *   write takes a token, `burst` saved up and one more every `refill`. A new Event without a token is dropped; a
 *   repeat without one waits for a later flush.
 * - **Fire and forget.** `record` only updates memory and offers the Event to a bounded queue that one writer
 *   drains; a full queue drops it. Failures are logged at debug level and counted
 *   (`the0_kube_events_total{outcome}`), never returned: recording cannot fail or slow a reconcile.
 */
import { Duration, Effect, Queue, Schedule, type Scope } from "effect"
import {
  type EventSeries,
  type Kind,
  type KubeEvent,
  kindInfo,
  microTime,
  type ObjectReference
} from "../../domain/Kube.ts"
import { KubeApi, type KubeApiError } from "../../services/KubeApi.ts"
import { Metrics } from "../Metrics.ts"

/** `reportingController` of every Event we write. */
export const reportingController = "the0.app/runtime"

export interface EventInput {
  /** The object the Event is about; without a uid, one of our kinds is read once for it. */
  readonly regarding: ObjectReference
  readonly type: "Normal" | "Warning"
  readonly reason: string
  readonly action: string
  readonly note: string
}

export interface EventRecorder {
  /** Records the Event in the background; returns at once and never fails. */
  readonly record: (event: EventInput) => Effect.Effect<void>
}

export interface EventRecorderOptions {
  readonly namespace: string
  /** The controller, for the metric's label. */
  readonly controller: string
  /** This replica (the leader-election identity). */
  readonly reportingInstance: string
}

export interface EventRecorderTuning {
  /** A repeat within this long of the last observation joins the Event's series. */
  readonly window: Duration.DurationInput
  /** Event writes per object saved up... */
  readonly burst: number
  /** ...and how often one more is allowed. */
  readonly refill: Duration.DurationInput
  /** Events waiting for the writer; more are dropped. */
  readonly queueCapacity: number
  /** Events remembered for aggregation; the least recently observed are forgotten first. */
  readonly cacheSize: number
  /** How often repeats not yet written are written, and Events past their window forgotten. */
  readonly flushInterval: Duration.DurationInput
  /** One write waits at most this long for the API server. */
  readonly writeTimeout: Duration.DurationInput
}

/** client-go's values: its series end after 6 minutes, its spam filter allows 25 Events per object, then 1/5 min. */
export const defaultTuning: EventRecorderTuning = {
  window: "6 minutes",
  burst: 25,
  refill: "5 minutes",
  queueCapacity: 1000,
  cacheSize: 10_000,
  flushInterval: "30 seconds",
  writeTimeout: "10 seconds"
}

interface Entry {
  readonly key: string
  readonly event: KubeEvent
  count: number
  lastObserved: number
  /** The count the API server has (0: not created yet). */
  written: number
  /** Waiting in the queue. */
  queued: boolean
  /** Being written now. */
  writing: boolean
}

const maxNameLength = 253
/** The hex suffix of an Event's name: nanoseconds since the epoch, as client-go names Events. */
const suffixLength = 17

/** `<regarding name>.<hex time>`, the regarding name cut to fit and to end with an alphanumeric character. */
export const eventName = (regarding: string, nanos: bigint): string => {
  const base = regarding.slice(0, maxNameLength - suffixLength - 1).replace(/[^a-z0-9]+$/, "")
  return `${base === "" ? "event" : base}.${nanos.toString(16)}`
}

const truncate = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 3)}...`)

const objectKey = (r: ObjectReference) => `${r.kind}/${r.namespace ?? ""}/${r.name}`

const aggregationKey = (e: EventInput) =>
  JSON.stringify([objectKey(e.regarding), e.regarding.uid ?? "", e.type, e.reason, e.action, e.note])

const isOurKind = (kind: string): kind is Kind => Object.hasOwn(kindInfo, kind)

export const make = (
  options: EventRecorderOptions,
  tuning: EventRecorderTuning = defaultTuning
): Effect.Effect<EventRecorder, never, KubeApi | Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const metrics = yield* Metrics
    const { namespace, controller } = options
    const windowMillis = Duration.toMillis(tuning.window)
    const refillMillis = Duration.toMillis(tuning.refill)
    const queue = yield* Queue.dropping<string>(tuning.queueCapacity)
    const cache = new Map<string, Entry>()
    const tokens = new Map<string, { available: number; at: number }>()
    const uids = new Map<string, string>()
    /** Below the millisecond in Event names; from a random start, so that two recorders hardly ever collide. */
    let sequence = Math.floor(Math.random() * 1_000_000)

    const count = (outcome: "created" | "patched" | "error" | "dropped" | "throttled") =>
      metrics.kubeEvents.inc({ controller, outcome })

    /** Takes one write token of the object, if it has one (a refusal leaves the bucket as it was). */
    const takeToken = (object: string, now: number): boolean => {
      const bucket = tokens.get(object) ?? { available: tuning.burst, at: now }
      const available = Math.min(tuning.burst, bucket.available + (now - bucket.at) / refillMillis)
      if (available < 1) return false
      tokens.set(object, { available: available - 1, at: now })
      return true
    }

    const enqueue = (entry: Entry) => {
      if (entry.queued) return
      if (queue.unsafeOffer(entry.key)) entry.queued = true
      else if (entry.written === 0) {
        cache.delete(entry.key)
        count("dropped")
      }
    }

    const build = (input: EventInput, now: number): KubeEvent => ({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: {
        name: eventName(input.regarding.name, BigInt(now) * 1_000_000n + BigInt(sequence++ % 1_000_000)),
        namespace
      },
      eventTime: microTime(now),
      reportingController,
      reportingInstance: truncate(options.reportingInstance, 128),
      action: input.action,
      reason: input.reason,
      regarding: input.regarding,
      note: truncate(input.note, 1024),
      type: input.type
    })

    const record = (input: EventInput): Effect.Effect<void> =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.unsafeCurrentTimeMillis()
          const key = aggregationKey(input)
          const found = cache.get(key)
          cache.delete(key)
          if (found !== undefined && now - found.lastObserved <= windowMillis) {
            found.count++
            found.lastObserved = now
            cache.set(key, found)
            return enqueue(found)
          }
          const entry: Entry = {
            key,
            event: build(input, now),
            count: 1,
            lastObserved: now,
            written: 0,
            queued: false,
            writing: false
          }
          cache.set(key, entry)
          for (const oldest of cache.keys()) {
            if (cache.size <= tuning.cacheSize) break
            cache.delete(oldest)
          }
          enqueue(entry)
        })
      )

    /** The regarding object with its uid, read once for one of our kinds given by name. */
    const resolved = (regarding: ObjectReference): Effect.Effect<ObjectReference> => {
      if (regarding.uid !== undefined || !isOurKind(regarding.kind)) return Effect.succeed(regarding)
      const known = uids.get(objectKey(regarding))
      if (known !== undefined) return Effect.succeed({ ...regarding, uid: known })
      return api.get(regarding.kind, regarding.namespace ?? namespace, regarding.name).pipe(
        Effect.map((object) => {
          const uid = object.metadata.uid
          if (uid === undefined) return regarding
          uids.set(objectKey(regarding), uid)
          return { ...regarding, uid }
        }),
        Effect.orElseSucceed(() => regarding)
      )
    }

    const write = (key: string): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        const entry = cache.get(key)
        if (entry === undefined) return Effect.void
        entry.queued = false
        if (entry.count === entry.written) return Effect.void
        if (!takeToken(objectKey(entry.event.regarding), clock.unsafeCurrentTimeMillis())) {
          if (entry.written > 0) return Effect.void
          cache.delete(key)
          count("throttled")
          return Effect.void
        }
        const observed = entry.count
        const series: EventSeries = { count: observed, lastObservedTime: microTime(entry.lastObserved) }
        const creating = entry.written === 0
        const call: Effect.Effect<KubeEvent, KubeApiError> = creating
          ? Effect.flatMap(resolved(entry.event.regarding), (regarding) =>
              api.createEvent(namespace, { ...entry.event, regarding, ...(observed > 1 ? { series } : {}) })
            )
          : api.patchEventSeries(namespace, entry.event.metadata.name, series)
        entry.writing = true
        return call.pipe(
          Effect.timeout(tuning.writeTimeout),
          Effect.ensuring(
            Effect.sync(() => {
              entry.writing = false
            })
          ),
          Effect.matchEffect({
            onSuccess: () =>
              Effect.sync(() => {
                entry.written = observed
                count(creating ? "created" : "patched")
              }),
            onFailure: (error) => {
              // a failed create, or a patch of an Event that expired: a later repeat starts a new one
              if ((creating || error._tag === "KubeNotFound") && cache.get(key) === entry) cache.delete(key)
              count("error")
              return Effect.logDebug(
                `could not ${creating ? "create" : "patch"} Event ${entry.event.reason} on ${objectKey(entry.event.regarding)}: ${error.message}`
              )
            }
          })
        )
      })

    /** Queues repeats not yet written (and not being written); forgets Events past their window and objects whose tokens are all back. */
    const flush = Effect.clockWith((clock) =>
      Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        for (const entry of [...cache.values()]) {
          if (entry.count !== entry.written) {
            if (!entry.writing) enqueue(entry)
          } else if (now - entry.lastObserved > windowMillis) cache.delete(entry.key)
        }
        for (const [object, bucket] of tokens)
          if (bucket.available + (now - bucket.at) / refillMillis >= tuning.burst) tokens.delete(object)
      })
    )

    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(Queue.take(queue), (key) =>
          Effect.catchAllCause(write(key), (cause) => Effect.logDebug("Event writer", cause))
        )
      )
    )
    yield* Effect.forkScoped(Effect.repeat(flush, Schedule.spaced(tuning.flushInterval)))
    return { record }
  })
