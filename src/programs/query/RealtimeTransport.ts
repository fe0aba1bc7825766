/**
 * The HTTP exchange of the realtime proxy, on Node's `http` with a keep-alive agent, wrapped at the edge: one
 * POST, the whole answer read up to a byte limit, the request destroyed when the fiber is interrupted (timeout,
 * client gone). Measured about twice as fast per request as the @effect/platform HttpClient over undici or
 * node:http (BENCHMARKS.md), which matters on the realtime path.
 */
import { Agent, request } from "node:http"
import { Data, Effect, type Scope } from "effect"

/** The answer was larger than the limit. */
export class AnswerTooLarge extends Data.TaggedError("AnswerTooLarge")<{ readonly limit: number }> {}

/** No answer: connection refused or reset, DNS, socket error. `cause` is Node's error. */
export class TransportError extends Data.TaggedError("TransportError")<{ readonly cause: unknown }> {}

export interface RealtimeTransport {
  readonly post: (
    url: URL,
    body: string | undefined,
    maxBytes: number
  ) => Effect.Effect<Uint8Array, AnswerTooLarge | TransportError>
}

/** A transport with its own keep-alive agent, destroyed with the scope. */
export const make: Effect.Effect<RealtimeTransport, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, scheduling: "lifo" })),
    (agent) => Effect.sync(() => agent.destroy())
  ),
  (agent): RealtimeTransport => ({
    post: (url, body, maxBytes) =>
      Effect.async<Uint8Array, AnswerTooLarge | TransportError>((resume) => {
        const headers: Record<string, string | number> = { "content-type": "application/json" }
        if (body !== undefined) headers["content-length"] = Buffer.byteLength(body)
        const req = request(
          {
            host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
            port: url.port,
            path: `${url.pathname}${url.search}`,
            method: "POST",
            agent,
            headers
          },
          (res) => {
            const declared = Number(res.headers["content-length"])
            if (declared > maxBytes) {
              res.destroy()
              resume(Effect.fail(new AnswerTooLarge({ limit: maxBytes })))
              return
            }
            const chunks: Array<Buffer> = []
            let size = 0
            res.on("data", (chunk: Buffer) => {
              size += chunk.length
              if (size > maxBytes) {
                res.destroy()
                resume(Effect.fail(new AnswerTooLarge({ limit: maxBytes })))
                return
              }
              chunks.push(chunk)
            })
            res.on("end", () =>
              resume(Effect.succeed(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)))
            )
            res.on("error", (cause) => resume(Effect.fail(new TransportError({ cause }))))
          }
        )
        req.on("socket", (socket) => socket.setNoDelay(true))
        req.on("error", (cause) => resume(Effect.fail(new TransportError({ cause }))))
        req.end(body)
        return Effect.sync(() => req.destroy())
      })
  })
)
