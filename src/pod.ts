/**
 * The entry of the in-Pod commands, `execute` and `daemon sync`: `bin/the0-runtime` (and the image's
 * `/app/runtime`) come here for them before loading anything else, and the build bundles it on its own
 * (`dist/pod/pod.mjs`) so a Pod's three processes load only what they run (docs/operations.md, "In-pod footprint").
 */
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { daemon, execute } from "./podCommands.ts"
import { dockerModeCommand } from "./programs/cli/ArgvCompat.ts"
import { version } from "./programs/cli/Version.ts"

const root = Command.make("the0-runtime").pipe(
  Command.withDescription("the0 runtime for Kubernetes: controller manager and in-pod runtime"),
  Command.withSubcommands([execute, daemon])
)

const dockerMode = dockerModeCommand(process.argv)
if (dockerMode !== undefined) {
  process.stderr.write(`${dockerMode}\n`)
  process.exit(2)
}

Command.run(root, { name: "the0-runtime", version })(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
