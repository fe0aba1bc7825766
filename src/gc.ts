/**
 * The entry of `gc`: `bin/the0-runtime` comes here for it, and the build bundles it on its own (`dist/pod/gc.mjs`),
 * so the0's gc CronJob (128 MiB) loads only MongoDB and MinIO clients, not the controller manager
 * (docs/operations.md, "Garbage collection").
 */
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { gcBackends } from "./gcBackends.ts"
import * as Gc from "./programs/cli/Gc.ts"
import { version } from "./programs/cli/Version.ts"

const root = Command.make("the0-runtime").pipe(Command.withSubcommands([Gc.command(gcBackends)]))

Command.run(root, { name: "the0-runtime", version })(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
