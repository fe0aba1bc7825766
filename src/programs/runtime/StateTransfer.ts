/**
 * The state object `<botId>/state.tar.gz` in the state bucket (docs/contracts.md, "Sync"): restore before the bot
 * starts (a missing key or bucket is a first run) and upload when it changed. The upload streams the tar.gz: one PUT
 * when it fits in a part, else a multipart upload that is aborted on a fresh, uninterruptible context if anything
 * fails, so no incomplete upload is ever left behind.
 */
import { access, mkdir, rm, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Data, Duration, Effect, Option, Stream } from "effect"
import { stateKey } from "../../domain/Buckets.ts"
import { type CompletedPart, ObjectStore } from "../../services/ObjectStore.ts"
import { cleanup } from "./Deadline.ts"
import {
  checkLimits,
  extractState,
  packState,
  restoreFailedMarker,
  type StateArchiveError,
  type StateLimits,
  walkState
} from "./StateArchive.ts"
import { describeStoreError } from "./StoreErrors.ts"

export class StateTransferError extends Data.TaggedError("StateTransferError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export interface StateLocation extends StateLimits {
  readonly bucket: string
  readonly botId: string
  readonly statePath: string
}

/** Parts of a streamed state upload (S3 needs at least 5 MiB for all but the last). */
export const statePartSize = 8 * 1024 * 1024

const cleanupDeadline = Duration.seconds(30)

/** "first run" when there was nothing to restore; "restored" with the count of files written. */
export type RestoreResult = { readonly _tag: "FirstRun" } | { readonly _tag: "Restored"; readonly files: number }

/** Writes or removes the marker that tells the syncers not to overwrite the stored state. */
const setRestoreFailed = (statePath: string, failed: boolean) =>
  Effect.promise(() =>
    (failed
      ? writeFile(path.join(statePath, restoreFailedMarker), `${new Date().toISOString()}\n`)
      : rm(path.join(statePath, restoreFailedMarker), { force: true })
    ).catch(() => undefined)
  )

export const downloadState = (
  location: StateLocation
): Effect.Effect<RestoreResult, StateTransferError | StateArchiveError, ObjectStore> =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const { bucket, botId, statePath } = location
    yield* Effect.tryPromise({
      try: () => mkdir(statePath, { recursive: true }),
      catch: (error) => new StateTransferError({ detail: `failed to create ${statePath}: ${String(error)}` })
    })
    const key = stateKey(botId)
    const data = yield* store.get(bucket, key).pipe(
      Effect.map(Option.some),
      Effect.catchTags({
        NoSuchKey: () => Effect.succeed(Option.none()),
        NoSuchBucket: () => Effect.succeed(Option.none())
      }),
      Effect.mapError(
        (error) =>
          new StateTransferError({ detail: `failed to download state ${bucket}/${key}: ${describeStoreError(error)}` })
      )
    )
    if (Option.isNone(data)) {
      yield* Effect.logInfo("No existing state (first run)")
      yield* setRestoreFailed(statePath, false)
      return { _tag: "FirstRun" } as const
    }
    const { files } = yield* extractState(data.value, statePath, location)
    yield* setRestoreFailed(statePath, false)
    return { _tag: "Restored", files } as const
  }).pipe(Effect.tapError(() => setRestoreFailed(location.statePath, true)))

/** Whether the last restore failed, in which case the stored state must not be overwritten. */
export const restoreFailed = (statePath: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    access(path.join(statePath, restoreFailedMarker)).then(
      () => true,
      () => false
    )
  )

/** What an upload did: nothing to upload, or the number of bytes stored. */
export type UploadResult =
  | { readonly _tag: "Skipped"; readonly reason: string }
  | { readonly _tag: "Uploaded"; readonly bytes: number }

export const uploadState = (
  location: StateLocation
): Effect.Effect<UploadResult, StateTransferError | StateArchiveError, ObjectStore> =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const { bucket, botId, statePath } = location
    const entries = yield* walkState(statePath)
    if (entries === undefined) return { _tag: "Skipped", reason: "No state directory, skipping upload" } as const
    if (entries.length === 0) return { _tag: "Skipped", reason: "Empty state directory, skipping upload" } as const
    const overLimit = checkLimits(entries, location)
    if (overLimit !== undefined) return yield* overLimit
    const fail = (what: string) => (error: Parameters<typeof describeStoreError>[0]) =>
      new StateTransferError({ detail: `failed to upload state to MinIO: ${what}: ${describeStoreError(error)}` })
    yield* Effect.mapError(store.ensureBucket(bucket), fail("ensure bucket"))
    const key = stateKey(botId)
    const contentType = "application/gzip"

    let uploadId: string | undefined
    const parts: Array<CompletedPart> = []
    let pending: Array<Uint8Array> = []
    let pendingSize = 0
    let total = 0
    const flushPart = Effect.gen(function* () {
      const id =
        uploadId ??
        (yield* Effect.mapError(store.createMultipartUpload(bucket, key, { contentType }), fail("create upload")))
      uploadId = id
      const body = Buffer.concat(pending)
      pending = []
      pendingSize = 0
      parts.push(yield* Effect.mapError(store.uploadPart(bucket, key, id, parts.length + 1, body), fail("upload part")))
    })
    const abort = Effect.suspend(() =>
      uploadId === undefined
        ? Effect.void
        : cleanup(
            `abort state upload ${bucket}/${key}`,
            store.abortMultipartUpload(bucket, key, uploadId),
            cleanupDeadline
          )
    )
    const run = Stream.fromAsyncIterable(
      packState(statePath, entries) as AsyncIterable<Buffer>,
      (error) => new StateTransferError({ detail: `failed to create tar.gz: ${String(error)}` })
    ).pipe(
      Stream.runForEach((chunk) =>
        Effect.gen(function* () {
          pending.push(chunk)
          pendingSize += chunk.length
          total += chunk.length
          if (pendingSize >= statePartSize) yield* flushPart
        })
      ),
      Effect.zipRight(
        Effect.suspend(() =>
          uploadId === undefined
            ? Effect.mapError(store.put(bucket, key, Buffer.concat(pending), { contentType }), fail("put"))
            : Effect.zipRight(
                pendingSize > 0 ? flushPart : Effect.void,
                Effect.mapError(store.completeMultipartUpload(bucket, key, uploadId, parts), fail("complete upload"))
              )
        )
      )
    )
    yield* Effect.onError(run, () => abort)
    return { _tag: "Uploaded", bytes: total } as const
  })
