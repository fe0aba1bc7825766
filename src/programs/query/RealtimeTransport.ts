/**
 * The HTTP exchange of the realtime proxy, on Node's `http` with one keep-alive agent: one POST, the whole answer
 * read up to a byte limit, a deadline, and a canceller (the client hung up). Callback-based, so that the realtime
 * path costs no fiber per query (BENCHMARKS.md, "Realtime queries side by side"); `RealtimeProxy.query` wraps it for
 * Effect callers.
 *
 * The agent keeps as many idle connections per bot as it may open (`maxSockets`): with fewer, every burst above
 * the idle count closes connections after use and opens new ones for the next burst, which costs both sides a TCP
 * handshake and teardown per query.
 */
import { Agent, request } from "node:http"
import { Effect, type Scope } from "effect"

/** Where to send the query: the bot's query container and the request target (path and query string). */
export interface Target {
  readonly host: string
  readonly port: number
  readonly path: string
}

export type Outcome =
  | { readonly _tag: "Answer"; readonly bytes: Uint8Array }
  /** The answer was larger than the limit. */
  | { readonly _tag: "AnswerTooLarge"; readonly limit: number }
  /** No answer: connection refused or reset, socket error. `cause` is Node's error. */
  | { readonly _tag: "TransportError"; readonly cause: unknown }
  /** No answer within the deadline. */
  | { readonly _tag: "Timeout" }

export interface RealtimeTransport {
  /** Sends the query; `done` is called once, unless the returned canceller is called first. */
  readonly send: (
    target: Target,
    body: string | undefined,
    maxBytes: number,
    timeoutMs: number,
    done: (outcome: Outcome) => void
  ) => () => void
}

/** Connections per bot, in use and idle. */
export const maxSocketsPerBot = 64

/** A transport with its own keep-alive agent, destroyed with the scope. */
export const make: Effect.Effect<RealtimeTransport, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(
      () =>
        new Agent({
          keepAlive: true,
          maxSockets: maxSocketsPerBot,
          maxFreeSockets: maxSocketsPerBot,
          scheduling: "lifo",
          noDelay: true
        })
    ),
    (agent) => Effect.sync(() => agent.destroy())
  ),
  (agent): RealtimeTransport => ({
    send: (target, body, maxBytes, timeoutMs, done) => {
      let settled = false
      const finish = (outcome: Outcome) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        done(outcome)
      }
      const headers: Record<string, string | number> = { "content-type": "application/json" }
      if (body !== undefined) headers["content-length"] = Buffer.byteLength(body)
      const req = request(
        { host: target.host, port: target.port, path: target.path, method: "POST", agent, headers },
        (res) => {
          const tooLarge = () => {
            res.destroy()
            finish({ _tag: "AnswerTooLarge", limit: maxBytes })
          }
          if (Number(res.headers["content-length"]) > maxBytes) return tooLarge()
          const chunks: Array<Buffer> = []
          let size = 0
          res.on("data", (chunk: Buffer) => {
            size += chunk.length
            if (size > maxBytes) return tooLarge()
            chunks.push(chunk)
          })
          res.on("end", () =>
            finish({
              _tag: "Answer",
              bytes: chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)
            })
          )
          res.on("error", (cause) => finish({ _tag: "TransportError", cause }))
        }
      )
      const timer = setTimeout(() => {
        finish({ _tag: "Timeout" })
        req.destroy()
      }, timeoutMs)
      req.on("error", (cause) => finish({ _tag: "TransportError", cause }))
      req.end(body)
      return () => {
        settled = true
        clearTimeout(timer)
        req.destroy()
      }
    }
  })
)
