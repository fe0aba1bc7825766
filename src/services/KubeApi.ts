import { Context, Data, type Effect, type Stream } from "effect"
import type {
  EventSeries,
  Kind,
  KindMap,
  KubeEvent,
  ObjectList,
  PropagationPolicy,
  WatchEvent
} from "../domain/Kube.ts"

/** What a request was about: one of our kinds, a Pod's log, or an Event. */
export type RequestKind = Kind | "PodLog" | "Event"

interface StatusFields {
  readonly kind: RequestKind
  readonly name?: string
  /** The HTTP status code the API server answered with (0 when the request never got an answer). */
  readonly code: number
  /** The `reason` of the Status body, e.g. `NotFound`, `AlreadyExists`, `Conflict`, `Expired`, `Invalid`. */
  readonly reason: string
  readonly detail: string
}

const describe = (tag: string, f: StatusFields): string =>
  `${tag}: ${f.kind}${f.name === undefined ? "" : ` ${f.name}`}: ${f.code} ${f.reason}: ${f.detail}`

/** 404: the object does not exist. */
export class KubeNotFound extends Data.TaggedError("KubeNotFound")<StatusFields> {
  override get message(): string {
    return describe(this._tag, this)
  }
}
/** 409 on create: an object with that name exists. */
export class KubeAlreadyExists extends Data.TaggedError("KubeAlreadyExists")<StatusFields> {
  override get message(): string {
    return describe(this._tag, this)
  }
}
/** 409 on update or delete: the resourceVersion or uid precondition did not hold. */
export class KubeConflict extends Data.TaggedError("KubeConflict")<StatusFields> {
  override get message(): string {
    return describe(this._tag, this)
  }
}
/** 410: the resourceVersion a watch started from is too old; relist. */
export class KubeGone extends Data.TaggedError("KubeGone")<StatusFields> {
  override get message(): string {
    return describe(this._tag, this)
  }
}
/** 422: the object is invalid; `causes` name the fields. */
export class KubeInvalid extends Data.TaggedError("KubeInvalid")<
  StatusFields & { readonly causes: ReadonlyArray<{ readonly field: string; readonly message: string }> }
> {
  override get message(): string {
    return describe(this._tag, this)
  }
}
/** Any other answer (401, 403, 429, 5xx) or a transport failure (code 0). */
export class KubeError extends Data.TaggedError("KubeError")<StatusFields & { readonly cause?: unknown }> {
  override get message(): string {
    return describe(this._tag, this)
  }
}

export type KubeApiError = KubeNotFound | KubeAlreadyExists | KubeConflict | KubeGone | KubeInvalid | KubeError

/** Transient failures worth retrying: throttling, server errors and no answer at all. */
export const isTransient = (error: KubeApiError): boolean =>
  error._tag === "KubeError" && (error.code === 0 || error.code === 429 || error.code >= 500)

export interface ListOptions {
  readonly labelSelector?: string
}

export interface WatchOptions extends ListOptions {
  /** Events after this resourceVersion; a version the server no longer has fails the stream with KubeGone. */
  readonly resourceVersion: string
  /** Ask for BOOKMARK events carrying the latest resourceVersion. */
  readonly allowBookmarks?: boolean
}

export interface DeleteOptions {
  readonly gracePeriodSeconds?: number
  readonly propagationPolicy?: PropagationPolicy
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string }
}

export interface WriteOptions {
  /** Validate and default on the server without persisting (`dryRun=All`). */
  readonly dryRun?: boolean
}

export interface LogOptions {
  readonly container?: string
  readonly tailLines?: number
  readonly limitBytes?: number
}

/**
 * The Kubernetes API as this program needs it: typed objects of the kinds we manage, in one namespace per
 * call. Updates carry the resourceVersion they read (optimistic concurrency); watches are streams that end
 * or fail, and callers resume from the last resourceVersion they saw.
 */
export interface KubeApiService {
  readonly get: <K extends Kind>(kind: K, namespace: string, name: string) => Effect.Effect<KindMap[K], KubeApiError>
  readonly list: <K extends Kind>(
    kind: K,
    namespace: string,
    options?: ListOptions
  ) => Effect.Effect<ObjectList<K>, KubeApiError>
  readonly create: <K extends Kind>(
    kind: K,
    namespace: string,
    object: KindMap[K],
    options?: WriteOptions
  ) => Effect.Effect<KindMap[K], KubeApiError>
  /** Full replace; fails with KubeConflict when `metadata.resourceVersion` is stale. */
  readonly update: <K extends Kind>(
    kind: K,
    namespace: string,
    object: KindMap[K],
    options?: WriteOptions
  ) => Effect.Effect<KindMap[K], KubeApiError>
  /** Merge-patches the status subresource. */
  readonly patchStatus: <K extends Kind>(
    kind: K,
    namespace: string,
    name: string,
    status: NonNullable<KindMap[K] extends { readonly status?: infer S } ? S : never>
  ) => Effect.Effect<KindMap[K], KubeApiError>
  readonly delete: (
    kind: Kind,
    namespace: string,
    name: string,
    options?: DeleteOptions
  ) => Effect.Effect<void, KubeApiError>
  readonly watch: <K extends Kind>(
    kind: K,
    namespace: string,
    options: WatchOptions
  ) => Stream.Stream<WatchEvent<K>, KubeApiError>
  readonly podLogs: (namespace: string, name: string, options?: LogOptions) => Effect.Effect<string, KubeApiError>
  /** Creates an events.k8s.io/v1 Event. */
  readonly createEvent: (namespace: string, event: KubeEvent) => Effect.Effect<KubeEvent, KubeApiError>
  /** Merge-patches the series of an Event (its count and last observation); NotFound once the Event expired. */
  readonly patchEventSeries: (
    namespace: string,
    name: string,
    series: EventSeries
  ) => Effect.Effect<KubeEvent, KubeApiError>
  /** The requests made so far, where the client counts them (the live one does; the memory API server counts calls). */
  readonly traffic?: KubeTraffic
}

/** What a client sent the API server, read whenever asked (on each metrics scrape). */
export interface KubeTraffic {
  /** Answers by verb and HTTP status (0: no answer), since start. */
  readonly requests: () => ReadonlyMap<string, { readonly verb: string; readonly code: number; readonly count: number }>
  readonly inFlight: () => number
  /** Answers that asked us to wait (429, or `Retry-After` on a server error), each retried after that wait. */
  readonly throttled: () => number
}

export class KubeApi extends Context.Tag("the0/KubeApi")<KubeApi, KubeApiService>() {}
