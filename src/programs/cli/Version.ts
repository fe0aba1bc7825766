import { Command } from "@effect/cli"
import { Console } from "effect"
import packageJson from "../../../package.json" with { type: "json" }

export const version: string = packageJson.version

/** `the0-runtime version`, worded as the0's. */
export const command = Command.make("version", {}, () => Console.log(`the0-runtime version ${version}`)).pipe(
  Command.withDescription("Print the version")
)
