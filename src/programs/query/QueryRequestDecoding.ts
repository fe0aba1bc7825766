/**
 * Decodes a `POST /query` body exactly as the0's Go handler does (`json.NewDecoder(r.Body).Decode(&req)` into
 * `query.Request`; docs/contracts.md, "The :9477 API"): the first JSON value of the body is read and anything after it is
 * ignored; an empty body is `EOF`; syntax errors carry Go's scanner messages; object keys match the fields
 * case-insensitively (exact spelling first), in document order, the last one winning; `null` leaves a field as
 * it was; a value of the wrong type is Go's `UnmarshalTypeError` (the first one is reported, after the whole
 * value has been read). The scanner is iterative, so no body can exhaust the stack.
 */
import { Either } from "effect"
import type { JsonObject } from "../../domain/Bot.ts"
import type { QueryRequest } from "../../domain/Query.ts"

/** Go's `encoding/json` nesting limit. */
const maxNestingDepth = 10000

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)

/** Go's `strconv.IsPrint` for the code points U+0000..U+00FF a single byte stands for in `quoteChar`. */
const printableLatin1 = (c: number): boolean => (c >= 0x20 && c < 0x7f) || (c >= 0xa1 && c !== 0xad)

const goEscapes: Readonly<Record<number, string>> = {
  7: "\\a",
  8: "\\b",
  12: "\\f",
  10: "\\n",
  13: "\\r",
  9: "\\t",
  11: "\\v",
  92: "\\\\"
}

/** Go's `quoteChar`: the offending byte as Go prints it in a SyntaxError. */
export const quoteChar = (c: number): string => {
  if (c === 0x27) return "'\\''"
  if (c === 0x22) return "'\"'"
  const escaped = goEscapes[c]
  if (escaped !== undefined) return `'${escaped}'`
  if (printableLatin1(c)) return `'${String.fromCharCode(c)}'`
  return c < 0x80 ? `'\\x${c.toString(16).padStart(2, "0")}'` : `'\\u${c.toString(16).padStart(4, "0")}'`
}

class GoSyntaxError {
  constructor(readonly message: string) {}
}

const invalid = (c: number, context: string) => new GoSyntaxError(`invalid character ${quoteChar(c)} ${context}`)
const unexpectedEof = new GoSyntaxError("unexpected EOF")

interface Member {
  readonly key: string
  readonly start: number
  readonly end: number
}

type TopKind = "object" | "array" | "string" | "number" | "bool" | "null"

interface Scanned {
  readonly kind: TopKind
  /** Where the value ends. */
  readonly end: number
  /** The members of a top-level object, in document order (duplicates kept). */
  readonly members: ReadonlyArray<Member>
}

const decoder = new TextDecoder()

