/**
 * KubeApi over the Kubernetes REST API: JSON in the wire shape our domain types describe, typed errors from
 * Status bodies (code, reason, causes), a client-side rate limit (QPS and burst) on every request but watches,
 * and watches with bookmarks whose `ERROR` events (410 Expired...) become the matching error.
 *
 * The API server sets the pace (docs/operations.md, "API request pacing"): an answer 429, or a server error with
 * `Retry-After`, was not acted on, so the request waits what the server asked (1 s when it did not say, at most
 * 60 s) and is sent again, up to 10 times, as client-go does; other server errors go back to the caller, whose
 * work queue retries the key with backoff. Requests by verb and answer, in flight and throttled are counted.
 *
 * Events (events.k8s.io/v1) pass a limit of their own (`eventQps`, `eventBurst`), as controller-runtime gives its
 * event recorder a client of its own: recording what happened never takes a reconcile's turn.
 *
 * Every write (create, update, patch, delete) but an Event's is a `kube.<verb>` span (docs/operations.md,
 * "Tracing"), its wait for the rate limit included.
 */
import { Effect, FiberRef, Layer, Option, Stream } from "effect"
import { type Kind, type KindMap, type KubeEvent, kindInfo, type WatchEvent } from "../../domain/Kube.ts"
import {
  KubeApi,
  type KubeApiError,
  type KubeApiService,
  type KubeTraffic,
  type RequestKind
} from "../../services/KubeApi.ts"
import { defaultReason, statusError } from "../../services/KubeStatus.ts"
import * as KubeConfigLoader from "./KubeConfigLoader.ts"
import * as KubeConnection from "./KubeConnection.ts"
import * as TokenBucket from "./TokenBucket.ts"

export interface LiveKubeApiConfig {
  /** Path of a kubeconfig; empty or absent: in-cluster config, else `KUBECONFIG` / ~/.kube/config. */
  readonly kubeconfig?: string
  readonly qps: number
  readonly burst: number
}

interface Status {
  readonly kind?: string
  readonly code?: number
  readonly reason?: string
  readonly message?: string
  readonly details?: { readonly causes?: ReadonlyArray<{ readonly field?: string; readonly message?: string }> }
}

