/**
 * A list-then-watch cache of one kind in one namespace, kept in step by watch events: relists on 410 Gone,
 * re-watches from the last resourceVersion when a watch ends, and relists when a watch stays silent longer
 * than the watchdog allows (the JS client's watches are known to die without a word). `managedFields` are
 * dropped on the way in. Readers never call the API.
 */
import { Data, Deferred, Duration, Effect, Schedule, type Scope, Stream } from "effect"
import { type Kind, type KindMap, stripManagedFields, type WatchEventType } from "../../domain/Kube.ts"
import { KubeApi, type KubeApiError } from "../../services/KubeApi.ts"

export interface InformerOptions<K extends Kind> {
  readonly namespace: string
  readonly labelSelector: string
  /** Label keys to index objects by, e.g. the bot-id label. */
  readonly indexLabels?: ReadonlyArray<string>
  /** A watch that delivers nothing (not even a bookmark) for this long is restarted from a fresh list. */
  readonly watchdog?: Duration.DurationInput
  /** What the cache keeps of each object (after `managedFields` are dropped); all of it when absent. */
  readonly keep?: (object: KindMap[K]) => KindMap[K]
}

export type CacheEventType = Exclude<WatchEventType, "BOOKMARK">

/** Observers for metrics and for enqueuing keys; run in the watch fiber, so they must be quick. */
export interface InformerHooks<K extends Kind> {
  readonly event?: (type: CacheEventType, object: KindMap[K], previous: KindMap[K] | undefined) => Effect.Effect<void>
  readonly restarted?: (reason: "gone" | "ended" | "silent" | "error") => void
}

export interface Informer<K extends Kind> {
  readonly get: (name: string) => KindMap[K] | undefined
  readonly list: () => ReadonlyArray<KindMap[K]>
  /** Objects whose label `labelKey` (one of `indexLabels`) has `value`. */
  readonly byLabel: (labelKey: string, value: string) => ReadonlyArray<KindMap[K]>
  /** Values of an indexed label present in the cache. */
  readonly labelValues: (labelKey: string) => ReadonlyArray<string>
  readonly size: () => number
  readonly hasSynced: () => boolean
  /** Completes once the first list is in the cache. */
  readonly synced: Effect.Effect<void>
  /** Puts the answer of our own write into the cache, unless the cache already holds a newer version. */
  readonly observeWrite: (object: KindMap[K]) => void
  /**
   * Marks the object we just deleted terminating (since `at`, an ISO time) until the watch brings its next
   * version, so that a pass before that does not delete it again. Another uid under that name is left alone.
   */
  readonly observeDelete: (name: string, uid: string, at: string) => void
}

class WatchSilent extends Data.TaggedError("WatchSilent")<{}> {}

const newer = (candidate: string | undefined, current: string | undefined): boolean => {
  const a = Number(candidate)
  const b = Number(current)
  return Number.isFinite(a) && Number.isFinite(b) ? a > b : candidate !== current
}

