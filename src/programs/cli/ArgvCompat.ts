/**
 * The command-line shapes of the0's runtime that our CLI parser does not take as they are: the root's persistent
 * flags (`--mongo-uri`, `--nats-url`) given before the subcommand, as the0's Helm chart and operators' scripts may
 * pass them, and the commands of the0's Docker mode, which this Kubernetes-mode runtime does not have.
 */

/** The0's persistent flags; each takes a value (`--flag=value` or `--flag value`). */
const globalFlags = ["--mongo-uri", "--nats-url"]

const isGlobalFlag = (arg: string): boolean => globalFlags.some((flag) => arg === flag || arg.startsWith(`${flag}=`))

/**
 * `argv` (node, script, ...args) with the persistent flags that come before the subcommand moved right after it,
 * where the subcommand's own options are parsed. Anything else is left as it is.
 */
export const hoistGlobalFlags = (argv: ReadonlyArray<string>): Array<string> => {
  const [node = "", script = "", ...args] = argv
  const hoisted: Array<string> = []
  let i = 0
  while (i < args.length && isGlobalFlag(args[i] ?? "")) {
    const arg = args[i] ?? ""
    hoisted.push(arg)
    if (!arg.includes("=") && i + 1 < args.length) hoisted.push(args[i + 1] ?? "")
    i += arg.includes("=") ? 1 : 2
  }
  if (hoisted.length === 0 || i >= args.length) return [...argv]
  const [command = "", ...rest] = args.slice(i)
  return [node, script, command, ...hoisted, ...rest]
}

/** the0's Docker-mode commands: the message for one, when `argv` names it. */
export const dockerModeCommand = (argv: ReadonlyArray<string>): string | undefined => {
  const [command = "", sub = ""] = argv.slice(2)
  const name = ["bot-runner", "bot-scheduler", "query-server"].includes(command)
    ? command
    : command === "daemon" && sub === "init"
      ? "daemon init"
      : undefined
  return name === undefined
    ? undefined
    : `error: \`${name}\` belongs to the0's Docker mode; this runtime is the Kubernetes mode only ` +
        "(controller, execute, daemon sync, render, dev, version)"
}
