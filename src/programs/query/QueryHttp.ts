/**
 * The QueryServer's HTTP vocabulary (docs/contracts.md, "The :9477 API"): a request and a response as its handler
 * sees them, independent of the HTTP server; the0's JSON bodies (answers and `sendError`'s), with Go's timestamps;
 * and writing a response to Node's.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Effect } from "effect"
import { answerOf, type BodyTooLarge, type BodyUnreadable, type QueryFailure } from "./QueryFailure.ts"
import type { QueryOutput } from "./QueryOutput.ts"

/** A request as the handler needs it, independent of the HTTP server. */
export interface RawRequest {
  readonly method: string
  /** The request target: path and optional query string. */
  readonly url: string
  readonly header: (name: string) => string | undefined
  /** The body, at most `maxBodyBytes`; `BodyTooLarge` beyond. */
  readonly body: Effect.Effect<Uint8Array, BodyTooLarge | BodyUnreadable>
}

export interface RawResponse {
  readonly status: number
  readonly contentType: string
  readonly body: string
  readonly headers?: Readonly<Record<string, string>>
}

export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void

let lastMillis = Number.NaN
let lastStamp = ""

/** Go's `time.RFC3339Nano` of a UTC instant: fractional seconds without trailing zeros (the last one kept). */
export const rfc3339Nano = (millis: number): string => {
  if (millis !== lastMillis) {
    lastMillis = millis
    lastStamp = new Date(millis)
      .toISOString()
      .replace(/\.(\d*?)0*Z$/, (_m, digits: string) => (digits === "" ? "Z" : `.${digits}Z`))
  }
  return lastStamp
}

export const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): RawResponse => ({
  status,
  contentType: "application/json",
  body: `${JSON.stringify(body)}\n`,
  ...(headers === undefined ? {} : { headers })
})

/** the0's `sendError` body. */
export const errorResponse = (
  status: number,
  message: string,
  now: number,
  headers?: Readonly<Record<string, string>>
) => json(status, { status: "error", error: message, duration: 0, timestamp: rfc3339Nano(now) }, headers)

/** The answer to a refused request. */
export const failureResponse = (failure: QueryFailure, now: number): RawResponse => {
  const answer = answerOf(failure)
  return errorResponse(answer.status, answer.message, now, answer.headers)
}

/** The answer to a query the bot (or its Job) answered, `durationNanos` after it was sent. */
export const outputResponse = (output: QueryOutput, durationNanos: number, nowMillis: number): RawResponse =>
  json(output.status === "error" ? 500 : 200, {
    status: output.status,
    ...("data" in output ? { data: output.data } : {}),
    ...(output.error === undefined || output.error === "" ? {} : { error: output.error }),
    duration: durationNanos,
    timestamp: rfc3339Nano(nowMillis)
  })

export const headerValue = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(", ") : value
}

/** Writes the response, unless the client is gone. */
export const send = (res: ServerResponse, response: RawResponse): void => {
  if (res.writableEnded || res.destroyed) return
  res.writeHead(response.status, {
    "content-type": response.contentType,
    "content-length": Buffer.byteLength(response.body),
    ...response.headers
  })
  res.end(response.body)
}
