/**
 * `POST /query` bodies decoded as Go's `json.Decoder` into `query.Request` does (docs/contracts.md, "The :9477 API"), and the
 * property that any body gets an answer or a 4xx with a message from the server, never a 5xx of its own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import fc from "fast-check"
import { foldName, goUnmarshalSyntaxError, parsedAsGo, quoteChar } from "../../../src/programs/query/GoJson.ts"
import { parseQueryOutput } from "../../../src/programs/query/QueryOutput.ts"
import { decodeQueryRequest, goDecodeQueryRequest } from "../../../src/programs/query/QueryRequestDecoding.ts"
import { bot, putBot, putSchedule, serve, world } from "./QueryEnv.ts"

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (text: string) => decodeQueryRequest(encode(text))
const errorOf = (text: string) => Either.match(decode(text), { onLeft: (e) => e, onRight: () => "<ok>" })

describe("Go-compatible request decoding", () => {
  it("reads the fields, matching keys case-insensitively, the last one winning, trailing data ignored", () => {
    expect(decode('{"bot_id":"a","query_path":"/p","params":{"x":1},"timeout_sec":60}')).toEqual(
      Either.right({ bot_id: "a", query_path: "/p", params: { x: 1 }, timeout_sec: 60 })
    )
    expect(decode('{"BOT_ID":"a","Query_Path":"p","bot_id":"b","unknown":[1,2]} trailing junk')).toEqual(
      Either.right({ bot_id: "b", query_path: "p" })
    )
    expect(decode('{"bot_\u0131d":"dotless","query_path":"/p"}')).toEqual(
      Either.right({ bot_id: "dotless", query_path: "/p" })
    )
    expect(decode('{"bot_id":"a","bot_id":null,"params":{"a":1},"params":{"b":2}}')).toEqual(
      Either.right({ bot_id: "a", query_path: "", params: { a: 1, b: 2 } })
    )
    expect(decode("null")).toEqual(Either.right({ bot_id: "", query_path: "" }))
    expect(decode('  {"timeout_sec": -5}')).toEqual(Either.right({ bot_id: "", query_path: "", timeout_sec: -5 }))
  })

  it("reports syntax errors with Go's scanner messages", () => {
    expect(errorOf("")).toBe("EOF")
    expect(errorOf("   \n")).toBe("EOF")
    expect(errorOf("{invalid json}")).toBe("invalid character 'i' looking for beginning of object key string")
    expect(errorOf('{"bot_id" "x"}')).toBe("invalid character '\"' after object key")
    expect(errorOf('{"bot_id":"x" "y"}')).toBe("invalid character '\"' after object key:value pair")
    expect(errorOf('{"a":[1 2]}')).toBe("invalid character '2' after array element")
    expect(errorOf('{"a":tru}')).toBe("invalid character '}' in literal true (expecting 'e')")
    expect(errorOf('{"a":-x}')).toBe("invalid character 'x' in numeric literal")
    expect(errorOf('{"a":1.}')).toBe("invalid character '}' after decimal point in numeric literal")
    expect(errorOf('{"a":1e}')).toBe("invalid character '}' in exponent of numeric literal")
    expect(errorOf('{"a":"\\q"}')).toBe("invalid character 'q' in string escape code")
    expect(errorOf('{"a":"\\u12G4"}')).toBe("invalid character 'G' in \\u hexadecimal character escape")
    expect(errorOf('{"a":"x\ny"}')).toBe("invalid character '\\n' in string literal")
    expect(errorOf('{"a":')).toBe("unexpected EOF")
    expect(errorOf('{"a":"abc')).toBe("unexpected EOF")
    expect(errorOf("'x'")).toBe("invalid character '\\'' looking for beginning of value")
    expect(errorOf(`${"[".repeat(10001)}`)).toBe("invalid character '[' exceeded max depth")
  })

  it("reports type errors as Go's UnmarshalTypeError, the first one", () => {
    expect(errorOf('{"bot_id":1}')).toBe(
      "json: cannot unmarshal number into Go struct field Request.bot_id of type string"
    )
    expect(errorOf('{"query_path":true,"bot_id":1}')).toBe(
      "json: cannot unmarshal bool into Go struct field Request.query_path of type string"
    )
    expect(errorOf('{"params":[1]}')).toBe(
      "json: cannot unmarshal array into Go struct field Request.params of type map[string]interface {}"
    )
    expect(errorOf('{"timeout_sec":"30"}')).toBe(
      "json: cannot unmarshal string into Go struct field Request.timeout_sec of type int"
    )
    expect(errorOf('{"timeout_sec":1e3}')).toBe(
      "json: cannot unmarshal number 1e3 into Go struct field Request.timeout_sec of type int"
    )
    expect(errorOf('{"timeout_sec":99999999999999999999}')).toBe(
      "json: cannot unmarshal number 99999999999999999999 into Go struct field Request.timeout_sec of type int"
    )
    expect(errorOf("[]")).toBe("json: cannot unmarshal array into Go value of type query.Request")
    expect(errorOf('"s"')).toBe("json: cannot unmarshal string into Go value of type query.Request")
    expect(errorOf("01")).toBe("json: cannot unmarshal number into Go value of type query.Request")
  })

  it("quotes offending bytes and folds names as Go does", () => {
    expect(quoteChar(0x27)).toBe("'\\''")
    expect(quoteChar(0x22)).toBe("'\"'")
    expect(quoteChar(0x01)).toBe("'\\x01'")
    expect(quoteChar(0xc3)).toBe("'Ã'")
    expect(quoteChar(0x85)).toBe("'\\u0085'")
    expect(foldName("bot_id")).toBe("BOT_ID")
    expect(foldName("\u017fymbol")).toBe("SYMBOL")
    expect(foldName("\u212a")).toBe("K")
  })

  it.prop("never throws, whatever the bytes", [fc.uint8Array({ maxLength: 300 })], ([bytes]) => {
    const result = decodeQueryRequest(bytes)
    expect(Either.isLeft(result) ? result.left.length > 0 : typeof result.right.bot_id === "string").toBe(true)
  })

  it.prop("agrees with JSON.parse on what is valid JSON", [fc.json({ maxDepth: 4 })], ([text]) => {
    const result = decode(text)
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed !== "object" || Array.isArray(parsed)) expect(Either.isLeft(result) || parsed === null).toBe(true)
    else if (Either.isLeft(result)) expect(result.left).toMatch(/^json: cannot unmarshal /)
  })

  it("parses a bot's answer as the0's parseQueryOutput", () => {
    expect(parseQueryOutput(encode('{"status":"ok","data":{"value":123}}'))).toEqual({
      status: "ok",
      data: { value: 123 }
    })
    expect(parseQueryOutput(encode('{"status":"error","error":"something went wrong"}'))).toEqual({
      status: "error",
      error: "something went wrong"
    })
    expect(parseQueryOutput(encode('{"status":"error","error":"No handler","available":["/a","/b"]}'))).toEqual({
      status: "error",
      error: "No handler (available: /a, /b)"
    })
    expect(parseQueryOutput(encode("not json"))).toEqual({
      status: "error",
      error: "failed to parse query response: invalid character 'o' in literal null (expecting 'u') (body: not json)"
    })
    expect(parseQueryOutput(encode("")).error).toBe(
      "failed to parse query response: unexpected end of JSON input (body: )"
    )
    expect(parseQueryOutput(encode('{"status":"ok"} x')).error).toBe(
      'failed to parse query response: invalid character \'x\' after top-level value (body: {"status":"ok"} x)'
    )
  })
})

/** A member of a request object: a field's name, spelt as it is or otherwise, with a value of any type. */
const requestMember = fc.tuple(
  fc.oneof(
    fc.constantFrom("bot_id", "query_path", "params", "timeout_sec", "BOT_ID", "Query_Path", "pa\\u0072ams", "other"),
    fc.string({ maxLength: 8 })
  ),
  fc.oneof(
    fc.constantFrom('"b"', '"/p"', "null", "1", "1.0", "1e2", "-3", "true", "[]", '{"x":1}', '{"y":"z"}', '"a\\"b"'),
    fc.json({ maxDepth: 2 })
  )
)

