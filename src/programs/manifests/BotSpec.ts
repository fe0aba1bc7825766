/**
 * What a bot or schedule document must have before any object is generated for it (docs/contracts.md,
 * "Document validation", in the0's order and with its messages), plus what the API server would reject in its id.
 *
 * Ids: the0 accepts any `[A-Za-z0-9/._-]` id and lets the API server refuse the Pod every cycle. We require
 * what every name derived from the id needs: a DNS-1123 label (lower-case letters, digits and `-`, starting
 * and ending with a letter or digit, at most 63 characters, the label-value limit). Such an id makes `bot-<id>`
 * and `schedule-<id>` valid names, keeps truncated CronJob and Job names valid, and is a valid label value and
 * MinIO key segment. the0's API ids are 24-character lower-case cuid2 strings, so nothing real is turned away;
 * ids with upper case, `_`, `.` or `/` are reported for that document, never rewritten (a rewritten name
 * could collide with another bot's).
 */
import { Either } from "effect"
import type { Bot, JsonObject } from "../../domain/Bot.ts"
import type { RuntimeId } from "../../domain/Runtimes.ts"
import { isSupportedRuntime, unsupportedRuntimeMessage } from "../../domain/Runtimes.ts"
import { ManifestError } from "./ManifestError.ts"

export interface BotSpec {
  readonly id: string
  readonly runtime: RuntimeId
  /** `custom.config.entrypoints.bot`. */
  readonly entrypoint: string
  /** `custom.config.entrypoints.query`, when it is a non-empty string. */
  readonly queryEntrypoint: string | undefined
  /** `custom.filePath`: the code archive's key in the code bucket. */
  readonly filePath: string
  /** `custom.version`, `""` when absent. */
  readonly version: string
  /** `custom.config.name`, when present. */
  readonly customBotName: string | undefined
  /** `config`, the user's configuration (`BOT_CONFIG`, resource overrides, `schedule`). */
  readonly config: JsonObject | undefined
}

export const maxIdLength = 63

const idPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** the0's `validateMinIOPath`: the first character outside `[A-Za-z0-9/._-]`, if any. */
export const unsafePathCharacter = (path: string): string | undefined => /[^A-Za-z0-9/._-]/u.exec(path)?.[0]

/** Why `id` cannot name our objects, or `undefined` when it can (see the module comment). */
export const idProblem = (id: string): string | undefined => {
  const unsafe = unsafePathCharacter(id)
  if (unsafe !== undefined) return `invalid bot ID: invalid character '${unsafe}' in path`
  if (id.length > maxIdLength) return `invalid bot ID: must be no more than ${maxIdLength} characters`
  if (!idPattern.test(id))
    return "invalid bot ID: must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
  return undefined
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value === "" ? undefined : value

/** The generator inputs of a bot or schedule document, or the first problem the0's checks (and the id rules) find. */
export const botSpec = (doc: Bot): Either.Either<BotSpec, ManifestError> => {
  const id = doc.id
  const fail = (field: string, message: string) => Either.left(new ManifestError({ botId: id, field, message }))
  const custom = doc.custom
  const runtime = nonEmpty(custom?.config?.runtime)
  const entrypoints = custom?.config?.entrypoints
  const entrypoint = nonEmpty(entrypoints?.bot)
  const filePath = nonEmpty(custom?.filePath)
  if (runtime === undefined) return fail("custom.config.runtime", `bot ${id}: runtime is required`)
  if (entrypoint === undefined)
    return fail(
      "custom.config.entrypoints.bot",
      `bot ${id}: entrypoint is required (missing entrypoints.bot in config)`
    )
  if (filePath === undefined) return fail("custom.filePath", `bot ${id}: file path is required`)
  const unsafe = unsafePathCharacter(filePath)
  if (unsafe !== undefined) return fail("custom.filePath", `invalid file path: invalid character '${unsafe}' in path`)
  const badId = idProblem(id)
  if (badId !== undefined) return fail("id", badId)
  if (!isSupportedRuntime(runtime))
    return fail("custom.config.runtime", `failed to validate runtime image: ${unsupportedRuntimeMessage(runtime)}`)
  return Either.right({
    id,
    runtime,
    entrypoint,
    queryEntrypoint: nonEmpty(entrypoints?.query),
    filePath,
    version: custom?.version ?? "",
    customBotName: custom?.config?.name,
    config: doc.config
  })
}
