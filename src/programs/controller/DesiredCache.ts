/**
 * The desired-state cache (docs/architecture.md, "Reconcile"): what each key should run, as last learned from a
 * resync's list, a read of the store or a document ingest handed over. At rest it keeps per key only what the plan
 * compares (the built object's fingerprint and document hash, or why nothing can be built) and a digest of the
 * document, so that a resync does not build an unchanged document again. The built object itself is kept only from a
 * read, a notification or a resync that has it to send until it is sent (a burst or a start on a full store is thus
 * not read again key by key), and is otherwise built again from the stored document when a plan needs it (`reread`).
 */
import { hash } from "node:crypto"
import { Chunk, Effect, Either, Option, Stream } from "effect"
import { type Bot, isEnabled } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { KindMap } from "../../domain/Kube.ts"
import type { BotStoreError, DocumentCollection } from "../../services/BotStore.ts"
import type { Written } from "../ingest/ApplyEvent.ts"
import type { ManifestSettings } from "../manifests/ManifestSettings.ts"
import type { Absence } from "./ControllerEvents.ts"
import type { OwnedKind } from "./OwnedKinds.ts"
import { type Desired, present, withoutObject } from "./Plan.ts"

/** What is known of one key: what it should run and, for a document that was built, the digest of its JSON. */
export interface Entry<O extends KindMap["Pod" | "CronJob"]> {
  readonly desired: Desired<O>
  readonly digest?: string
}

/** A resync's list of every enabled document, with the observed keys whose document was not listed. */
export interface Listing<O extends KindMap["Pod" | "CronJob"]> {
  /** The notification count when the list began: keys notified after it keep what the notification told. */
  readonly startSeq: number
  /** Every key listed or observed, with what it should run (nothing, for an observed key not listed). */
  readonly entries: ReadonlyMap<string, Entry<O>>
  /** The observed keys whose document was not listed. */
  readonly absent: ReadonlyArray<string>
  readonly observed: number
}

export interface DesiredCache<K extends "Pod" | "CronJob"> {
  /** What the key should run: as cached, else read from the store. */
  readonly read: (id: string) => Effect.Effect<Desired<KindMap[K]>, BotStoreError>
  /** Reads the key's document from the store and builds its object: for a plan that must send it (`Read`). */
  readonly reread: (id: string) => Effect.Effect<Desired<KindMap[K]>, BotStoreError>
  /**
   * Ingest changed the key's document. Without the document, the cache forgets the key (the next read goes to the
   * store); with it, the cache takes it unless a later version was already handed over.
   */
  readonly notified: (id: string, written?: Written) => Effect.Effect<void>
  /** `desired` was acted on (its object sent, or nothing to do): keeps only what the plan compares. */
  readonly settled: (id: string, desired: Desired<KindMap[K]>) => void
  /** Lists every enabled document; `observedIds` are the keys that have objects, read once the list is in. */
  readonly list: (observedIds: () => ReadonlyArray<string>) => Effect.Effect<Listing<KindMap[K]>, BotStoreError>
  /**
   * Takes a listing as the cache, except for the keys notified since the list began (what the notification told is
   * newer than the list), and forgets the keys neither listed nor notified since.
   */
  readonly adopt: (listing: Listing<KindMap[K]>) => void
  /** Whether the listing or a later notification still concerns the key: what other state of a key may keep. */
  readonly keeps: (listing: Listing<KindMap[K]>) => (id: string) => boolean
  /** Why the key wants nothing running, as far as a read or ingest told. */
  readonly absence: (id: string) => Absence
  /** The keys whose document builds no valid object. */
  readonly invalid: () => ReadonlyArray<string>
  /** The keys whose built object is held (to be sent): none at rest. */
  readonly holding: () => ReadonlyArray<string>
}

const digestOf = (json: string) => hash("sha1", json, "base64")