const renderMembers = (members: ReadonlyArray<readonly [string, string]>) =>
  members.map(([k, v]) => `${JSON.stringify(k).replace(/\\\\/g, "\\")}:${v}`)

/**
 * Request objects with repeated, re-spelt and null fields: most start as a request the fast path takes
 * (`bot_id` and `query_path` strings, `params` an object) and add members that may change what Go decodes.
 */
const trickyRequests = fc.oneof(
  fc
    .tuple(fc.array(requestMember, { maxLength: 3 }), fc.array(requestMember, { maxLength: 3 }))
    .map(
      ([before, after]) =>
        `{${[...renderMembers(before), '"bot_id":"a","query_path":"/p","params":{"s":"x"}', ...renderMembers(after)].join(",")}}`
    ),
  fc.array(requestMember, { maxLength: 6 }).map((members) => `{${renderMembers(members).join(",")}}`),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 40 })
)

describe("fast paths agree with Go's rules", () => {
  it("decodeQueryRequest (JSON.parse for the common request) equals goDecodeQueryRequest on any body", () => {
    fc.assert(
      fc.property(
        fc.oneof(trickyRequests, fc.constant('{"bot_id":"a","query_path":"/p","params":{"s":"x"}}')),
        (text) => {
          expect(decodeQueryRequest(encode(text))).toEqual(goDecodeQueryRequest(encode(text)))
        }
      ),
      { numRuns: 3000 }
    )
  })

  it("a bot's answer is parsed by JSON.parse exactly when Go's scanner accepts it, to the same value", () => {
    const answers = fc.oneof(
      fc.json({ maxDepth: 4 }),
      fc.json({ maxDepth: 2 }).map((j) => `${j} x`),
      fc.string({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString("latin1"))
    )
    fc.assert(
      fc.property(answers, (text) => {
        const bytes = encode(text)
        const parsed = parsedAsGo(bytes, new TextDecoder().decode(bytes))
        expect(parsed === undefined).toBe(goUnmarshalSyntaxError(bytes) !== undefined)
        if (parsed !== undefined) expect(parsed.value).toEqual(JSON.parse(new TextDecoder().decode(bytes)))
      }),
      { numRuns: 3000 }
    )
  })

  it("an answer nested deeper than Go's limit is refused even where JSON.parse would read it", () => {
    const deep = `${"[".repeat(10_001)}${"]".repeat(10_001)}`
    expect(parsedAsGo(encode(deep), deep)).toBeUndefined()
    expect(parseQueryOutput(encode(deep)).error).toMatch(/^failed to parse query response: /)
  })
})

const bodies = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString("latin1")),
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        bot_id: fc.oneof(fc.constantFrom("known-bot", "known-schedule", "no-query", ""), fc.string(), fc.anything()),
        query_path: fc.oneof(fc.string(), fc.anything()),
        params: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.anything()),
        timeout_sec: fc.oneof(fc.integer({ min: -10, max: 0 }), fc.double(), fc.anything())
      },
      { requiredKeys: [] }
    )
    .map((r) => JSON.stringify(r) ?? "")
)

describe("any request body", () => {
  it.scopedLive("gets a valid answer or a 4xx with a message, never a 5xx from the server itself", () =>
    Effect.gen(function* () {
      yield* putBot(bot("no-query", { bot: "main.py" }))
      yield* putSchedule(bot("known-schedule"))
      const { post } = yield* serve({ maxJobsInFlight: 0 })
      const samples = fc.sample(bodies, { numRuns: 300, seed: 7 })
      for (const body of samples) {
        const answer = yield* post(body)
        const where = `body ${JSON.stringify(body)} -> ${answer.status} ${answer.text}`
        expect(answer.contentType, where).toBe("application/json")
        expect(answer.json.status, where).toBe("error")
        expect([400, 404, 429], where).toContain(answer.status)
        expect(typeof answer.json.error === "string" && answer.json.error.length > 0, where).toBe(true)
        expect(answer.json.timestamp, where).toEqual(expect.any(String))
      }
    }).pipe(Effect.provide(world))
  )
})
