/**
 * The environment of bot and query processes (docs/contracts.md, "Bot processes"): the runtime's own, without the object-store and
 * NATS credentials and the legacy variables, plus the bot's identity, paths and query inputs.
 */
import type { Env } from "./StorageSettings.ts"

/** Kept from the bot: the runtime needs them, the bot must not see them (COMPATIBILITY.md). */
export const strippedVariables: ReadonlyArray<string> = [
  "MINIO_ACCESS_KEY",
  "MINIO_SECRET_KEY",
  "NATS_URL",
  "NATS_USER",
  "NATS_PASSWORD",
  "NATS_TOKEN",
  "NATS_CREDS",
  "ID",
  "CONFIG"
]

export interface ChildEnvInput {
  readonly botId: string
  readonly botConfig: string
  readonly stateDir: string
  readonly codePath: string
  readonly entrypoint: string
  readonly runtime: string
  readonly botType: string
  readonly queryPath: string
  readonly queryParams: string
}

/** Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 on (`1e+06`, `1.5e-07`). */
const goFloat = (value: number): string => {
  if (value === 0) return "0"
  const [mantissa = "", exp = "0"] = value.toExponential().split("e")
  const exponent = Number(exp)
  if (exponent >= -4 && exponent < 6) return String(value)
  return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`
}

/** Go's `%v` of a decoded JSON value: `true`, `<nil>`, `map[a:1]` (keys sorted), `[1 2]`. */
export const goValue = (value: unknown): string => {
  if (value === null || value === undefined) return "<nil>"
  if (typeof value === "number") return goFloat(value)
  if (typeof value === "string") return value
  if (typeof value === "boolean") return String(value)
  if (Array.isArray(value)) return `[${value.map(goValue).join(" ")}]`
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `map[${entries.map(([key, item]) => `${key}:${goValue(item)}`).join(" ")}]`
}

/** `QUERY_PARAM_<key>` for each top-level key when the params are a JSON object; nothing otherwise. */
export const queryParamVariables = (queryParams: string): Record<string, string> => {
  try {
    const parsed: unknown = JSON.parse(queryParams)
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {}
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).map(([key, value]) => [`QUERY_PARAM_${key}`, goValue(value)])
    )
  } catch {
    return {}
  }
}

export const childEnv = (base: Env, input: ChildEnvInput): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && !strippedVariables.includes(name)) env[name] = value
  }
  Object.assign(env, {
    BOT_ID: input.botId,
    BOT_CONFIG: input.botConfig,
    STATE_DIR: input.stateDir,
    CODE_MOUNT_DIR: input.codePath.replace(/^\//, ""),
    SCRIPT_PATH: input.entrypoint,
    ENTRYPOINT_TYPE: "bot"
  })
  if (input.runtime === "python3.11") {
    env.PYTHONUNBUFFERED = base.PYTHONUNBUFFERED ?? "1"
    const existing = base.PYTHONPATH ?? ""
    env.PYTHONPATH = `${input.codePath}/vendor:${input.codePath}${existing === "" ? "" : `:${existing}`}`
  }
  if (input.queryPath !== "") {
    env.QUERY_PATH = input.queryPath
    if (input.queryParams !== "") {
      env.QUERY_PARAMS = input.queryParams
      Object.assign(env, queryParamVariables(input.queryParams))
    }
  }
  if (input.botType !== "") env.BOT_TYPE = input.botType
  return env
}
