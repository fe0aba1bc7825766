/**
 * The realtime proxy (docs/contracts.md, "Realtime queries"): `POST http://<podIP>:<port><query_path>` to the bot's query
 * container, through a `RealtimeTransport` (Node's http, see that module), with a callback (`run`, the QueryServer's
 * fast path) or as an effect (`query`). The params go both as the JSON body
 * (the0's protocol) and as the URL query string, because the0's SDK servers read only the query string (the0
 * dropped realtime params: docs/contracts.md, "The bot's query server"). The sidecar's HTTP status is ignored and its body parsed as `{status, data, error}`; transport errors,
 * unreadable, oversized or non-JSON answers and timeouts become the0's error messages. `query` is a `query.realtime`
 * span (docs/operations.md, "Tracing"); `run`, the callback path, has none.
 */
import { Duration, Effect } from "effect"
import type { JsonObject } from "../../domain/Bot.ts"
import * as Tracing from "../Tracing.ts"
import type { RealtimeEndpoint } from "./BotResolver.ts"
import { failed, parseQueryOutput, type QueryOutput } from "./QueryOutput.ts"
import type { Outcome, RealtimeTransport } from "./RealtimeTransport.ts"

export interface RealtimeQuery {
  /** Normalised, starting with `/`; may carry its own `?query` (the0's workaround), which is kept. */
  readonly path: string
  readonly params: JsonObject | undefined
  readonly timeout: Duration.Duration
  readonly maxResultBytes: number
}

/** A query-string value: strings as they are, anything else as its JSON text (SDKs see strings only). */
const paramText = (value: unknown): string =>
  typeof value === "string" ? value : value === null || value === undefined ? "" : JSON.stringify(value)

/** The params as a query string; empty when there are none. */
const queryString = (params: JsonObject | undefined): string => {
  const entries = Object.entries(params ?? {})
  if (entries.length === 0) return ""
  return new URLSearchParams(entries.map(([k, v]): [string, string] => [k, paramText(v)])).toString()
}

/** The URL of the query, the params appended to any query string the path already has. */
export const realtimeUrl = (endpoint: RealtimeEndpoint, path: string, params: JsonObject | undefined): string => {
  const host = endpoint.ip.includes(":") ? `[${endpoint.ip}]` : endpoint.ip
  const base = `http://${host}:${endpoint.port}${path}`
  const query = queryString(params)
  return query === "" ? base : `${base}${path.includes("?") ? "&" : "?"}${query}`
}

const goNetMessages: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connect: connection refused",
  EHOSTUNREACH: "connect: no route to host",
  ENETUNREACH: "connect: network is unreachable",
  ECONNRESET: "read: connection reset by peer",
  ETIMEDOUT: "connect: connection timed out"
}

/** The transport failure in Go's words where there is an equivalent, else Node's. */
const transportMessage = (cause: unknown, endpoint: RealtimeEndpoint): string => {
  let current: unknown = cause
  for (let depth = 0; depth < 4 && current !== null && typeof current === "object"; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string" && goNetMessages[code] !== undefined)
      return `dial tcp ${endpoint.ip}:${endpoint.port}: ${goNetMessages[code]}`
    const next = (current as { readonly cause?: unknown }).cause
    if (next === undefined) break
    current = next
  }
  return cause instanceof Error ? cause.message : String(cause)
}

/** The bot's answer, or the0's error message for what went wrong. */
const outputOf = (outcome: Outcome, url: string, endpoint: RealtimeEndpoint): QueryOutput => {
  switch (outcome._tag) {
    case "Answer":
      return parseQueryOutput(outcome.bytes)
    case "Timeout":
      return failed(`failed to execute query request: Post "${url}": context deadline exceeded`)
    case "AnswerTooLarge":
      return failed(`failed to read query response: larger than ${outcome.limit} bytes`)
    case "TransportError":
      return failed(`failed to execute query request: Post "${url}": ${transportMessage(outcome.cause, endpoint)}`)
  }
}

/**
 * Sends the query to the bot's query container; `done` gets its parsed answer or the0's error message, once,
 * unless the returned canceller is called first (the client hung up). The request target is the URL's, as a URL
 * parser writes it (a space or a non-ASCII character in `query_path` percent-encoded, as Go's client sends it).
 */
export const run = (
  transport: RealtimeTransport,
  endpoint: RealtimeEndpoint,
  request: RealtimeQuery,
  done: (output: QueryOutput) => void
): (() => void) => {
  const params = request.params
  const url = realtimeUrl(endpoint, request.path, params)
  const parsed = new URL(url)
  const body = Object.keys(params ?? {}).length === 0 ? undefined : JSON.stringify(params)
  return transport.send(
    { host: endpoint.ip, port: endpoint.port, path: `${parsed.pathname}${parsed.search}` },
    body,
    request.maxResultBytes,
    Duration.toMillis(request.timeout),
    (outcome) => done(outputOf(outcome, url, endpoint))
  )
}

/** `run` as an effect; never fails, interruption cancels the request. */
export const query = (
  transport: RealtimeTransport,
  endpoint: RealtimeEndpoint,
  request: RealtimeQuery
): Effect.Effect<QueryOutput> =>
  Effect.async<QueryOutput>((resume) => {
    const cancel = run(transport, endpoint, request, (output) => resume(Effect.succeed(output)))
    return Effect.sync(cancel)
  }).pipe(
    Effect.tap((output) => Tracing.annotate({ "query.status": output.status })),
    Tracing.span("query.realtime", {
      kind: "client",
      attributes: { "k8s.pod.name": endpoint.podName, "server.address": endpoint.ip, "server.port": endpoint.port }
    })
  )
