/** Ports on the dev node's address (127.0.0.1): a free one for a container port, and the HTTP and TCP probes. */
import { request } from "node:http"
import { createServer, Socket } from "node:net"
import { Data, Effect } from "effect"
import { podIP } from "./KubeletNode.ts"

/** No port could be had on the dev node's address. */
export class NoFreePort extends Data.TaggedError("NoFreePort")<{ readonly detail: string; readonly cause?: unknown }> {
  override get message(): string {
    return this.detail
  }
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export const freePort: Effect.Effect<number, NoFreePort> = Effect.async<number, NoFreePort>((resume) => {
  const server = createServer()
  server.once("error", (cause) =>
    resume(Effect.fail(new NoFreePort({ detail: `no free port: ${cause.message}`, cause })))
  )
  server.listen(0, podIP, () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() =>
      resume(port > 0 ? Effect.succeed(port) : Effect.fail(new NoFreePort({ detail: "no free port" })))
    )
  })
})

/** True when `GET http://127.0.0.1:<port><path>` answers 2xx or 3xx within a second. */
export const httpProbe = (port: number, probePath: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const req = request({ host: podIP, port, path: probePath, method: "GET", timeout: 1000 }, (res) => {
      res.resume()
      resume(Effect.succeed((res.statusCode ?? 500) < 400))
    })
    // Node's `destroy` takes an Error; the "error" handler below turns it into `false`
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", () => resume(Effect.succeed(false)))
    req.end()
    return Effect.sync(() => req.destroy())
  })

/** True when something accepts TCP connections on 127.0.0.1:<port>. */
export const tcpProbe = (port: number): Effect.Effect<boolean> => tcpAccepts(podIP, port)

/** True when something accepts a TCP connection on `host:port` within a second. */
export const tcpAccepts = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = new Socket()
    socket.setTimeout(1000)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("timeout", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
    socket.connect(port, host)
    return Effect.sync(() => socket.destroy())
  })