/** Reads the first JSON value of `b` with Go's grammar and messages. */
const scan = (b: Uint8Array): Scanned => {
  const n = b.length
  let i = 0
  const skip = () => {
    while (i < n && isSpace(b[i] ?? 0)) i++
  }
  const at = (): number => {
    if (i >= n) throw unexpectedEof
    return b[i] ?? 0
  }

  const string = (): void => {
    i++ // opening quote
    for (;;) {
      const c = at()
      if (c === 0x22) {
        i++
        return
      }
      if (c === 0x5c) {
        i++
        const e = at()
        if (e === 0x75) {
          i++
          for (let k = 0; k < 4; k++) {
            const h = at()
            if (!isHex(h)) throw invalid(h, "in \\u hexadecimal character escape")
            i++
          }
          continue
        }
        if (![0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(e)) throw invalid(e, "in string escape code")
        i++
        continue
      }
      if (c < 0x20) throw invalid(c, "in string literal")
      i++
    }
  }

  /** A number; at the top level the end of input completes it. */
  const number = (): void => {
    const digits = () => {
      while (i < n && isDigit(b[i] ?? 0)) i++
    }
    if (b[i] === 0x2d) {
      i++
      const c = at()
      if (!isDigit(c)) throw invalid(c, "in numeric literal")
    }
    if (b[i] === 0x30) i++
    else digits()
    if (i < n && b[i] === 0x2e) {
      i++
      const c = at()
      if (!isDigit(c)) throw invalid(c, "after decimal point in numeric literal")
      digits()
    }
    if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
      i++
      let c = at()
      if (c === 0x2b || c === 0x2d) {
        i++
        c = at()
      }
      if (!isDigit(c)) throw invalid(c, "in exponent of numeric literal")
      digits()
    }
  }

  const literal = (word: string): void => {
    i++
    for (let k = 1; k < word.length; k++) {
      const c = at()
      if (c !== word.charCodeAt(k)) throw invalid(c, `in literal ${word} (expecting '${word[k]}')`)
      i++
    }
  }

  skip()
  if (i >= n) throw new GoSyntaxError("EOF")
  const stack: Array<"object" | "array"> = []
  const members: Array<Member> = []
  let topKind: TopKind | undefined
  let keyAt = 0
  let valueAt = 0
  let pendingKey = ""

  /** Reads `"key"` and the `:` after it; records the key when it belongs to the top-level object. */
  const key = () => {
    skip()
    const c = at()
    if (c !== 0x22) throw invalid(c, "looking for beginning of object key string")
    keyAt = i
    string()
    if (stack.length === 1) pendingKey = JSON.parse(decoder.decode(b.subarray(keyAt, i))) as string
    skip()
    const colon = at()
    if (colon !== 0x3a) throw invalid(colon, "after object key")
    i++
    skip()
    if (stack.length === 1) valueAt = i
  }
  const push = (c: number, kind: "object" | "array") => {
    stack.push(kind)
    if (stack.length > maxNestingDepth) throw invalid(c, "exceeded max depth")
  }

  for (;;) {
    // expecting a value
    skip()
    const c = at()
    let container = false
    if (c === 0x7b) {
      topKind ??= "object"
      push(c, "object")
      i++
      skip()
      if (at() === 0x7d) {
        stack.pop()
        i++
      } else {
        key()
        container = true
      }
    } else if (c === 0x5b) {
      topKind ??= "array"
      push(c, "array")
      i++
      skip()
      if (at() === 0x5d) {
        stack.pop()
        i++
      } else container = true
    } else if (c === 0x22) {
      topKind ??= "string"
      string()
    } else if (c === 0x2d || isDigit(c)) {
      topKind ??= "number"
      number()
    } else if (c === 0x74 || c === 0x66) {
      topKind ??= "bool"
      literal(c === 0x74 ? "true" : "false")
    } else if (c === 0x6e) {
      topKind ??= "null"
      literal("null")
    } else throw invalid(c, "looking for beginning of value")
    if (container) continue
    // after a value: close containers, or move to the next element
    for (;;) {
      const top = stack[stack.length - 1]
      if (top === undefined) return { kind: topKind, end: i, members }
      skip()
      const d = at()
      if (top === "object") {
        if (stack.length === 1) members.push({ key: pendingKey, start: valueAt, end: i })
        if (d === 0x2c) {
          i++
          key()
          break
        }
        if (d === 0x7d) {
          stack.pop()
          i++
          continue
        }
        throw invalid(d, "after object key:value pair")
      }
      if (d === 0x2c) {
        i++
        break
      }
      if (d === 0x5d) {
        stack.pop()
        i++
        continue
      }
      throw invalid(d, "after array element")
    }
  }
}

/**
 * What Go's `json.Unmarshal` says about `b` as a whole (trailing data included), or `undefined` when it is valid
 * JSON. Used to report a bot's unparseable answer with Go's message.
 */
export const goUnmarshalSyntaxError = (b: Uint8Array): string | undefined => {
  try {
    const { end } = scan(b)
    for (let i = end; i < b.length; i++) {
      const c = b[i] ?? 0
      if (!isSpace(c)) return invalid(c, "after top-level value").message
    }
    return undefined
  } catch (error) {
    if (!(error instanceof GoSyntaxError)) throw error
    return error === unexpectedEof || error.message === "EOF" ? "unexpected end of JSON input" : error.message
  }
}

/**
 * Longest input that cannot nest deeper than Go's limit: a JSON value nested `maxNestingDepth + 1` deep has at
 * least that many opening and as many closing brackets.
 */
const shallowLength = 2 * maxNestingDepth

/**
 * The value of `b` (whose UTF-8 text is `text`) when Go's `json.Unmarshal` accepts it as a whole; `undefined` when it
 * does not (`goUnmarshalSyntaxError` says why). `JSON.parse` accepts the same grammar, but not Go's nesting limit,
 * which only inputs longer than `shallowLength` can exceed: those are scanned first.
 */
export const parsedAsGo = (b: Uint8Array, text: string): { readonly value: unknown } | undefined => {
  if (b.length > shallowLength && goUnmarshalSyntaxError(b) !== undefined) return undefined
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}

type Field = "bot_id" | "query_path" | "params" | "timeout_sec"
const fields: ReadonlyArray<Field> = ["bot_id", "query_path", "params", "timeout_sec"]
const goTypes: Readonly<Record<Field, string>> = {
  bot_id: "string",
  query_path: "string",
  params: "map[string]interface {}",
  timeout_sec: "int"
}

/** Go's `foldName`: ASCII upper-cased, other runes through `unicode.ToUpper(unicode.ToLower(r))`. */
export const foldName = (name: string): string => {
  let out = ""
  for (const ch of name) {
    const code = ch.codePointAt(0) ?? 0
    if (code < 0x80) {
      out += code >= 0x61 && code <= 0x7a ? String.fromCharCode(code - 32) : ch
      continue
    }
    const lower = ch.toLowerCase()
    const single = [...lower].length === 1 ? lower : ch
    const upper = single.toUpperCase()
    out += [...upper].length === 1 ? upper : single
  }
  return out
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
