/**
 * `the0-runtime dev`: the whole system on this machine (see programs/dev/DevApp.ts), and its client subcommands,
 * which talk to the running `dev` through its admin API with the token it wrote in its data directory (the same
 * `--data-dir`):
 *
 *   dev [--demo] [--data-dir DIR] [--host 127.0.0.1] [--query-port 9477] [--admin-port 9478] [--health-port 9479]
 *   dev add <bundle dir or zip> [--config JSON|FILE] [--id ID]
 *   dev list [--json] | show <id> | config <id> <JSON|FILE> | enable <id> | disable <id> | delete <id>
 *   dev logs <id> [--tail N] [--follow]
 */
import { readFile } from "node:fs/promises"
import * as path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import { Cause, Config, Console, Data, Duration, Effect, Logger, LogLevel, Option } from "effect"
import { queryApiPort } from "../../domain/Query.ts"
import type { Backends } from "../controller/App.ts"
import * as AdminToken from "../dev/AdminToken.ts"
import type { DevSettings } from "../dev/DevApp.ts"
import * as DevApp from "../dev/DevApp.ts"

/** What the composition root needs to build the embedded backends. */
export interface DevBackendInputs {
  readonly namespace: string
  readonly objectsDir: string
  readonly podsDir: string
}

export interface DevEnvironment {
  readonly backends: (inputs: DevBackendInputs) => Backends
  /** The demo bots' bundles (`assets/demo`). */
  readonly demoDir: string
}

const setExitCode = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

class DevCliError extends Data.TaggedError("DevCliError")<{ readonly message: string }> {}

const text = (name: string, env: string, fallback: string, description: string) =>
  Options.text(name).pipe(
    Options.withFallbackConfig(Config.string(env).pipe(Config.withDefault(fallback))),
    Options.withDescription(`${description} (env ${env}, default ${JSON.stringify(fallback)})`)
  )
const integer = (name: string, env: string, fallback: number, description: string) =>
  Options.integer(name).pipe(
    Options.withFallbackConfig(Config.integer(env).pipe(Config.withDefault(fallback))),
    Options.withDescription(`${description} (env ${env}, default ${fallback})`)
  )

const devOptions = {
  demo: Options.boolean("demo").pipe(
    Options.withDescription("Start with a demo realtime bot (with queries) and a demo scheduled bot")
  ),
  dataDir: text("data-dir", "THE0_DEV_DATA_DIR", ".data/dev", "Where bots, state, logs and code are kept"),
  host: text("host", "THE0_DEV_HOST", "127.0.0.1", "Interface every dev server binds"),
  queryPort: integer("query-port", "QUERY_SERVER_PORT", queryApiPort, "Port of the QueryServer"),
  adminPort: integer("admin-port", "THE0_DEV_ADMIN_PORT", 9478, "Port of the admin API"),
  healthPort: integer("health-port", "HEALTH_PORT", 9479, "Port of /healthz, /readyz and /metrics"),
  gracePeriod: integer(
    "grace-period",
    "THE0_DEV_GRACE_PERIOD",
    30,
    "Seconds a stopped bot gets for its final state and log sync"
  ),
  verbose: Options.boolean("verbose").pipe(Options.withDescription("Show the controller's own logs (info level)"))
}

/** The Node error under a failure (a ServeError wraps the listen error in `cause`). */
const nodeErrors = (cause: Cause.Cause<unknown>): ReadonlyArray<{ code?: unknown; port?: unknown; path?: unknown }> => {
  const out: Array<{ code?: unknown; port?: unknown; path?: unknown }> = []
  const visit = (value: unknown, depth: number) => {
    if (depth > 4 || typeof value !== "object" || value === null) return
    out.push(value as { code?: unknown })
    visit((value as { cause?: unknown }).cause, depth + 1)
  }
  for (const failure of [...Cause.failures(cause), ...Cause.defects(cause)]) visit(failure, 0)
  return out
}

