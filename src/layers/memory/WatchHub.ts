/**
 * The fake cluster's watches: each open watch gets the changes of its kind, namespace and label selector,
 * replayed from a resourceVersion and then live. A relabel that makes an object enter or leave a selector
 * arrives as ADDED or DELETED, as the API server sends it. Faultable watches can be dropped or silenced.
 */
import { Effect, Queue, Stream } from "effect"
import type { Kind, WatchEvent } from "../../domain/Kube.ts"
import * as LabelSelector from "../../domain/LabelSelector.ts"
import type { KubeApiError, WatchOptions } from "../../services/KubeApi.ts"
import { statusError } from "../../services/KubeStatus.ts"
import type { Change, ClusterStore } from "./ClusterStore.ts"

type Item =
  | { readonly _tag: "event"; readonly event: WatchEvent<Kind> }
  | { readonly _tag: "end" }
  | { readonly _tag: "fail"; readonly error: KubeApiError }

interface Watcher {
  readonly kind: Kind
  readonly namespace: string
  readonly selector: LabelSelector.LabelSelector
  readonly queue: Queue.Queue<Item>
  /** Opened through the faultable API (the simulators' own watches are not disturbed by faults). */
  readonly faultable: boolean
  silenced: boolean
}

/** What a watcher with this selector sees of a change, if anything. */
const translate = (watcher: Watcher, change: Change): WatchEvent<Kind> | undefined => {
  if (watcher.kind !== change.kind || watcher.namespace !== change.namespace) return undefined
  const now = LabelSelector.matches(watcher.selector, change.object.metadata.labels)
  const before = change.type !== "ADDED" && LabelSelector.matches(watcher.selector, change.previousLabels)
  if (change.type === "MODIFIED" && now !== before) return { type: now ? "ADDED" : "DELETED", object: change.object }
  if (now || (change.type === "DELETED" && before)) return { type: change.type, object: change.object }
  return undefined
}

const transportError = (kind: Kind, detail: string) => statusError({ kind, code: 0, reason: "Transport", detail })

export class WatchHub {
  private readonly watchers = new Set<Watcher>()

  constructor(
    private readonly store: ClusterStore,
    private readonly bookmarkIntervalMillis: number
  ) {
    store.subscribe((change) => {
      for (const watcher of this.watchers) {
        const event = translate(watcher, change)
        if (event !== undefined) this.deliver(watcher, event)
      }
    })
  }

  open<K extends Kind>(
    kind: K,
    namespace: string,
    options: WatchOptions,
    faultable: boolean
  ): Stream.Stream<WatchEvent<K>, KubeApiError> {
    const { store, watchers } = this
    const hub = this
    return Stream.unwrapScoped(
      Effect.gen(function* () {
        const selector = yield* Effect.try({
          try: () => LabelSelector.parse(options.labelSelector ?? ""),
          catch: (e) => statusError({ kind, code: 400, reason: "BadRequest", detail: String(e) })
        })
        const queue = yield* Queue.unbounded<Item>()
        const watcher: Watcher = { kind, namespace, selector, queue, faultable, silenced: false }
        const from = Number(options.resourceVersion || "0")
        if (from === 0) {
          for (const object of store.list(kind, namespace))
            if (LabelSelector.matches(selector, object.metadata.labels)) hub.deliver(watcher, { type: "ADDED", object })
        } else {
          const replay = store.changesSince(from)
          if (replay === undefined)
            return yield* Effect.fail(
              statusError({
                kind,
                code: 410,
                reason: "Expired",
                detail: `too old resource version: ${from} (${store.resourceVersion})`
              })
            )
          for (const change of replay) {
            const event = translate(watcher, change)
            if (event !== undefined) hub.deliver(watcher, event)
          }
        }
        watchers.add(watcher)
        yield* Effect.addFinalizer(() => Effect.sync(() => watchers.delete(watcher)))
        if (options.allowBookmarks === true)
          yield* Effect.forkScoped(
            Effect.sleep(`${hub.bookmarkIntervalMillis} millis`).pipe(
              Effect.andThen(() =>
                hub.deliver(watcher, { type: "BOOKMARK", resourceVersion: String(store.resourceVersion) })
              ),
              Effect.forever
            )
          )
        return Stream.fromQueue(queue).pipe(
          Stream.takeWhile((item) => item._tag !== "end"),
          Stream.mapEffect((item) =>
            item._tag === "event"
              ? Effect.succeed(item.event as WatchEvent<K>)
              : Effect.fail(item._tag === "fail" ? item.error : transportError(kind, "watch ended"))
          )
        )
      })
    )
  }

  /** Ends every faultable watch, with a transport error or as a clean end of stream. */
  drop(mode: "error" | "end"): void {
    for (const watcher of this.watchers) {
      if (!watcher.faultable) continue
      Queue.unsafeOffer(
        watcher.queue,
        mode === "end"
          ? { _tag: "end" }
          : { _tag: "fail", error: transportError(watcher.kind, "watch connection reset") }
      )
      this.watchers.delete(watcher)
    }
  }

  /** Faultable watches stay open but receive nothing more. */
  silence(): void {
    for (const watcher of this.watchers) if (watcher.faultable) watcher.silenced = true
  }

  get openFaultable(): number {
    return [...this.watchers].filter((w) => w.faultable).length
  }

  private deliver(watcher: Watcher, event: WatchEvent<Kind>): void {
    if (!watcher.silenced) Queue.unsafeOffer(watcher.queue, { _tag: "event", event })
  }
}
