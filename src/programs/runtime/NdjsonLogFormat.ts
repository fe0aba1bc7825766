/**
 * The daily log's NDJSON records (docs/contracts.md, "Daily log"). Each non-empty, trimmed line of a chunk becomes one record:
 * a JSON object that has a `timestamp` passes through byte for byte; another JSON object gets `timestamp` added;
 * anything else is wrapped as `{"timestamp":…,"message":…}` in that key order. Timestamps are RFC 3339 seconds in
 * UTC. (Go's sorted keys and HTML escaping are artefacts readers do not depend on; we keep key order and JSON.)
 */

/** `2026-04-01T10:00:00Z`: RFC 3339 at second precision, UTC. */
export const rfc3339Seconds = (now: Date): string => `${now.toISOString().slice(0, 19)}Z`

const asObject = (line: string): Record<string, unknown> | undefined => {
  if (!line.startsWith("{")) return undefined
  try {
    const parsed: unknown = JSON.parse(line)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

export const formatLine = (line: string, timestamp: string): string => {
  const object = asObject(line)
  if (object === undefined) return JSON.stringify({ timestamp, message: line })
  if (Object.hasOwn(object, "timestamp")) return line
  return JSON.stringify({ ...object, timestamp })
}

/** The records of `chunk`, each ending with `\n`; `""` when the chunk has no non-empty line. */
export const formatLogChunk = (chunk: string, now: Date): string => {
  const timestamp = rfc3339Seconds(now)
  let out = ""
  for (const raw of chunk.trim().split("\n")) {
    const line = raw.trim()
    if (line !== "") out += `${formatLine(line, timestamp)}\n`
  }
  return out
}
