/**
 * The in-Pod commands (`execute`, `daemon sync`) with the backends they run on, chosen from the environment and
 * loaded only when used: MinIO (or, under `dev`, the on-disk store named in THE0_OBJECT_STORE_DIR), and NATS for
 * live log chunks when `NATS_URL` is set. Nothing of the controller manager is reachable from here, so the bundle
 * built from `pod.ts` stays small (docs/operations.md, "In-pod footprint").
 */
import { Command } from "@effect/cli"
import { Effect, Layer } from "effect"
import * as Daemon from "./programs/cli/Daemon.ts"
import * as Execute from "./programs/cli/Execute.ts"
import type { EventBus } from "./services/EventBus.ts"
import type { ObjectStore } from "./services/ObjectStore.ts"

const objectStore: Layer.Layer<ObjectStore> = Layer.unwrapEffect(
  Effect.promise(async () => {
    const dir = process.env.THE0_OBJECT_STORE_DIR
    if (dir) return (await import("./layers/dev/DiskObjectStore.ts")).layer(dir)
    return (await import("./layers/live/MinioObjectStore.ts")).layerFromEnvDeferred
  })
)

const liveLogs = (servers: string): Layer.Layer<EventBus> =>
  Layer.unwrapEffect(
    Effect.promise(async () => (await import("./layers/live/BackgroundEventBus.ts")).layer({ servers }))
  )

const services: Layer.Layer<ObjectStore> = process.env.NATS_URL
  ? Layer.merge(objectStore, liveLogs(process.env.NATS_URL))
  : objectStore

export const execute = Execute.command.pipe(Command.provide(services))
export const daemon = Daemon.command.pipe(Command.provide(services))
