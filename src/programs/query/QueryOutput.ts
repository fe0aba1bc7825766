/**
 * What a bot's query handler answered, on :9476 or in `/query/result.json`, as the0's `parseQueryOutput` reads it
 * (`{status, data, error, available}`, keys matched case-insensitively, `data` kept as it is), and the executor
 * failures that take its place.
 */
import { foldName, goUnmarshalSyntaxError, parsedAsGo } from "./GoJson.ts"

export interface QueryOutput {
  readonly status: string
  /** Present when the bot's answer had a `data` member (even `null`). */
  readonly data?: unknown
  readonly error?: string
}

export const failed = (error: string): QueryOutput => ({ status: "error", error })

const textDecoder = new TextDecoder()

const nonAscii = /[\u0080-\uffff]/

/** `foldName`, by the native upper-casing for ASCII keys (which changes `a`-`z` alone, as Go's fold does). */
const fold = (key: string): string => (nonAscii.test(key) ? foldName(key) : key.toUpperCase())

type Fields = Partial<Record<"STATUS" | "DATA" | "ERROR" | "AVAILABLE", { readonly value: unknown }>>

/** The members of `object` Go's decoder would put in each field: exact or case-folded key, the last one wins. */
const members = (object: Record<string, unknown>): Fields => {
  const found: Record<string, { readonly value: unknown }> = {}
  for (const key of Object.keys(object)) {
    const folded = fold(key)
    if (folded === "STATUS" || folded === "DATA" || folded === "ERROR" || folded === "AVAILABLE")
      found[folded] = { value: object[key] }
  }
  return found
}

const goStructType = "struct { Status string; Data json.RawMessage; Error string; Available []string }"

const kindOf = (value: unknown): string =>
  Array.isArray(value) ? "array" : typeof value === "boolean" ? "bool" : typeof value

/**
 * Parses a bot's answer; an answer that is not the expected JSON becomes the0's
 * `failed to parse query response: <err> (body: <body>)`, with the body shortened to `bodyPreview` characters.
 */
export const parseQueryOutput = (bytes: Uint8Array, bodyPreview = 1024): QueryOutput => {
  const text = textDecoder.decode(bytes)
  const preview = text.length > bodyPreview ? `${text.slice(0, bodyPreview)}... (${bytes.length} bytes)` : text
  const parseError = (err: string) => failed(`failed to parse query response: ${err} (body: ${preview})`)
  const valid = parsedAsGo(bytes, text)
  if (valid === undefined) return parseError(goUnmarshalSyntaxError(bytes) ?? "unexpected end of JSON input")
  const parsed = valid.value
  if (parsed === null) return { status: "" }
  if (typeof parsed !== "object" || Array.isArray(parsed))
    return parseError(`json: cannot unmarshal ${kindOf(parsed)} into Go value of type ${goStructType}`)
  const found = members(parsed as Record<string, unknown>)
  const field = (name: "status" | "error" | "available", type: string, ok: (v: unknown) => boolean) => {
    const m = found[fold(name) as keyof Fields]
    if (m === undefined || m.value === null || ok(m.value)) return undefined
    return `json: cannot unmarshal ${kindOf(m.value)} into Go struct field .${name} of type ${type}`
  }
  const typeError =
    field("status", "string", (v) => typeof v === "string") ??
    field("error", "string", (v) => typeof v === "string") ??
    field("available", "[]string", (v) => Array.isArray(v) && v.every((e) => typeof e === "string" || e === null))
  if (typeError !== undefined) return parseError(typeError)
  const status = found.STATUS?.value
  const data = found.DATA
  const error = found.ERROR?.value
  const available = found.AVAILABLE?.value
  let message = typeof error === "string" ? error : ""
  if (message !== "" && Array.isArray(available) && available.length > 0)
    message = `${message} (available: ${available.map((a) => (typeof a === "string" ? a : "")).join(", ")})`
  return {
    status: typeof status === "string" ? status : "",
    ...(data === undefined ? {} : { data: data.value }),
    ...(message === "" ? {} : { error: message })
  }
}
