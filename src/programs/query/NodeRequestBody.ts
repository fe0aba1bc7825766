/**
 * Reading a request body of at most a given size from Node's request stream: a body that turns out too large is
 * `BodyTooLarge` as soon as it is, and the rest is drained (the connection is kept) or left unread. Used by the
 * QueryServer (as a callback on its realtime path, as an effect elsewhere) and dev's admin API.
 */
import { IncomingMessage } from "node:http"
import { HttpIncomingMessage, type HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Either, Option } from "effect"
import { BodyTooLarge, BodyUnreadable } from "./QueryFailure.ts"

/**
 * Reads a Node request body of at most `limit` bytes; `done` gets it, or `BodyTooLarge` as soon as more arrives (the
 * rest drained, or with `drain` false left unread: the answer then closes the connection). Returns a detacher.
 */
export const readNodeBody = (
  source: IncomingMessage,
  limit: number,
  drain: boolean,
  done: (result: Either.Either<Uint8Array, BodyTooLarge | BodyUnreadable>) => void
): (() => void) => {
  const chunks: Array<Buffer> = []
  let size = 0
  const detach = () => {
    source.off("data", onData)
    source.off("end", onEnd)
    source.off("error", onError)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size > limit) {
      detach()
      if (drain) source.resume()
      else source.pause()
      done(Either.left(new BodyTooLarge({ limit })))
      return
    }
    chunks.push(chunk)
  }
  const onEnd = () => {
    detach()
    done(Either.right(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)))
  }
  const onError = (error: Error) => {
    detach()
    done(Either.left(new BodyUnreadable({ message: error.message })))
  }
  source.on("data", onData)
  source.on("end", onEnd)
  source.on("error", onError)
  return detach
}

export const nodeBody = (
  source: IncomingMessage,
  limit: number,
  drain: boolean
): Effect.Effect<Uint8Array, BodyTooLarge | BodyUnreadable> =>
  Effect.async((resume) => Effect.sync(readNodeBody(source, limit, drain, (result) => resume(result))))

/**
 * The request body, at most `limit` bytes. On Node it is read from the socket directly, so that a body that turns
 * out too large is drained and answered with 413 (the platform's own reader destroys the socket instead); with
 * `drain` false the rest is not read (the answer then closes the connection).
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  drain = true
): Effect.Effect<Uint8Array, BodyTooLarge | BodyUnreadable> => {
  const source: unknown = NodeHttpServerRequest.toIncomingMessage(request)
  if (!(source instanceof IncomingMessage))
    return request.arrayBuffer.pipe(
      Effect.map((buffer) => new Uint8Array(buffer)),
      HttpIncomingMessage.withMaxBodySize(Option.some(limit)),
      Effect.mapError((error) =>
        error.cause instanceof Error && error.cause.message === "maxBytes exceeded"
          ? new BodyTooLarge({ limit })
          : new BodyUnreadable({ message: error.cause instanceof Error ? error.cause.message : error.message })
      )
    )
  return nodeBody(source, limit, drain)
}