/** A readable message for a startup failure, saying what to do. */
const explain = (cause: Cause.Cause<unknown>, settings: DevSettings): string => {
  const errors = nodeErrors(cause)
  const inUse = errors.find((e) => e.code === "EADDRINUSE")
  if (inUse !== undefined)
    return (
      `port ${typeof inUse.port === "number" ? inUse.port : "?"} is already in use: stop the other process ` +
      `(another \`the0-runtime dev\`?) or choose other ports with --query-port (now ${settings.queryPort}), ` +
      `--admin-port (${settings.adminPort}), --health-port (${settings.healthPort})`
    )
  const denied = errors.find((e) => e.code === "EACCES")
  if (denied !== undefined)
    return `permission denied${typeof denied.path === "string" ? ` on ${denied.path}` : ""}: check --data-dir and the ports`
  const first = [...Cause.failures(cause), ...Cause.defects(cause)][0]
  return first instanceof Error || (typeof first === "object" && first !== null && "message" in first)
    ? String((first as { message: unknown }).message)
    : Cause.pretty(cause)
}

export const command = (env: DevEnvironment) => {
  const dev = Command.make("dev", devOptions, (input) => {
    const settings: DevSettings = {
      dataDir: path.resolve(input.dataDir),
      namespace: "the0",
      host: input.host,
      queryPort: input.queryPort,
      adminPort: input.adminPort,
      healthPort: input.healthPort,
      demo: input.demo,
      demoDir: env.demoDir,
      gracePeriodSeconds: input.gracePeriod
    }
    const paths = DevApp.layout(settings.dataDir)
    const backends = env.backends({ namespace: settings.namespace, objectsDir: paths.objects, podsDir: paths.pods })
    return DevApp.run(settings, backends).pipe(
      Effect.scoped,
      Effect.onInterrupt(() => Console.log("\nthe0-runtime dev: stopping bots (final state and log sync)...")),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.void
          : Console.error(`the0-runtime dev could not start: ${explain(cause, settings)}`).pipe(
              Effect.andThen(setExitCode(1))
            )
      ),
      Logger.withMinimumLogLevel(input.verbose ? LogLevel.Info : LogLevel.Warning)
    )
  }).pipe(Command.withDescription("Run the whole system on this machine: controller, QueryServer, bots as processes"))
  return dev.pipe(Command.withSubcommands([add, list, show, config, enable, disable, remove, logs]))
}

// ---- client subcommands -----------------------------------------------------------------------------------------

const adminUrl = text("admin-url", "THE0_DEV_ADMIN_URL", "http://127.0.0.1:9478", "The admin API of the running dev")

/** Where the running dev is and where its admin token is (`<data dir>/admin-token`). */
interface Target {
  readonly adminUrl: string
  readonly dataDir: string
}

/**
 * Calls the admin API with the running dev's token; its `{"error"}` answers and an unreachable dev become a
 * DevCliError saying what to do.
 */
const call = (target: Target, method: string, route: string, body?: unknown) =>
  Effect.gen(function* () {
    const base = target.adminUrl
    const url = `${base.replace(/\/+$/, "")}${route}`
    const token = yield* Effect.mapError(
      AdminToken.read(path.resolve(target.dataDir)),
      (error) => new DevCliError({ message: error.message })
    )
    const response = yield* Effect.tryPromise({
      try: (signal) =>
        fetch(url, {
          method,
          signal,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        }),
      catch: () =>
        new DevCliError({
          message: `cannot reach the dev admin API at ${base}: is \`the0-runtime dev\` running? (start it in another terminal, or pass --admin-url)`
        })
    })
    const text = yield* Effect.tryPromise({
      try: () => response.text(),
      catch: () => new DevCliError({ message: `the admin API at ${base} closed the connection` })
    })
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return yield* new DevCliError({ message: `unexpected answer from ${url}: ${text.slice(0, 200)}` })
    }
    if (!response.ok) {
      const error = (parsed as { error?: unknown }).error
      return yield* new DevCliError({ message: typeof error === "string" ? error : `${response.status} from ${url}` })
    }
    return parsed
  })

