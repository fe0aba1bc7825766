/**
 * Decodes a `POST /query` body exactly as the0's Go handler does (`json.NewDecoder(r.Body).Decode(&req)` into
 * `query.Request`; docs/contracts.md, "The :9477 API"): the first JSON value of the body is read and anything after it is
 * ignored; an empty body is `EOF`; syntax errors carry Go's scanner messages; object keys match the fields
 * case-insensitively (exact spelling first), in document order, the last one winning; `null` leaves a field as
 * it was; a value of the wrong type is Go's `UnmarshalTypeError` (the first one is reported, after the whole
 * value has been read). The scanning is Go's (`GoJson.ts`).
 */
import { Either } from "effect"
import type { JsonObject } from "../../domain/Bot.ts"
import type { QueryRequest } from "../../domain/Query.ts"
import { foldName, GoSyntaxError, type Scanned, scan, shallowLength } from "./GoJson.ts"

const decoder = new TextDecoder()

type Field = "bot_id" | "query_path" | "params" | "timeout_sec"
const fields: ReadonlyArray<Field> = ["bot_id", "query_path", "params", "timeout_sec"]
const goTypes: Readonly<Record<Field, string>> = {
  bot_id: "string",
  query_path: "string",
  params: "map[string]interface {}",
  timeout_sec: "int"
}

const foldedFields = new Map(fields.map((f) => [foldName(f), f]))

const fieldOf = (key: string): Field | undefined =>
  (fields as ReadonlyArray<string>).includes(key) ? (key as Field) : foldedFields.get(foldName(key))

const jsonKind = (value: unknown): string =>
  value === null
    ? "null"
    : Array.isArray(value)
      ? "array"
      : typeof value === "object"
        ? "object"
        : typeof value === "boolean"
          ? "bool"
          : typeof value

const maxInt64 = 2n ** 63n - 1n
const minInt64 = -(2n ** 63n)

/** Go's `strconv.ParseInt(literal, 10, 64)`: only an integer literal in range. */
const goInt = (literal: string): number | undefined => {
  if (!/^-?\d+$/.test(literal)) return undefined
  const big = BigInt(literal)
  return big > maxInt64 || big < minInt64 ? undefined : Number(big)
}

const typeError = (what: string, field: Field) =>
  `json: cannot unmarshal ${what} into Go struct field Request.${field} of type ${goTypes[field]}`

const quotedFields = fields.map((f) => `"${f}"`)
const backslash = 0x5c

/**
 * The common request decoded with `JSON.parse`, when that is sure to agree with Go's decoder: a short body without
 * escapes (so every key is spelt as it reads), each field named at most once and exactly, `bot_id` and
 * `query_path` strings, `params` an object, no `timeout_sec` (Go's `int` refuses `1.0`, `JSON.parse` does not)
 * and no other key folding to a field's name. `undefined` otherwise: `goDecodeQueryRequest` decides.
 */
const commonRequest = (body: Uint8Array): QueryRequest | undefined => {
  if (body.length > shallowLength || body.includes(backslash)) return undefined
  const text = decoder.decode(body)
  for (const quoted of quotedFields) {
    const at = text.indexOf(quoted)
    if (at !== -1 && text.indexOf(quoted, at + 1) !== -1) return undefined
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined
  const object = parsed as Record<string, unknown>
  for (const key of Object.keys(object))
    if (fieldOf(key) !== undefined && !fields.includes(key as Field)) return undefined
  const { bot_id: botId, query_path: queryPath, params } = object
  if (typeof botId !== "string" || typeof queryPath !== "string" || "timeout_sec" in object) return undefined
  if (params === undefined) return { bot_id: botId, query_path: queryPath }
  if (typeof params !== "object" || params === null || Array.isArray(params)) return undefined
  return { bot_id: botId, query_path: queryPath, params: params as JsonObject }
}

/**
 * The request, or the decoder's message (what follows `invalid request body: `). Validation of the decoded
 * fields (`bot_id is required`...) is the caller's.
 */
export const decodeQueryRequest = (body: Uint8Array): Either.Either<QueryRequest, string> => {
  const common = commonRequest(body)
  return common === undefined ? goDecodeQueryRequest(body) : Either.right(common)
}

/** `decodeQueryRequest` by Go's rules alone, for any body. */
export const goDecodeQueryRequest = (body: Uint8Array): Either.Either<QueryRequest, string> => {
  let scanned: Scanned
  try {
    scanned = scan(body)
  } catch (error) {
    if (error instanceof GoSyntaxError) return Either.left(error.message)
    throw error
  }
  if (scanned.kind === "null") return Either.right({ bot_id: "", query_path: "" })
  if (scanned.kind !== "object")
    return Either.left(`json: cannot unmarshal ${scanned.kind} into Go value of type query.Request`)
  let botId = ""
  let queryPath = ""
  let params: Record<string, unknown> | null = null
  let timeoutSec = 0
  let firstError: string | undefined
  const fail = (message: string) => {
    firstError ??= message
  }
  for (const member of scanned.members) {
    const field = fieldOf(member.key)
    if (field === undefined) continue
    const text = decoder.decode(body.subarray(member.start, member.end))
    const value: unknown = JSON.parse(text)
    if (value === null) {
      if (field === "params") params = null
      continue
    }
    switch (field) {
      case "bot_id":
      case "query_path":
        if (typeof value !== "string") fail(typeError(jsonKind(value), field))
        else if (field === "bot_id") botId = value
        else queryPath = value
        break
      case "params":
        if (typeof value !== "object" || Array.isArray(value)) fail(typeError(jsonKind(value), field))
        else params = { ...(params ?? {}), ...(value as Record<string, unknown>) }
        break
      case "timeout_sec": {
        if (typeof value !== "number") {
          fail(typeError(jsonKind(value), field))
          break
        }
        const parsed = goInt(text.trim())
        if (parsed === undefined) fail(typeError(`number ${text.trim()}`, field))
        else timeoutSec = parsed
        break
      }
    }
  }
  if (firstError !== undefined) return Either.left(firstError)
  return Either.right({
    bot_id: botId,
    query_path: queryPath,
    ...(params === null ? {} : { params: params as JsonObject }),
    ...(timeoutSec === 0 ? {} : { timeout_sec: timeoutSec })
  })
}

/** The 400 message for a decoded request whose required fields are empty (docs/contracts.md, "The :9477 API"), if any. */
export const missingField = (request: QueryRequest): string | undefined =>
  request.bot_id === "" ? "bot_id is required" : request.query_path === "" ? "query_path is required" : undefined
