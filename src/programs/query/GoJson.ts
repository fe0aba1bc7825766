/**
 * Go's `encoding/json`, as far as the QueryServer needs it to answer as the0 does: the scanner with Go's grammar,
 * syntax-error messages and nesting limit, what `json.Unmarshal` says about a whole input, and the case-folding
 * that matches object keys to struct fields. Used to decode `POST /query` bodies (`QueryRequestDecoding.ts`) and to
 * read a bot's answer (`QueryOutput.ts`). The scanner is iterative, so no input can exhaust the stack.
 */

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

export class GoSyntaxError {
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

export interface Scanned {
  readonly kind: TopKind
  /** Where the value ends. */
  readonly end: number
  /** The members of a top-level object, in document order (duplicates kept). */
  readonly members: ReadonlyArray<Member>
}

const decoder = new TextDecoder()

/** Reads the first JSON value of `b` with Go's grammar and messages. */
export const scan = (b: Uint8Array): Scanned => {
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
export const shallowLength = 2 * maxNestingDepth

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
