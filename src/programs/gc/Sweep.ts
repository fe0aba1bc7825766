/**
 * One garbage-collection sweep of object storage (docs/operations.md, "Garbage collection"): what the0's `gc`
 * removes, in its order, with the safety rails the controllers have.
 *
 * 1. Temporary log chunks (`logs/<id>/.tmp-*`) and multipart uploads in the log and state buckets older than
 *    `staleAfter`: left behind by a sync daemon killed mid-append.
 * 2. Query results older than `queryResultTtl`: left behind by a controller that died while waiting for a Job.
 * 3. The objects of orphaned bots: ids that own logs or a state archive but have no document in either collection.
 *    Both collections are read whole (every document, enabled or not); a failed read fails the sweep before
 *    anything of a bot is deleted. A read that finds no documents at all, or orphans above the mass-deletion rail,
 *    deletes no bot's objects unless `allowMassDelete` says so, and the report says why.
 *
 * Buckets are scanned as streams (memory grows with the number of bots, not of objects, so the0's 128 MiB gc
 * CronJob holds years of daily logs). Every scan happens before any deletion, and one that fails fails the sweep.
 * A deletion that fails is reported and the sweep goes on. In a dry run the deletions are only reported.
 */
import { Clock, Data, Duration, Effect, Stream } from "effect"
import { logPrefix } from "../../domain/Buckets.ts"
import { massDeleteThreshold } from "../../domain/MassDelete.ts"
import { BotStore } from "../../services/BotStore.ts"
import { type IncompleteUpload, type ObjectInfo, ObjectStore } from "../../services/ObjectStore.ts"

export interface SweepSettings {
  readonly buckets: { readonly state: string; readonly logs: string; readonly queryResults: string }
  /** Temporary log chunks and multipart uploads older than this are abandoned (the0: one hour). */
  readonly staleAfter: Duration.DurationInput
  /** Query results older than this are removed. */
  readonly queryResultTtl: Duration.DurationInput
  readonly dryRun: boolean
  /** Delete the objects of orphaned bots even when the rail would refuse. */
  readonly allowMassDelete: boolean
}

export const defaults = {
  staleAfter: "1 hour",
  queryResultTtl: "1 hour",
  dryRun: false,
  allowMassDelete: false
} as const

export type Reason = "stale-temp-chunk" | "stale-upload" | "expired-query-result" | "orphaned-bot"

export interface Deletion {
  readonly reason: Reason
  readonly bucket: string
  readonly key: string
  /** Set for a multipart upload: the upload is aborted, no object is deleted. */
  readonly uploadId?: string
  /** Set for the objects of an orphaned bot. */
  readonly botId?: string
}

export interface SweepReport {
  /** Bots (and schedules) that own objects. */
  readonly botsWithObjects: number
  readonly orphanedBots: ReadonlyArray<string>
  /** Done, or in a dry run what would be done. */
  readonly deletions: ReadonlyArray<Deletion>
  readonly failures: ReadonlyArray<{ readonly deletion: Deletion; readonly detail: string }>
  /** Why the objects of orphaned bots were kept, when they were. */
  readonly refusal: string | undefined
}

/** A listing of object storage or a read of the store failed: nothing of any bot was deleted. */
export class SweepFailed extends Data.TaggedError("SweepFailed")<{ readonly step: string; readonly detail: string }> {
  override get message(): string {
    return `${this.step}: ${this.detail}`
  }
}

const listingConcurrency = 16
const deletionConcurrency = 16

const lastSegment = (key: string): string => key.slice(key.lastIndexOf("/") + 1)

/** `logs/<id>/<file>` with both parts non-empty names bot `<id>` (the0's rule). */
export const logOwner = (key: string): string | undefined => {
  const parts = key.split("/")
  return parts.length >= 3 && parts[0] === "logs" && parts[1] !== "" && parts.slice(2).join("/") !== ""
    ? parts[1]
    : undefined
}

/** `<id>/state.tar.gz` names bot `<id>` (the0's rule: the first segment of a key ending in `/state.tar.gz`). */
export const stateOwner = (key: string): string | undefined => {
  const owner = key.split("/")[0]
  return key.endsWith("/state.tar.gz") && owner !== undefined && owner !== "" ? owner : undefined
}

