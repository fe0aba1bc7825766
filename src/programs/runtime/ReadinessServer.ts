/**
 * `/readyz` and `/healthz` of the sync sidecar (docs/contracts.md, "Runtime commands"): `/readyz` answers 503 `not ready` until the
 * syncers are initialised, then 200 `ok`; `/healthz` is always 200 `ok`. Started before the storage settings are
 * read, for the life of the scope. It listens on every interface, IPv6 and IPv4 (the kubelet probes the Pod IP).
 */
import { createServer, type Server } from "node:http"
import { Data, Effect, Ref, type Scope } from "effect"
import { everyInterface, listenHost } from "../ListenAddress.ts"

/** The readiness port could not be listened on; the message is Node's (`listen EADDRINUSE: ...`). */
export class ReadinessServerError extends Data.TaggedError("ReadinessServerError")<{ readonly cause: Error }> {
  override get message(): string {
    return this.cause.message
  }
}

export interface Readiness {
  readonly setReady: Effect.Effect<void>
  /** The port actually bound (useful with port 0 in tests). */
  readonly port: number
}

export const serveReadiness = (
  port: number,
  host = everyInterface
): Effect.Effect<Readiness, ReadinessServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const ready = yield* Ref.make(false)
    const readyNow = { value: false }
    const server = yield* Effect.acquireRelease(
      Effect.async<Server, ReadinessServerError>((resume) => {
        const server = createServer((request, response) => {
          const url = (request.url ?? "").split("?")[0]
          const answer = (status: number, body: string) => {
            response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" })
            response.end(body)
          }
          if (url === "/healthz") answer(200, "ok")
          else if (url === "/readyz") answer(readyNow.value ? 200 : 503, readyNow.value ? "ok" : "not ready")
          else answer(404, "not found")
        })
        server.requestTimeout = 5_000
        server.headersTimeout = 5_000
        server.once("error", (cause) => resume(Effect.fail(new ReadinessServerError({ cause }))))
        server.listen(port, listenHost(host), () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        }).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    )
    const address = server.address()
    return {
      port: typeof address === "object" && address !== null ? address.port : port,
      setReady: Effect.zipRight(
        Ref.set(ready, true),
        Effect.sync(() => {
          readyNow.value = true
        })
      )
    }
  })
