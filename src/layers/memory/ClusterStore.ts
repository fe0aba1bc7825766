/**
 * The object store behind the fake cluster: objects by kind and namespace/name, one resourceVersion counter
 * like etcd's, and a bounded history of changes for watches. Synchronous and single-threaded by design; the
 * Effect layer on top (MemoryKubeApi) supplies time, faults and streams.
 */
import type { Kind, KindMap, KubeObject, WatchEventType } from "../../domain/Kube.ts"

export interface Change {
  readonly resourceVersion: number
  readonly kind: Kind
  readonly namespace: string
  readonly type: Exclude<WatchEventType, "BOOKMARK">
  readonly object: KubeObject
  /** The labels before this change, so a selective watch can turn a relabel into ADDED or DELETED. */
  readonly previousLabels: Readonly<Record<string, string>> | undefined
}

export type ChangeListener = (change: Change) => void

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`

export class ClusterStore {
  private revision = 1
  private oldestRevision = 1
  private readonly objects = new Map<Kind, Map<string, KubeObject>>()
  private readonly history: Array<Change> = []
  private readonly listeners = new Set<ChangeListener>()
  private uidCounter = 0

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.revision
  }

  /** Changes after `resourceVersion`, or undefined when the history no longer reaches back that far. */
  changesSince(resourceVersion: number): ReadonlyArray<Change> | undefined {
    if (resourceVersion < this.oldestRevision - 1) return undefined
    const start = this.history.findIndex((c) => c.resourceVersion > resourceVersion)
    return start < 0 ? [] : this.history.slice(start)
  }

  /** Forgets the history, as etcd compaction does: watches from older versions get 410 Gone. */
  compact(): void {
    this.history.length = 0
    this.oldestRevision = this.revision + 1
  }

  nextUid(): string {
    this.uidCounter++
    return `00000000-0000-4000-8000-${this.uidCounter.toString(16).padStart(12, "0")}`
  }

  get<K extends Kind>(kind: K, namespace: string, name: string): KindMap[K] | undefined {
    return this.objects.get(kind)?.get(keyOf(namespace, name)) as KindMap[K] | undefined
  }

  list<K extends Kind>(kind: K, namespace: string): Array<KindMap[K]> {
    const out: Array<KindMap[K]> = []
    for (const object of this.objects.get(kind)?.values() ?? []) {
      if (object.metadata.namespace === namespace) out.push(object as KindMap[K])
    }
    return out.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
  }

  all(kind: Kind): Array<KubeObject> {
    return [...(this.objects.get(kind)?.values() ?? [])]
  }

  /** Stores the object with a new resourceVersion and records the change. */
  put<K extends Kind>(kind: K, namespace: string, object: KindMap[K]): KindMap[K] {
    const byKey = this.objects.get(kind) ?? new Map<string, KubeObject>()
    this.objects.set(kind, byKey)
    const key = keyOf(namespace, object.metadata.name)
    const previous = byKey.get(key)
    this.revision++
    const stored = {
      ...object,
      metadata: { ...object.metadata, namespace, resourceVersion: String(this.revision) }
    } as KindMap[K]
    byKey.set(key, stored)
    this.record({
      resourceVersion: this.revision,
      kind,
      namespace,
      type: previous === undefined ? "ADDED" : "MODIFIED",
      object: stored,
      previousLabels: previous?.metadata.labels
    })
    return stored
  }

  remove(kind: Kind, namespace: string, name: string): KubeObject | undefined {
    const byKey = this.objects.get(kind)
    const key = keyOf(namespace, name)
    const previous = byKey?.get(key)
    if (byKey === undefined || previous === undefined) return undefined
    byKey.delete(key)
    this.revision++
    const removed = {
      ...previous,
      metadata: { ...previous.metadata, resourceVersion: String(this.revision) }
    } as KubeObject
    this.record({
      resourceVersion: this.revision,
      kind,
      namespace,
      type: "DELETED",
      object: removed,
      previousLabels: previous.metadata.labels
    })
    return removed
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private record(change: Change): void {
    this.history.push(change)
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit)
      const last = dropped[dropped.length - 1]
      if (last !== undefined) this.oldestRevision = last.resourceVersion + 1
    }
    for (const listener of this.listeners) listener(change)
  }
}
