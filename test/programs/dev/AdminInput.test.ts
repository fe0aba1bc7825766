/** The admin API's input rules as functions: nesting depth at the limit and one beyond, naming the field. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { maxDepth, parseBody, tooDeep } from "../../../src/programs/dev/AdminInput.ts"

const nested = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`

describe("admin input nesting", () => {
  it("the body may nest 400 deep, not 401; the field is named; brackets in strings do not count", () => {
    expect(maxDepth).toBe(400)
    expect(tooDeep(`{"config":${nested(399)}}`, 400)).toBeUndefined()
    expect(tooDeep(`{"config":${nested(400)}}`, 400)).toEqual({ field: "config" })
    expect(tooDeep(`{"a":1,"b":"[[[[","c":${nested(5)}}`, 5)).toEqual({ field: "c" })
    expect(tooDeep(`{"a":"\\"[[[[[[","b":{}}`, 2)).toBeUndefined()
    expect(tooDeep(nested(3), 2)).toEqual({ field: undefined })
    expect(Either.mapLeft(parseBody(`{"config":${nested(1_000_000)}}`), (e) => [e._tag, e.message])).toEqual(
      Either.left(["InvalidInput", '"config" nests deeper than 400 levels of arrays and objects'])
    )
  })
})
