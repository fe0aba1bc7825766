/**
 * The in-Pod commands (`execute`, `daemon sync`) with the backends they run on, chosen from the environment and
 * loaded only when used: MinIO (or, under `dev`, the on-disk store named in THE0_OBJECT_STORE_DIR), and NATS for
 * live log chunks when `NATS_URL` is set. Nothing of the controller manager is reachable from here, so the bundle
 * built from `pod.ts` stays small (docs/operations.md, "In-pod footprint").
 */
import { Command } from "@effect/cli"
import { Config, Effect, Layer } from "effect"
import * as Daemon from "./programs/cli/Daemon.ts"
import * as Execute from "./programs/cli/Execute.ts"
import type { EventBus } from "./services/EventBus.ts"
import type { ObjectStore } from "./services/ObjectStore.ts"

/** A variable's value from the environment (the ConfigProvider), `""` when unset: it cannot fail but by a defect. */
const variable = (name: string): Effect.Effect<string> => Effect.orDie(Config.string(name).pipe(Config.withDefault("")))

const objectStore = (dir: string): Layer.Layer<ObjectStore> =>
  Layer.unwrapEffect(
    Effect.promise(async () =>
      dir !== ""
        ? (await import("./layers/dev/DiskObjectStore.ts")).layer(dir)
        : (await import("./layers/live/MinioObjectStore.ts")).layerFromEnvDeferred
    )
  )

const liveLogs = (servers: string): Layer.Layer<EventBus> =>
  Layer.unwrapEffect(
    Effect.promise(async () => (await import("./layers/live/BackgroundEventBus.ts")).layer({ servers }))
  )

/** Chosen when a command runs, not when this module loads. */
const services: Layer.Layer<ObjectStore> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const store = objectStore(yield* variable("THE0_OBJECT_STORE_DIR"))
    const natsUrl = yield* variable("NATS_URL")
    return natsUrl !== "" ? Layer.merge(store, liveLogs(natsUrl)) : store
  })
)

export const execute = Execute.command.pipe(Command.provide(services))
export const daemon = Daemon.command.pipe(Command.provide(services))
