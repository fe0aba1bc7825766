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

export const defaultQueryTimeoutSec = 30
/** The port of the bot's own query server, in the `query-server` container of its Pod (the SDK's default). */
export const botQueryPort = 9476
/** The port of our QueryServer, the API the0's backend calls. */
export const queryApiPort = 9477

/** the0 prefixes `/` to a query path that does not start with one (docs/contracts.md, "The :9477 API"). */
export const normaliseQueryPath = (path: string): string => (path.startsWith("/") ? path : `/${path}`)
