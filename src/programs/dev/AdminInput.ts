/**
 * What the admin API accepts (README.md, "Dev mode"): a body of at most 64 MiB, JSON nested at most 400 deep, a
 * config of at most 256 KiB serialized (a bot's config reaches it as `BOT_CONFIG` in its environment, which the
 * system caps), an id that is a string the controller accepts (`idProblem`, the controller's own rule), and the
 * fields' types. Each check names the field and the limit.
 */
import { Data, Either } from "effect"
import type { JsonObject } from "../../domain/Bot.ts"
import { idProblem } from "../manifests/BotSpec.ts"

/** Input the admin API refuses (answered 400 with its message). */
export class InvalidInput extends Data.TaggedError("InvalidInput")<{ readonly message: string }> {}

const invalid = (message: string) => Either.left(new InvalidInput({ message }))

export const maxBodyBytes = 64 * 1024 * 1024
export const maxConfigBytes = 256 * 1024
export const maxDepth = 400

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Where `text` (JSON) nests deeper than `limit` arrays and objects, or `undefined`: the top-level field it happens
 * in (the body's own nesting when outside any). A linear scan, done before parsing.
 */
export const tooDeep = (text: string, limit: number): { readonly field: string | undefined } | undefined => {
  let depth = 0
  let field: string | undefined
  let lastTopString: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      const start = i
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++
      if (depth === 1) lastTopString = text.slice(start + 1, i)
    } else if (c === 0x7b || c === 0x5b) {
      depth++
      if (depth === 2) field = lastTopString
      if (depth > limit) return { field }
    } else if (c === 0x7d || c === 0x5d) {
      depth--
      if (depth === 1) field = undefined
    }
  }
  return undefined
}

/** The body as a JSON object, or what is wrong with it. */
export const parseBody = (text: string): Either.Either<Record<string, unknown>, InvalidInput> => {
  const deep = tooDeep(text, maxDepth)
  if (deep !== undefined)
    return invalid(
      `${deep.field === undefined ? "the request body" : JSON.stringify(deep.field)} nests deeper than ${maxDepth} levels of arrays and objects`
    )
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return invalid(`the request body is not JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  return isObject(parsed) ? Either.right(parsed) : invalid("the request body must be a JSON object")
}

/** `config`: a JSON object of at most `maxConfigBytes` serialized. */
export const configOf = (fields: Record<string, unknown>): Either.Either<JsonObject, InvalidInput> => {
  const config = fields.config
  if (!isObject(config))
    return invalid(
      `"config" must be a JSON object (the bot's user config), found ${JSON.stringify(config) ?? "nothing"}`
    )
  const size = Buffer.byteLength(JSON.stringify(config))
  return size > maxConfigBytes
    ? invalid(`"config" is ${size} bytes serialized; the limit is ${maxConfigBytes} (256 KiB)`)
    : Either.right(config as JsonObject)
}

/** `id`: absent, or a string the controller accepts as a bot id. */
export const idOf = (fields: Record<string, unknown>): Either.Either<string | undefined, InvalidInput> => {
  const id = fields.id
  if (id === undefined) return Either.right(undefined)
  if (typeof id !== "string") return invalid(`"id" must be a string (a bot id), found ${JSON.stringify(id)}`)
  const problem = idProblem(id)
  return problem === undefined ? Either.right(id) : invalid(`"id" ${JSON.stringify(id)}: ${problem}`)
}

/** An optional string field (`path`, `bundle`): absent, or a non-empty string. */
export const stringField = (
  fields: Record<string, unknown>,
  name: string
): Either.Either<string | undefined, InvalidInput> => {
  const value = fields[name]
  if (value === undefined) return Either.right(undefined)
  return typeof value === "string" && value !== ""
    ? Either.right(value)
    : invalid(`${JSON.stringify(name)} must be a non-empty string, found ${JSON.stringify(value)}`)
}
