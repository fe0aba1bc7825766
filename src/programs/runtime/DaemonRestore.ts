/**
 * `the0-runtime daemon restore` (ours), the `restore` init container of the generated Pods and Jobs
 * (docs/operations.md, "MinIO credentials"): what `execute` did before running the bot (its first and
 * third steps), as the0's legacy `daemon init` did: the code downloaded and extracted (a failure is the
 * command's, exit 1), the state directory made and the state restored (a failure is logged and leaves the
 * restore-failed marker, as in `execute`). It is the only container of a Pod besides the sidecar that holds the
 * object-store credentials, and it has ended before the bot starts.
 *
 * A Pod's init containers run again when its sandbox is recreated (a node restart) while its volumes stay: once a
 * restore has succeeded, a marker in the code directory keeps the code and state as the running bot left them, so
 * state the sidecar has not uploaded yet is not overwritten with the older stored one.
 */
import { access, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { type CodeDownloadError, downloadCode } from "./CodeBundle.ts"
import { downloadState, restoreFailed } from "./StateTransfer.ts"
import type { StorageSettings } from "./StorageSettings.ts"

export interface DaemonRestoreOptions {
  readonly botId: string
  readonly codePath: string
  readonly statePath: string
  /** The code archive's key in the code bucket; empty skips the code download, as in the0. */
  readonly codeFile: string
  readonly storage: StorageSettings
}

/** Written in the code directory once code and state are restored. */
export const restoredMarker = ".the0-restored"

const exists = (file: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    access(file).then(
      () => true,
      () => false
    )
  )

export const daemonRestore = (options: DaemonRestoreOptions): Effect.Effect<void, CodeDownloadError, ObjectStore> =>
  Effect.gen(function* () {
    const marker = path.join(options.codePath, restoredMarker)
    if ((yield* exists(marker)) && !(yield* restoreFailed(options.statePath))) {
      yield* Effect.logInfo("Code and state already restored in this Pod, keeping them as they are")
      return
    }
    yield* downloadCode(options.storage.codeBucket, options.codeFile, options.codePath)
    yield* downloadState({
      bucket: options.storage.stateBucket,
      botId: options.botId,
      statePath: options.statePath,
      maxStateFileSize: options.storage.maxStateFileSize,
      maxStateSize: options.storage.maxStateSize
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`No existing state or download failed: ${error.message}`)))
    yield* Effect.promise(() => writeFile(marker, `${new Date().toISOString()}\n`).catch(() => undefined))
    yield* Effect.logInfo(`Code and state of bot ${options.botId} restored`)
  })
