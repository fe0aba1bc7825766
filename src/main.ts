/**
 * The composition root: the CLI, and the only place (with tests) that chooses layers.
 */
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as Version from "./programs/cli/Version.ts"

const root = Command.make("the0-runtime").pipe(
  Command.withDescription("the0 runtime for Kubernetes: controller manager and in-pod runtime"),
  Command.withSubcommands([Version.command])
)

const cli = Command.run(root, { name: "the0-runtime", version: Version.version })

cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain({ disableErrorReporting: false }))