export const make = <K extends "Pod" | "CronJob", D extends Bot>(
  spec: OwnedKind<K, D>,
  manifest: ManifestSettings,
  collection: DocumentCollection<D>,
  undecodable: (error: DocumentDecodeError) => Effect.Effect<void>
): DesiredCache<K> => {
  type O = KindMap[K]
  const entries = new Map<string, Entry<O>>()
  /** The version of the last document ingest handed over, per key: an older one arriving late is not used. */
  const writtenVersion = new Map<string, number>()
  /** When each key was last notified, in notifications counted: the list's guard (see `adopt`). */
  const notifiedAt = new Map<string, number>()
  let notifySeq = 0
  /** Why a key wants nothing running, as far as a read or ingest told; for the Event of its deletion. */
  const absences = new Map<string, Absence>()

  const absent = (id: string, why: Absence): Entry<O> => {
    absences.set(id, why)
    return { desired: { _tag: "Absent" } }
  }
  const unknown = (error: DocumentDecodeError): Effect.Effect<Entry<O>> =>
    Effect.as(undecodable(error), { desired: { _tag: "Unknown", reason: error.message } })

  const built = (document: D, digest: string): Entry<O> => ({
    desired: Either.match(spec.build(manifest, document), {
      onLeft: (error): Desired<O> => ({ _tag: "Invalid", error }),
      onRight: (object) => present(object, spec.fingerprintAnnotation)
    }),
    digest
  })

  /** The entry for a document read or handed over: its object built, and held. */
  const fromDocument = (document: D): Entry<O> => {
    if (!isEnabled(document)) return absent(document.id, "disabled")
    absences.delete(document.id)
    return built(document, digestOf(JSON.stringify(document)))
  }

  /**
   * The entry for a listed document: built only when its digest differs from the cached one, and then with its
   * object, which the resync keeps only for a key whose plan will send it (`settled` drops it otherwise).
   */
  const fromListed = (document: D): Entry<O> => {
    if (!isEnabled(document)) return absent(document.id, "disabled")
    absences.delete(document.id)
    const digest = digestOf(JSON.stringify(document))
    const cached = entries.get(document.id)
    return cached?.digest === digest ? cached : built(document, digest)
  }

  const reread = (id: string) =>
    collection.get(id).pipe(
      Effect.map((found) => (Option.isSome(found) ? fromDocument(found.value) : absent(id, "deleted"))),
      Effect.catchTag("DocumentDecodeError", unknown),
      Effect.map((entry) => {
        entries.set(id, entry)
        return entry.desired
      })
    )

  const notifiedSince = (id: string, seq: number) => (notifiedAt.get(id) ?? -1) > seq

  return {
    read: (id) =>
      Effect.suspend(() => {
        const cached = entries.get(id)
        return cached === undefined ? reread(id) : Effect.succeed(cached.desired)
      }),
    reread,
    notified: (id, written) =>
      Effect.suspend(() => {
        notifiedAt.set(id, ++notifySeq)
        if (written === undefined) {
          entries.delete(id)
          return Effect.void
        }
        const entry =
          written.document === null
            ? Effect.succeed(absent(id, "deleted"))
            : Either.match(spec.decode(written.document), {
                onRight: (document) => Effect.succeed(fromDocument(document)),
                onLeft: unknown
              })
        return Effect.map(entry, (taken) => {
          if (written.version <= (writtenVersion.get(id) ?? -1)) return
          writtenVersion.set(id, written.version)
          entries.set(id, taken)
        })
      }),
    settled: (id, desired) => {
      const entry = entries.get(id)
      if (entry?.desired === desired && desired._tag === "Present" && desired.object !== undefined)
        entries.set(id, { ...entry, desired: withoutObject(desired) })
    },
    list: (observedIds) =>
      Effect.gen(function* () {
        const startSeq = notifySeq
        const results = yield* Stream.runCollect(collection.listEnabled)
        const listed = new Map<string, Entry<O>>()
        for (const result of Chunk.toReadonlyArray(results)) {
          if (Either.isLeft(result)) listed.set(result.left.documentId, yield* unknown(result.left))
          else if (!listed.has(result.right.id)) listed.set(result.right.id, fromListed(result.right))
        }
        const observed = observedIds()
        const absentIds = observed.filter((id) => !listed.has(id))
        for (const id of absentIds) listed.set(id, { desired: { _tag: "Absent" } })
        return { startSeq, entries: listed, absent: absentIds, observed: observed.length }
      }),
    adopt: (listing) => {
      const notified = (id: string) => notifiedSince(id, listing.startSeq)
      for (const id of entries.keys()) if (!listing.entries.has(id) && !notified(id)) entries.delete(id)
      for (const [id, entry] of listing.entries) if (!notified(id)) entries.set(id, entry)
      for (const id of writtenVersion.keys()) if (!listing.entries.has(id) && !notified(id)) writtenVersion.delete(id)
      for (const id of absences.keys()) if (!listing.entries.has(id) && !notified(id)) absences.delete(id)
      // a later list begins after every notification counted so far: only those since this one began still matter
      for (const [id, seq] of notifiedAt) if (seq <= listing.startSeq) notifiedAt.delete(id)
    },
    keeps: (listing) => (id) => listing.entries.has(id) || notifiedSince(id, listing.startSeq),
    absence: (id) => absences.get(id) ?? "unlisted",
    invalid: () => [...entries].filter(([, entry]) => entry.desired._tag === "Invalid").map(([id]) => id),
    holding: () =>
      [...entries]
        .filter(([, entry]) => entry.desired._tag === "Present" && entry.desired.object !== undefined)
        .map(([id]) => id)
  }
}
