/** The on-disk ObjectStore of `dev` passes the same contract as MinIO and the memory fake. */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import * as DiskObjectStore from "../../../src/layers/dev/DiskObjectStore.ts"
import { objectStoreContract } from "../../contracts/ObjectStoreContract.ts"

/** A fresh directory per test, removed afterwards. */
const freshStore = Layer.unwrapScoped(
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() => mkdtemp(path.join(tmpdir(), "disk-store-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    ),
    DiskObjectStore.layer
  )
)

objectStoreContract("disk", freshStore)
