/**
 * Canonical JSON and the fingerprint of a generated object (docs/architecture.md, "Fingerprint"): the first 16 hex characters
 * of the SHA-256 of the canonical JSON of the whole object without the fingerprint annotation itself. Any change
 * in what we would send to the API server (image, env, resources, labels...) changes it; key order never does.
 */
import { createHash } from "node:crypto"
import type { ObjectMeta } from "../../domain/Kube.ts"

const hasToJson = (value: object): value is { toJSON: () => unknown } =>
  typeof (value as { readonly toJSON?: unknown }).toJSON === "function"

const write = (input: unknown): string | undefined => {
  const value = input !== null && typeof input === "object" && hasToJson(input) ? input.toJSON() : input
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null"
    case "boolean":
      return value ? "true" : "false"
    case "bigint":
      return value.toString()
    case "object": {
      if (value === null) return "null"
      if (Array.isArray(value)) return `[${value.map((item: unknown) => write(item) ?? "null").join(",")}]`
      const record = value as Readonly<Record<string, unknown>>
      const members: Array<string> = []
      for (const key of Object.keys(record).sort()) {
        const member = write(record[key])
        if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`)
      }
      return `{${members.join(",")}}`
    }
    default:
      return undefined
  }
}

/**
 * JSON with the keys of every object sorted, no whitespace, `undefined` members left out (as `JSON.stringify`
 * does) and `toJSON` honoured. A missing value is `null`, as Go marshals a nil map.
 */
export const canonicalJson = (value: unknown): string => write(value) ?? "null"

const goEscapes: Readonly<Record<string, string>> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029"
}

/**
 * Canonical JSON escaped as Go's `encoding/json` escapes it (`<`, `>`, `&`, U+2028, U+2029), so that
 * `BOT_CONFIG` and `QUERY_PARAMS` carry the bytes the0 puts there. These characters only occur inside strings.
 */
export const goJson = (value: unknown): string =>
  canonicalJson(value).replace(/[<>&\u2028\u2029]/g, (c) => goEscapes[c] ?? c)

export const sha256Hex16 = (text: string): string =>
  createHash("sha256").update(text, "utf8").digest("hex").slice(0, 16)

const withoutAnnotation = <O extends { readonly metadata: ObjectMeta }>(object: O, key: string): O => {
  const annotations = object.metadata.annotations
  if (annotations === undefined || !(key in annotations)) return object
  const { [key]: _dropped, ...rest } = annotations
  const { annotations: _all, ...metadata } = object.metadata
  return { ...object, metadata: Object.keys(rest).length === 0 ? metadata : { ...metadata, annotations: rest } }
}

/** The fingerprint of an object, ignoring any value it already carries under `annotationKey`. */
export const fingerprint = <O extends { readonly metadata: ObjectMeta }>(object: O, annotationKey: string): string =>
  sha256Hex16(canonicalJson(withoutAnnotation(object, annotationKey)))

/** The object with its fingerprint stored under `annotationKey`. */
export const withFingerprint = <O extends { readonly metadata: ObjectMeta }>(object: O, annotationKey: string): O => ({
  ...object,
  metadata: {
    ...object.metadata,
    annotations: { ...object.metadata.annotations, [annotationKey]: fingerprint(object, annotationKey) }
  }
})