/** `--config` / a config argument: inline JSON (starting with `{`) or a JSON file. */
const readConfig = (value: string, what: string) =>
  Effect.gen(function* () {
    const trimmed = value.trim()
    const source = trimmed.startsWith("{")
      ? trimmed
      : yield* Effect.tryPromise({
          try: () => readFile(trimmed, "utf8"),
          catch: () =>
            new DevCliError({
              message: `${what}: ${JSON.stringify(value)} is neither a JSON object nor a readable file`
            })
        })
    let parsed: unknown
    try {
      parsed = JSON.parse(source)
    } catch (error) {
      return yield* new DevCliError({
        message: `${what} is not JSON: ${error instanceof Error ? error.message : String(error)}`
      })
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      return yield* new DevCliError({ message: `${what} must be a JSON object, e.g. '{"symbol":"BTC/USD"}'` })
    return parsed as Record<string, unknown>
  })

/** Runs a client command: its failure is printed as `error: ...` with exit code 1. */
const client = <A>(effect: Effect.Effect<A, DevCliError>) =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchTag("DevCliError", (error) =>
      Console.error(`error: ${error.message}`).pipe(Effect.andThen(setExitCode(1)))
    )
  )

export interface View {
  readonly id: string
  readonly name: string
  readonly kind: string
  readonly enabled: boolean
  readonly state: string
  readonly reason?: string
  readonly restarts: number
  readonly queryAddress?: string
  readonly schedule?: string
  readonly nextRun?: string
  readonly lastRun?: {
    readonly state: string
    readonly finishedAt?: string
    readonly startedAt?: string
    readonly exitCode?: number
  }
}

/** The `dev list` table, then the reason of each failed bot. */
export const table = (views: ReadonlyArray<View>): string => {
  const rows = [
    ["ID", "NAME", "KIND", "STATE", "RESTARTS", "LAST RUN", "NEXT RUN"],
    ...views.map((v) => [
      v.id,
      v.name,
      v.kind,
      v.state,
      String(v.restarts),
      v.lastRun === undefined
        ? "-"
        : `${v.lastRun.state}${v.lastRun.exitCode === undefined ? "" : ` (exit ${v.lastRun.exitCode})`} ${v.lastRun.finishedAt ?? v.lastRun.startedAt ?? ""}`.trim(),
      v.nextRun ?? "-"
    ])
  ]
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? []
  const reasons = views.flatMap((v) => (v.reason === undefined ? [] : [`${v.id}: ${v.state}: ${v.reason}`]))
  return [
    ...rows.map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd()
    ),
    ...(reasons.length === 0 ? [] : ["", ...reasons])
  ].join("\n")
}

const idArg = Args.text({ name: "id" }).pipe(Args.withDescription("The bot id (see `dev list`)"))

const add = Command.make(
  "add",
  {
    adminUrl,
    dataDir: devOptions.dataDir,
    bundle: Args.text({ name: "bundle" }).pipe(
      Args.withDescription("A bot bundle: a directory with bot-config.yaml, or its zip")
    ),
    config: Options.text("config").pipe(
      Options.withDefault("{}"),
      Options.withDescription('The bot\'s config: inline JSON or a JSON file (a scheduled bot needs "schedule")')
    ),
    id: Options.text("id").pipe(Options.optional, Options.withDescription("A fixed id (default: from the bot's name)"))
  },
  (input) =>
    client(
      Effect.gen(function* () {
        const config = yield* readConfig(input.config, "--config")
        const view = (yield* call(input, "POST", "/bots", {
          path: path.resolve(input.bundle),
          config,
          ...(Option.isSome(input.id) ? { id: input.id.value } : {})
        })) as View
        yield* Console.log(
          `added ${view.kind} bot ${view.id} (${view.name}); \`the0-runtime dev list\` shows its state`
        )
      })
    )
).pipe(Command.withDescription("Add a bot from a bundle directory or zip and a config"))

