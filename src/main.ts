/**
 * The composition root: the CLI, and the only place (with tests) that chooses layers.
 */
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { layerFromEnvDeferred as minioObjectStoreFromEnv } from "./layers/live/MinioObjectStore.ts"
import * as Daemon from "./programs/cli/Daemon.ts"
import * as Execute from "./programs/cli/Execute.ts"
import * as Render from "./programs/cli/Render.ts"
import * as Version from "./programs/cli/Version.ts"

const root = Command.make("the0-runtime").pipe(
  Command.withDescription("the0 runtime for Kubernetes: controller manager and in-pod runtime"),
  Command.withSubcommands([
    Render.command,
    Version.command,
    Execute.command.pipe(Command.provide(minioObjectStoreFromEnv)),
    Daemon.command.pipe(Command.provide(minioObjectStoreFromEnv))
  ])
)

const cli = Command.run(root, { name: "the0-runtime", version: Version.version })

/** Bad input on stdin exits with code 2, as `render` promises. */
const exitOnInputError = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    self,
    (error) => error instanceof Render.RenderInputError,
    (error) =>
      Console.error(`error: ${(error as Render.RenderInputError).detail}`).pipe(
        Effect.andThen(
          Effect.sync(() => {
            process.exitCode = 2
          })
        )
      )
  )

cli(process.argv).pipe(
  exitOnInputError,
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