export const sweep = (settings: SweepSettings) =>
  Effect.gen(function* () {
    const objects = yield* ObjectStore
    const store = yield* BotStore
    const now = yield* Clock.currentTimeMillis
    const staleBefore = now - Duration.toMillis(settings.staleAfter)
    const expiredBefore = now - Duration.toMillis(settings.queryResultTtl)
    const { logs: logsBucket, state: stateBucket, queryResults } = settings.buckets

    const failed = (step: string) => (error: { readonly message: string }) =>
      new SweepFailed({ step, detail: error.message })
    /** Every object under `prefix`, one at a time; a bucket that does not exist yet holds nothing. */
    const scan = (bucket: string, prefix: string, each: (o: ObjectInfo) => void) =>
      objects.scan(bucket, prefix).pipe(
        Stream.runForEach((o) => Effect.sync(() => each(o))),
        Effect.catchTag("NoSuchBucket", () => Effect.void),
        Effect.mapError(failed(`listing ${bucket}`))
      )
    /** Every open upload of the bucket: S3, R2 and MinIO all list them for an empty prefix (MinIO for no other). */
    const staleUploads = (bucket: string) =>
      objects.listIncompleteUploads(bucket, "").pipe(
        Effect.catchTag("NoSuchBucket", () => Effect.succeed<ReadonlyArray<IncompleteUpload>>([])),
        Effect.mapError(failed(`listing uploads in ${bucket}`)),
        Effect.map((uploads) =>
          uploads
            .filter((upload) => upload.initiated.getTime() < staleBefore)
            .map((upload): Deletion => ({ reason: "stale-upload", bucket, key: upload.key, uploadId: upload.uploadId }))
        )
      )

    const stale: Array<Deletion> = []
    const logOwners = new Set<string>()
    const stateKeys = new Map<string, Array<string>>()
    yield* scan(logsBucket, "logs/", (o) => {
      const owner = logOwner(o.key)
      if (owner !== undefined) logOwners.add(owner)
      if (lastSegment(o.key).startsWith(".tmp-") && o.lastModified.getTime() < staleBefore)
        stale.push({ reason: "stale-temp-chunk", bucket: logsBucket, key: o.key })
    })
    yield* scan(stateBucket, "", (o) => {
      const owner = stateOwner(o.key)
      if (owner !== undefined) stateKeys.set(owner, [...(stateKeys.get(owner) ?? []), o.key])
    })
    yield* scan(queryResults, "", (o) => {
      if (o.lastModified.getTime() < expiredBefore)
        stale.push({ reason: "expired-query-result", bucket: queryResults, key: o.key })
    })
    stale.push(...(yield* staleUploads(logsBucket)), ...(yield* staleUploads(stateBucket)))

    const owners = new Set([...logOwners, ...stateKeys.keys()])
    const known =
      owners.size === 0
        ? new Set<string>()
        : yield* Effect.all([store.bots.listIds, store.schedules.listIds], { concurrency: 2 }).pipe(
            Effect.map(([bots, schedules]) => new Set([...bots, ...schedules])),
            Effect.mapError(failed("reading the store"))
          )
    const orphans = [...owners].filter((id) => !known.has(id)).sort()
    const refusal = settings.allowMassDelete ? undefined : refuse(orphans.length, owners.size, known.size)

    /** The objects of one orphaned bot: everything under its log prefix (listed again now) and its state. */
    const objectsOf = (botId: string) =>
      (logOwners.has(botId) ? objects.list(logsBucket, logPrefix(botId)) : Effect.succeed([])).pipe(
        Effect.catchTag("NoSuchBucket", () => Effect.succeed<ReadonlyArray<ObjectInfo>>([])),
        Effect.map(
          (logs): ReadonlyArray<Deletion> => [
            ...logs.map((o): Deletion => ({ reason: "orphaned-bot", bucket: logsBucket, key: o.key, botId })),
            ...(stateKeys.get(botId) ?? []).map(
              (key): Deletion => ({ reason: "orphaned-bot", bucket: stateBucket, key, botId })
            )
          ]
        ),
        Effect.mapError((error) => ({
          deletion: { reason: "orphaned-bot" as const, bucket: logsBucket, key: logPrefix(botId), botId },
          detail: `listing: ${error.message}`
        })),
        Effect.either
      )
    const orphaned =
      refusal === undefined ? yield* Effect.forEach(orphans, objectsOf, { concurrency: listingConcurrency }) : []
    const deletions = [...stale, ...orphaned.flatMap((e) => (e._tag === "Right" ? e.right : []))]
    const unlisted = orphaned.flatMap((e) => (e._tag === "Left" ? [e.left] : []))

    const [failures, done] = settings.dryRun
      ? [[], deletions]
      : yield* Effect.partition(deletions, remove, { concurrency: deletionConcurrency })
    return {
      botsWithObjects: owners.size,
      orphanedBots: orphans,
      deletions: done,
      failures: [...unlisted, ...failures.map(({ deletion, detail }) => ({ deletion, detail }))],
      refusal
    } satisfies SweepReport
  })

/** Why orphans must not be deleted, if they must not. */
export const refuse = (orphans: number, botsWithObjects: number, documents: number): string | undefined => {
  if (orphans === 0) return undefined
  if (documents === 0) {
    return `the store holds no bot or schedule documents at all, so the objects of all ${orphans} bots would go; check MONGO_URI, or run with --allow-mass-delete if every bot really is gone`
  }
  const threshold = massDeleteThreshold(botsWithObjects)
  return orphans > threshold
    ? `${orphans} of the ${botsWithObjects} bots with objects have no document, more than the ${threshold} one sweep may delete (max(10, 50%)); check the database, or run with --allow-mass-delete`
    : undefined
}

class DeletionFailed extends Data.TaggedError("DeletionFailed")<{
  readonly deletion: Deletion
  readonly detail: string
}> {}

const remove = (deletion: Deletion) =>
  Effect.flatMap(ObjectStore, (objects) =>
    deletion.uploadId === undefined
      ? objects.remove(deletion.bucket, deletion.key)
      : objects
          .abortMultipartUpload(deletion.bucket, deletion.key, deletion.uploadId)
          .pipe(Effect.catchTag("NoSuchUpload", () => Effect.void))
  ).pipe(
    Effect.as(deletion),
    Effect.mapError((error) => new DeletionFailed({ deletion, detail: error.message }))
  )
