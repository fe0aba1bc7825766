/**
 * The composition root: the CLI, and the only place (with tests) that chooses layers.
 */

import { fileURLToPath } from "node:url"
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { controllerBackends } from "./controllerBackends.ts"
import { gcBackends } from "./gcBackends.ts"
import * as DevBackends from "./layers/dev/DevBackends.ts"
import { daemon, execute } from "./podCommands.ts"
import { dockerModeCommand, hoistGlobalFlags } from "./programs/cli/ArgvCompat.ts"
import * as Controller from "./programs/cli/Controller.ts"
import * as Dev from "./programs/cli/Dev.ts"
import * as Gc from "./programs/cli/Gc.ts"
import * as Render from "./programs/cli/Render.ts"
import * as Status from "./programs/cli/Status.ts"
import * as Version from "./programs/cli/Version.ts"
import { statusBackends } from "./statusBackends.ts"

/** `dev`: embedded backends; Pods run this CLI (bin/the0-runtime) with the wrappers and demo bots of this checkout. */
const repo = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url))
const devEnvironment: Dev.DevEnvironment = {
  demoDir: repo("assets/demo"),
  backends: (inputs) =>
    DevBackends.layer({
      ...inputs,
      runtime: { file: repo("bin/the0-runtime"), args: [] },
      wrappersDir: repo("assets/wrappers")
    })
}

const root = Command.make("the0-runtime").pipe(
  Command.withDescription("the0 runtime for Kubernetes: controller manager and in-pod runtime"),
  Command.withSubcommands([
    Controller.command(controllerBackends),
    Render.command,
    Version.command,
    Dev.command(devEnvironment),
    Gc.command(gcBackends),
    Status.command(statusBackends),
    execute,
    daemon
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

const dockerMode = dockerModeCommand(process.argv)
if (dockerMode !== undefined) {
  process.stderr.write(`${dockerMode}\n`)
  process.exit(2)
}

cli(hoistGlobalFlags(process.argv)).pipe(
  exitOnInputError,
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