const list = Command.make(
  "list",
  { adminUrl, dataDir: devOptions.dataDir, json: Options.boolean("json").pipe(Options.withDescription("Print JSON")) },
  (input) =>
    client(
      Effect.gen(function* () {
        const views = (yield* call(input, "GET", "/bots")) as ReadonlyArray<View>
        yield* Console.log(input.json ? JSON.stringify(views, null, 2) : views.length === 0 ? "no bots" : table(views))
      })
    )
).pipe(Command.withDescription("List the bots with their state"))

const show = Command.make("show", { adminUrl, dataDir: devOptions.dataDir, id: idArg }, (input) =>
  client(
    Effect.flatMap(call(input, "GET", `/bots/${encodeURIComponent(input.id)}`), (view) =>
      Console.log(JSON.stringify(view, null, 2))
    )
  )
).pipe(Command.withDescription("Show one bot, with its config"))

const config = Command.make(
  "config",
  {
    adminUrl,
    dataDir: devOptions.dataDir,
    id: idArg,
    config: Args.text({ name: "config" }).pipe(Args.withDescription("Inline JSON or a JSON file"))
  },
  (input) =>
    client(
      Effect.gen(function* () {
        const value = yield* readConfig(input.config, "the config")
        yield* call(input, "PUT", `/bots/${encodeURIComponent(input.id)}/config`, { config: value })
        yield* Console.log(`config of ${input.id} replaced; the bot restarts with it (its state is kept)`)
      })
    )
).pipe(Command.withDescription("Replace a bot's config (it restarts with the new one)"))

const toggle = (name: "enable" | "disable") =>
  Command.make(name, { adminUrl, dataDir: devOptions.dataDir, id: idArg }, (input) =>
    client(
      Effect.flatMap(call(input, "POST", `/bots/${encodeURIComponent(input.id)}/${name}`), () =>
        Console.log(`${input.id} ${name}d`)
      )
    )
  ).pipe(
    Command.withDescription(
      name === "enable" ? "Enable a bot" : "Disable a bot (it is stopped; its final state and logs are saved)"
    )
  )
const enable = toggle("enable")
const disable = toggle("disable")

const remove = Command.make("delete", { adminUrl, dataDir: devOptions.dataDir, id: idArg }, (input) =>
  client(
    Effect.flatMap(call(input, "DELETE", `/bots/${encodeURIComponent(input.id)}`), () =>
      Console.log(`${input.id} deleted`)
    )
  )
).pipe(Command.withDescription("Delete a bot"))

const logs = Command.make(
  "logs",
  {
    adminUrl,
    dataDir: devOptions.dataDir,
    id: idArg,
    tail: Options.integer("tail").pipe(Options.withDefault(50), Options.withDescription("Lines to show first")),
    follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("Keep printing new lines"))
  },
  (input) =>
    client(
      Effect.gen(function* () {
        const route = `/bots/${encodeURIComponent(input.id)}/logs`
        const first = (yield* call(input, "GET", `${route}?tail=${input.tail}`)) as {
          lines: ReadonlyArray<string>
          total: number
        }
        for (const line of first.lines) yield* Console.log(line)
        if (!input.follow) return
        let total = first.total
        while (true) {
          yield* Effect.sleep(Duration.seconds(1))
          const page = (yield* call(input, "GET", `${route}?after=${total}`)) as {
            lines: ReadonlyArray<string>
            total: number
          }
          for (const line of page.lines) yield* Console.log(line)
          total = page.total
        }
      })
    )
).pipe(Command.withDescription("Print a bot's logs (as synced to the object store)"))