const collectionPath = (kind: Kind, namespace: string): string => {
  const info = kindInfo[kind]
  const base = info.group === "" ? `/api/${info.apiVersion}` : `/apis/${info.apiVersion}`
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`
}

const objectPath = (kind: Kind, namespace: string, name: string) =>
  `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`

const eventsPath = (namespace: string) => `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`

/** The pace of Event writes, apart from the controller's own requests. */
export const eventQps = 10
export const eventBurst = 25

const query = (params: Record<string, string | number | boolean | undefined>): string => {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") search.set(k, String(v))
  const text = search.toString()
  return text === "" ? "" : `?${text}`
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

const toError = (kind: RequestKind, name: string | undefined, status: number, body: string): KubeApiError => {
  const s = parse(body) as Status | undefined
  const code = s?.code ?? status
  return statusError({
    kind,
    name,
    code,
    reason: s?.reason ?? defaultReason(code),
    detail: s?.message ?? body.slice(0, 500),
    causes: (s?.details?.causes ?? []).map((c) => ({ field: c.field ?? "", message: c.message ?? "" }))
  })
}

const transport = (kind: RequestKind, name: string | undefined, e: KubeConnection.KubeTransportError) =>
  statusError({ kind, name, code: 0, reason: "Transport", detail: e.detail, cause: e.cause })

/** How often, and how long at most, a request the server asked to wait is sent again. */
export const throttledRetries = 10
export const maxRetryAfterSeconds = 60

/** Seconds to wait before sending again, when the answer says the server did not act on the request. */
export const waitAsked = (response: KubeConnection.KubeResponse): number | undefined => {
  const asked =
    response.status === 429
      ? (response.retryAfterSeconds ?? 1)
      : response.status >= 500
        ? response.retryAfterSeconds
        : undefined
  return asked === undefined ? undefined : Math.min(asked, maxRetryAfterSeconds)
}

type RequestOptions = Parameters<KubeConnection.KubeConnection["request"]>[0]

/** Counts of what was sent, for metrics. */
const makeTraffic = () => {
  const requests = new Map<string, { verb: string; code: number; count: number }>()
  let inFlight = 0
  let throttled = 0
  const traffic: KubeTraffic = { requests: () => requests, inFlight: () => inFlight, throttled: () => throttled }
  return {
    traffic,
    started: () => {
      inFlight++
    },
    finished: (verb: string, code: number) => {
      inFlight--
      const key = `${verb} ${code}`
      const entry = requests.get(key)
      if (entry === undefined) requests.set(key, { verb, code, count: 1 })
      else entry.count++
    },
    throttled: () => {
      throttled++
    }
  }
}

export const make = (connection: KubeConnection.KubeConnection, config: LiveKubeApiConfig) =>
  Effect.gen(function* () {
    const bucket = yield* TokenBucket.make(config.qps, config.burst)
    const eventBucket = yield* TokenBucket.make(eventQps, eventBurst)
    const counts = makeTraffic()

    /** One request through its rate limit, sent again while the server asks us to wait. */
    const send = (
      options: RequestOptions,
      limit: TokenBucket.TokenBucket,
      attempt = 0
    ): Effect.Effect<KubeConnection.KubeResponse, KubeConnection.KubeTransportError> =>
      limit.take.pipe(
        Effect.andThen(
          Effect.acquireUseRelease(
            Effect.sync(counts.started),
            () => connection.request(options),
            (_, exit) =>
              Effect.sync(() => counts.finished(options.method, exit._tag === "Success" ? exit.value.status : 0))
          )
        ),
        Effect.flatMap((response) => {
          const wait = waitAsked(response)
          if (wait === undefined || attempt >= throttledRetries) return Effect.succeed(response)
          counts.throttled()
          return Effect.sleep(`${Math.round(wait * 1000)} millis`).pipe(
            Effect.andThen(send(options, limit, attempt + 1))
          )
        })
      )

    const call = <A>(
      kind: RequestKind,
      name: string | undefined,
      options: RequestOptions,
      decode: (body: string) => A,
      limit = bucket
    ): Effect.Effect<A, KubeApiError> =>
      send(options, limit).pipe(
        Effect.mapError((e) => transport(kind, name, e)),
        Effect.flatMap((res) =>
          res.status >= 200 && res.status < 300
            ? Effect.succeed(decode(res.body))
            : Effect.fail(toError(kind, name, res.status, res.body))
        )
      )

    /** A write as a span in the caller's trace; as it is while the tracer is off (not even a no-op span). */
    const traced =
      (verb: "create" | "update" | "patch" | "delete", kind: Kind, namespace: string, name: string) =>
      <A>(effect: Effect.Effect<A, KubeApiError>): Effect.Effect<A, KubeApiError> =>
        Effect.flatMap(FiberRef.get(FiberRef.currentTracerEnabled), (enabled) =>
          enabled
            ? Effect.withSpan(effect, `kube.${verb}`, {
                kind: "client",
                attributes: { "k8s.kind": kind, "k8s.namespace": namespace, "k8s.name": name },
                captureStackTrace: false
              })
            : effect
        )

    const service: KubeApiService = {
      get: (kind, namespace, name) =>
        call(
          kind,
          name,
          { method: "GET", path: objectPath(kind, namespace, name) },
          (body) => JSON.parse(body) as KindMap[typeof kind]
        ),
      list: (kind, namespace, options) =>
        call(
          kind,
          undefined,
          {
            method: "GET",
            path: `${collectionPath(kind, namespace)}${query({ labelSelector: options?.labelSelector })}`
          },
          (body) => {
            const list = JSON.parse(body) as {
              items?: Array<KindMap[typeof kind]>
              metadata?: { resourceVersion?: string }
            }
            const info = kindInfo[kind]
            return {
              items: (list.items ?? []).map(
                (item) => ({ ...item, apiVersion: info.apiVersion, kind }) as KindMap[typeof kind]
              ),
              resourceVersion: list.metadata?.resourceVersion ?? ""
            }
          }
        ),
      create: (kind, namespace, object, options) =>
        call(
          kind,
          object.metadata.name,
          {
            method: "POST",
            path: `${collectionPath(kind, namespace)}${query({ dryRun: options?.dryRun === true ? "All" : undefined })}`,
            body: { ...object, metadata: { ...object.metadata, namespace } }
          },
          (body) => JSON.parse(body) as KindMap[typeof kind]
        ).pipe(traced("create", kind, namespace, object.metadata.name)),
      update: (kind, namespace, object, options) =>
        call(
          kind,
          object.metadata.name,
          {
            method: "PUT",
            path: `${objectPath(kind, namespace, object.metadata.name)}${query({ dryRun: options?.dryRun === true ? "All" : undefined })}`,
            body: { ...object, metadata: { ...object.metadata, namespace } }
          },
          (body) => JSON.parse(body) as KindMap[typeof kind]
        ).pipe(traced("update", kind, namespace, object.metadata.name)),
      patchStatus: (kind, namespace, name, status) =>
        call(
          kind,
          name,
          {
            method: "PATCH",
            path: `${objectPath(kind, namespace, name)}/status`,
            body: { status },
            contentType: "application/merge-patch+json"
          },
          (body) => JSON.parse(body) as KindMap[typeof kind]
        ).pipe(traced("patch", kind, namespace, name)),
      delete: (kind, namespace, name, options = {}) =>
        call(
          kind,
          name,
          {
            method: "DELETE",
            path: objectPath(kind, namespace, name),
            body: {
              apiVersion: "v1",
              kind: "DeleteOptions",
              ...(options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }),
              ...(options.propagationPolicy === undefined ? {} : { propagationPolicy: options.propagationPolicy }),
              ...(options.preconditions === undefined ? {} : { preconditions: options.preconditions })
            }
          },
          () => undefined
        ).pipe(traced("delete", kind, namespace, name)),
      watch: <K extends Kind>(kind: K, namespace: string, options: Parameters<KubeApiService["watch"]>[2]) => {
        const path = `${collectionPath(kind, namespace)}${query({
          watch: 1,
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: options.allowBookmarks === true ? true : undefined,
          labelSelector: options.labelSelector,
          timeoutSeconds: 300 + Math.floor(Math.random() * 300)
        })}`
        return connection.stream(path).pipe(
          Stream.mapError(
            (e): KubeApiError =>
              e._tag === "KubeResponseError"
                ? toError(kind, undefined, e.response.status, e.response.body)
                : transport(kind, undefined, e)
          ),
          Stream.mapEffect((line): Effect.Effect<Option.Option<WatchEvent<K>>, KubeApiError> => {
            const event = parse(line) as { type?: string; object?: Record<string, unknown> } | undefined
            if (event?.type === "ERROR") {
              const s = (event.object ?? {}) as Status
              return Effect.fail(toError(kind, undefined, s.code ?? 500, JSON.stringify(s)))
            }
            if (event?.type === "BOOKMARK") {
              const meta = event.object?.metadata as { resourceVersion?: string } | undefined
              return Effect.succeed(Option.some({ type: "BOOKMARK", resourceVersion: meta?.resourceVersion ?? "" }))
            }
            if (event?.type === "ADDED" || event?.type === "MODIFIED" || event?.type === "DELETED")
              return Effect.succeed(Option.some({ type: event.type, object: event.object as unknown as KindMap[K] }))
            return Effect.succeed(Option.none())
          }),
          Stream.filterMap((x) => x)
        )
      },
      podLogs: (namespace, name, options) =>
        call(
          "PodLog",
          name,
          {
            method: "GET",
            path: `${objectPath("Pod", namespace, name)}/log${query({
              container: options?.container,
              tailLines: options?.tailLines,
              limitBytes: options?.limitBytes
            })}`
          },
          (body) => body
        ),
      createEvent: (namespace, event) =>
        call(
          "Event",
          event.metadata.name,
          {
            method: "POST",
            path: eventsPath(namespace),
            body: { ...event, metadata: { ...event.metadata, namespace } }
          },
          (body) => JSON.parse(body) as KubeEvent,
          eventBucket
        ),
      patchEventSeries: (namespace, name, series) =>
        call(
          "Event",
          name,
          {
            method: "PATCH",
            path: `${eventsPath(namespace)}/${encodeURIComponent(name)}`,
            body: { series },
            contentType: "application/merge-patch+json"
          },
          (body) => JSON.parse(body) as KubeEvent,
          eventBucket
        ),
      traffic: counts.traffic
    }
    return service
  })

/** The live KubeApi; fails at start with a clear message when no configuration can be loaded. */
export const layer = (config: LiveKubeApiConfig): Layer.Layer<KubeApi, KubeConfigLoader.KubeConfigError> =>
  Layer.effect(
    KubeApi,
    Effect.gen(function* () {
      const target = yield* KubeConfigLoader.load(config.kubeconfig)
      return yield* make(KubeConnection.make(target), config)
    })
  )
