/** Kubernetes label selectors, equality- and set-based, parsed once and matched many times. */

import { Data } from "effect"

export type Requirement =
  | { readonly op: "exists"; readonly key: string }
  | { readonly op: "notexists"; readonly key: string }
  | { readonly op: "in"; readonly key: string; readonly values: ReadonlyArray<string> }
  | { readonly op: "notin"; readonly key: string; readonly values: ReadonlyArray<string> }

export type LabelSelector = ReadonlyArray<Requirement>

/**
 * A requirement that does not parse. `parse` throws it: it is a pure parse step, and its callers wrap it with
 * `Effect.try` where they call it (docs/architecture.md, "Errors and configuration").
 */
export class LabelSelectorParseError extends Data.TaggedError("LabelSelectorParseError")<{
  readonly message: string
}> {}

const splitTopLevel = (text: string): Array<string> => {
  const parts: Array<string> = []
  let depth = 0
  let current = ""
  for (const ch of text) {
    if (ch === "(") depth++
    if (ch === ")") depth--
    if (ch === "," && depth === 0) {
      parts.push(current)
      current = ""
    } else current += ch
  }
  parts.push(current)
  return parts.map((p) => p.trim()).filter((p) => p !== "")
}

const setPattern = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/
const equalityPattern = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/

const parseRequirement = (text: string): Requirement => {
  const set = setPattern.exec(text)
  if (set !== null) {
    const values = (set[3] ?? "").split(",").map((v) => v.trim())
    return { op: set[2] === "in" ? "in" : "notin", key: set[1] ?? "", values }
  }
  const equality = equalityPattern.exec(text)
  if (equality !== null) {
    const key = equality[1] ?? ""
    const value = equality[3] ?? ""
    return equality[2] === "!=" ? { op: "notin", key, values: [value] } : { op: "in", key, values: [value] }
  }
  if (/^!\S+$/.test(text)) return { op: "notexists", key: text.slice(1) }
  if (/^[^\s=!(),]+$/.test(text)) return { op: "exists", key: text }
  throw new LabelSelectorParseError({ message: `invalid label selector requirement: ${JSON.stringify(text)}` })
}

/** Parses `a=b,c!=d,e in (f,g),!h,i`. The empty string selects everything. */
export const parse = (text: string): LabelSelector => splitTopLevel(text).map(parseRequirement)

export const matches = (selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean =>
  selector.every((req) => {
    const value = labels?.[req.key]
    switch (req.op) {
      case "exists":
        return value !== undefined
      case "notexists":
        return value === undefined
      case "in":
        return value !== undefined && req.values.includes(value)
      case "notin":
        return value === undefined || !req.values.includes(value)
      default:
        return false
    }
  })
