import { Schema } from "effect"
import { JsonObject } from "./Bot.ts"

/** `POST /query` body (docs/contracts.md, "The :9477 API"). */
export const QueryRequest = Schema.Struct({
  bot_id: Schema.String,
  query_path: Schema.String,
  params: Schema.optional(Schema.NullOr(JsonObject)),
  timeout_sec: Schema.optional(Schema.Int)
})
export type QueryRequest = typeof QueryRequest.Type

/** The answer of `POST /query`; `duration` is in nanoseconds, as Go's `time.Duration` serialises. */
export const QueryResponse = Schema.Struct({
  status: Schema.String,
  data: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String),
  duration: Schema.Int,
  timestamp: Schema.String
})
export type QueryResponse = typeof QueryResponse.Type

/** What a bot's query handler answers, on :9476 or in `/query/result.json`. */
export const QueryResult = Schema.Struct({
  status: Schema.optional(Schema.String),
  data: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String)
})
export type QueryResult = typeof QueryResult.Type

export const defaultQueryTimeoutSec = 30
export const botQueryPort = 9476
export const queryServerPort = 9477

/** the0 prefixes `/` to a query path that does not start with one (docs/contracts.md, "The :9477 API"). */
export const normaliseQueryPath = (path: string): string => (path.startsWith("/") ? path : `/${path}`)

/** Milliseconds to the integer nanoseconds of a Go `time.Duration`. */
export const millisToNanos = (millis: number): number => Math.round(millis * 1_000_000)