export const make = <K extends Kind>(
  kind: K,
  options: InformerOptions<K>,
  hooks: InformerHooks<K> = {}
): Effect.Effect<Informer<K>, never, KubeApi | Scope.Scope> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const cache = new Map<string, KindMap[K]>()
    const indexLabels = options.indexLabels ?? []
    const index = new Map<string, Map<string, Set<string>>>(indexLabels.map((l) => [l, new Map()]))
    const synced = yield* Deferred.make<void>()
    const watchdog = options.watchdog ?? "90 seconds"
    const keep = options.keep ?? ((object: KindMap[K]) => object)

    const unindex = (object: KindMap[K]) => {
      for (const [label, byValue] of index) {
        const value = object.metadata.labels?.[label]
        if (value === undefined) continue
        const names = byValue.get(value)
        names?.delete(object.metadata.name)
        if (names?.size === 0) byValue.delete(value)
      }
    }
    const reindex = (object: KindMap[K]) => {
      for (const [label, byValue] of index) {
        const value = object.metadata.labels?.[label]
        if (value === undefined) continue
        const names = byValue.get(value) ?? new Set<string>()
        names.add(object.metadata.name)
        byValue.set(value, names)
      }
    }
    let hasSynced = false
    /** Applies a change to the cache; returns the hook to run, if any. */
    const put = (type: CacheEventType, incoming: KindMap[K], notify = true): Effect.Effect<void> => {
      const object = keep(stripManagedFields(incoming))
      const name = object.metadata.name
      const previous = cache.get(name)
      if (type !== "DELETED" && previous?.metadata.resourceVersion === object.metadata.resourceVersion)
        return Effect.void
      if (previous !== undefined) unindex(previous)
      if (type === "DELETED") cache.delete(name)
      else {
        cache.set(name, object)
        reindex(object)
      }
      return notify && hooks.event !== undefined ? hooks.event(type, object, previous) : Effect.void
    }

    const relist = Effect.gen(function* () {
      const listed = yield* api.list(kind, options.namespace, { labelSelector: options.labelSelector })
      const seen = new Set<string>()
      const notifications: Array<Effect.Effect<void>> = []
      for (const object of listed.items) {
        seen.add(object.metadata.name)
        const previous = cache.get(object.metadata.name)
        if (previous?.metadata.resourceVersion !== object.metadata.resourceVersion)
          notifications.push(put(previous === undefined ? "ADDED" : "MODIFIED", object))
      }
      for (const [name, object] of cache) if (!seen.has(name)) notifications.push(put("DELETED", object))
      yield* Effect.all(notifications, { discard: true })
      hasSynced = true
      yield* Deferred.succeed(synced, undefined)
      return listed.resourceVersion
    }).pipe(
      Effect.tapError((error) => Effect.logWarning(`informer ${kind}: list failed: ${error.message}`)),
      Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
      Effect.orDie
    )

    /** Watches from `from` until the watch ends; returns the last resourceVersion seen. */
    const watchFrom = (from: string) => {
      let last = from
      return api
        .watch(kind, options.namespace, {
          labelSelector: options.labelSelector,
          resourceVersion: from,
          allowBookmarks: true
        })
        .pipe(
          Stream.timeoutFail(() => new WatchSilent(), watchdog),
          Stream.runForEach((event) => {
            if (event.type === "BOOKMARK") {
              last = event.resourceVersion
              return Effect.void
            }
            last = event.object.metadata.resourceVersion ?? last
            return put(event.type, event.object)
          }),
          Effect.map(() => last)
        )
    }

    type Next = { readonly relist: boolean; readonly from: string }
    const step = (from: string): Effect.Effect<Next> =>
      watchFrom(from).pipe(
        Effect.map((last): Next => {
          hooks.restarted?.("ended")
          return { relist: false, from: last }
        }),
        Effect.catchAll((error: KubeApiError | WatchSilent) => {
          if (error._tag === "KubeGone") {
            hooks.restarted?.("gone")
            return Effect.succeed<Next>({ relist: true, from })
          }
          if (error._tag === "WatchSilent") {
            hooks.restarted?.("silent")
            return Effect.as(
              Effect.logWarning(`informer ${kind}: watch silent for ${Duration.format(watchdog)}; relisting`),
              {
                relist: true,
                from
              }
            )
          }
          hooks.restarted?.("error")
          return Effect.as(
            Effect.logWarning(`informer ${kind}: watch failed: ${error.message}`).pipe(
              Effect.andThen(Effect.sleep("1 second"))
            ),
            { relist: false, from }
          )
        })
      )

    const loop = (next: Next): Effect.Effect<never> =>
      Effect.flatMap(
        next.relist ? Effect.map(relist, (from) => ({ relist: false, from })) : Effect.succeed(next),
        (n) => Effect.flatMap(step(n.from), loop)
      )

    yield* Effect.forkScoped(loop({ relist: true, from: "" }))

    return {
      get: (name) => cache.get(name),
      list: () => [...cache.values()],
      byLabel: (labelKey, value) => {
        const names = index.get(labelKey)?.get(value)
        if (names === undefined) return []
        const out: Array<KindMap[K]> = []
        for (const name of names) {
          const object = cache.get(name)
          if (object !== undefined) out.push(object)
        }
        return out
      },
      labelValues: (labelKey) => [...(index.get(labelKey)?.keys() ?? [])],
      size: () => cache.size,
      hasSynced: () => hasSynced,
      synced: Deferred.await(synced),
      observeWrite: (object) => {
        const current = cache.get(object.metadata.name)
        if (current === undefined || newer(object.metadata.resourceVersion, current.metadata.resourceVersion))
          Effect.runSync(put(current === undefined ? "ADDED" : "MODIFIED", object, false))
      },
      observeDelete: (name, uid, at) => {
        const current = cache.get(name)
        if (current?.metadata.uid === uid && current.metadata.deletionTimestamp === undefined)
          cache.set(name, { ...current, metadata: { ...current.metadata, deletionTimestamp: at } })
      }
    } satisfies Informer<K>
  })
