/**
 * What a bot's query handler answered, on :9476 or in `/query/result.json`, as the0's `parseQueryOutput` reads it
 * (`{status, data, error, available}`, keys matched case-insensitively, `data` kept as it is), and the executor
 * failures that take its place.
 */
import { foldName, goUnmarshalSyntaxError } from "./QueryRequestDecoding.ts"

export interface QueryOutput {
  readonly status: string
  /** Present when the bot's answer had a `data` member (even `null`). */
  readonly data?: unknown
  readonly error?: string
}

export const failed = (error: string): QueryOutput => ({ status: "error", error })

const textDecoder = new TextDecoder()

/** The member of `object` Go's decoder would put in field `name`: exact or case-folded key, the last one wins. */
const member = (object: Record<string, unknown>, name: string): { readonly value: unknown } | undefined => {
  const folded = foldName(name)
  let found: { readonly value: unknown } | undefined
  for (const key of Object.keys(object)) if (key === name || foldName(key) === folded) found = { value: object[key] }
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
  const syntax = goUnmarshalSyntaxError(bytes)
  if (syntax !== undefined) return parseError(syntax)
  const parsed: unknown = JSON.parse(text)
  if (parsed === null) return { status: "" }
  if (typeof parsed !== "object" || Array.isArray(parsed))
    return parseError(`json: cannot unmarshal ${kindOf(parsed)} into Go value of type ${goStructType}`)
  const object = parsed as Record<string, unknown>
  const field = (name: string, type: string, ok: (v: unknown) => boolean) => {
    const m = member(object, name)
    if (m === undefined || m.value === null || ok(m.value)) return undefined
    return `json: cannot unmarshal ${kindOf(m.value)} into Go struct field .${name} of type ${type}`
  }
  const typeError =
    field("status", "string", (v) => typeof v === "string") ??
    field("error", "string", (v) => typeof v === "string") ??
    field("available", "[]string", (v) => Array.isArray(v) && v.every((e) => typeof e === "string" || e === null))
  if (typeError !== undefined) return parseError(typeError)
  const status = member(object, "status")?.value
  const data = member(object, "data")
  const error = member(object, "error")?.value
  const available = member(object, "available")?.value
  let message = typeof error === "string" ? error : ""
  if (message !== "" && Array.isArray(available) && available.length > 0)
    message = `${message} (available: ${available.map((a) => (typeof a === "string" ? a : "")).join(", ")})`
  return {
    status: typeof status === "string" ? status : "",
    ...(data === undefined ? {} : { data: data.value }),
    ...(message === "" ? {} : { error: message })
  }
}
