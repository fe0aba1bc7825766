/**
 * Why the QueryServer refuses a request (docs/contracts.md, "The :9477 API"): one union of tagged errors, raised
 * where the reason is found and turned into the0's status code and message in one place, `answerOf`, at the edge.
 */
import { Data } from "effect"
import type { BotLookupFailed, BotNotFound } from "./BotResolver.ts"
import type { TooManyQueryJobs } from "./QueryLimits.ts"

/** 405: `/query` with another method than POST. */
export class MethodNotAllowed extends Data.TaggedError("MethodNotAllowed")<{}> {}

/** 413: a body beyond the limit, declared or sent; the answer closes the connection. */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {}

/** 400: the body could not be read. */
export class BodyUnreadable extends Data.TaggedError("BodyUnreadable")<{ readonly message: string }> {}

/** 400: the body is not a query request (the message is the0's, or the missing field's). */
export class InvalidQueryRequest extends Data.TaggedError("InvalidQueryRequest")<{ readonly message: string }> {}

/** 401: auth is on and the bearer token is missing or wrong. */
export class Unauthorized extends Data.TaggedError("Unauthorized")<{}> {}

/** 403: the Host or Origin is not one the server answers (programs/HostGuard.ts). */
export class HostRefused extends Data.TaggedError("HostRefused")<{ readonly message: string }> {}

export type QueryFailure =
  | MethodNotAllowed
  | BodyTooLarge
  | BodyUnreadable
  | InvalidQueryRequest
  | Unauthorized
  | HostRefused
  | BotNotFound
  | BotLookupFailed
  | TooManyQueryJobs

export interface FailureAnswer {
  readonly status: number
  readonly message: string
  readonly headers?: Readonly<Record<string, string>>
}

/** The status, message and headers the0's clients expect for each refusal. */
export const answerOf = (failure: QueryFailure): FailureAnswer => {
  switch (failure._tag) {
    case "MethodNotAllowed":
      return { status: 405, message: "method not allowed" }
    case "BodyTooLarge":
      return {
        status: 413,
        message: `request body too large: the limit is ${failure.limit} bytes`,
        headers: { connection: "close" }
      }
    case "BodyUnreadable":
      return { status: 400, message: `invalid request body: ${failure.message}` }
    case "InvalidQueryRequest":
      return { status: 400, message: failure.message }
    case "Unauthorized":
      return {
        status: 401,
        message: "unauthorized: a valid bearer token is required",
        headers: { "www-authenticate": 'Bearer realm="the0-query"' }
      }
    case "HostRefused":
      return { status: 403, message: failure.message }
    case "BotNotFound":
      return { status: 404, message: failure.message }
    case "BotLookupFailed":
      return { status: failure.status, message: failure.message }
    case "TooManyQueryJobs":
      return { status: 429, message: failure.message, headers: { "retry-after": "1" } }
  }
}
