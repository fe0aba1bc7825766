/**
 * The entry of `the0-runtime controller`: `bin/the0-runtime` (and the image's `/app/runtime`) come here for it
 * before loading anything else, and the build bundles it on its own (`dist/controller/controller.mjs`), so the
 * controller process loads only what it runs (docs/operations.md, "Controller footprint").
 */
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { controllerBackends } from "./controllerBackends.ts"
import { dockerModeCommand, hoistGlobalFlags } from "./programs/cli/ArgvCompat.ts"
import * as Controller from "./programs/cli/Controller.ts"
import { version } from "./programs/cli/Version.ts"

const root = Command.make("the0-runtime").pipe(
  Command.withDescription("the0 runtime for Kubernetes: controller manager"),
  Command.withSubcommands([Controller.command(controllerBackends)])
)

const dockerMode = dockerModeCommand(process.argv)
if (dockerMode !== undefined) {
  process.stderr.write(`${dockerMode}\n`)
  process.exit(2)
}

Command.run(root, { name: "the0-runtime", version })(hoistGlobalFlags(process.argv)).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
