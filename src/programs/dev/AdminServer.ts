/**
 * The admin HTTP API of `dev`, on loopback (JSON in and out; errors are `{"error": "<what is wrong>"}` with 400,
 * 403, 404, 413 or 500):
 *
 *   GET    /bots                      every bot with its state
 *   POST   /bots                      {"path": "<bundle dir or zip>" | "bundle": "<zip, base64>", "config": {...}, "id"?}
 *   GET    /bots/:id
 *   PUT    /bots/:id/config           {"config": {...}}   (the bot restarts with it; its state is kept)
 *   POST   /bots/:id/enable | /bots/:id/disable
 *   DELETE /bots/:id
 *   GET    /bots/:id/logs?tail=N | ?after=N   {"lines": [...], "total": N}
 *
 * It belongs to the user who started `dev` (README.md, "Dev mode"): every request needs `Authorization: Bearer
 * <token>` (the token in `<data dir>/admin-token`, AdminToken.ts), a `Host` (and `Origin`, when sent) naming this
 * server (HostGuard.ts), and a body only as `application/json`; otherwise 403 naming the reason. Bodies are capped
 * and checked as AdminInput.ts says; a body over the cap is answered 413 with a lingering close (`linger`).
 */
import { createServer, IncomingMessage } from "node:http"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Either, Layer } from "effect"
import { type AllowedHosts, allowedHosts, hostProblem } from "../HostGuard.ts"
import { bearerMatches, declaredLength } from "../query/QueryLimits.ts"
import { readBody } from "../query/QueryServer.ts"
import * as Admin from "./Admin.ts"
import * as AdminInput from "./AdminInput.ts"
import { loadBundle } from "./Bundle.ts"

const json = (body: unknown, status = 200, headers?: Readonly<Record<string, string>>) =>
  HttpServerResponse.unsafeJson(body, { status, ...(headers === undefined ? {} : { headers }) })

const bad = (message: string) => new Admin.AdminError({ status: 400, message })

const tooLarge = () =>
  new Admin.AdminError({
    status: 413,
    message: `the request body is larger than ${AdminInput.maxBodyBytes} bytes (64 MiB)`
  })

/** How long, at most, and how many more bytes a connection answered 413 is read before it is closed. */
const lingerMillis = 2000
const lingerBytes = 16 * 1024 * 1024

/**
 * A lingering close (README.md, "Dev mode", Limits): the rest of the body is read and thrown away, and once the
 * answer has gone the connection is only half-closed; it is closed when the client has closed its side, or after
 * `lingerMillis` or `lingerBytes` more. Closing a socket with unread data makes the kernel send a reset, which can
 * reach the client before it has read the answer.
 */
const linger = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.sync(() => {
    const incoming: unknown = NodeHttpServerRequest.toIncomingMessage(request)
    if (!(incoming instanceof IncomingMessage)) return
    const socket = incoming.socket
    let read = 0
    const close = () => {
      clearTimeout(timer)
      socket.destroy()
    }
    const timer = setTimeout(close, lingerMillis)
    timer.unref()
    socket.on("data", (chunk: Buffer) => {
      read += chunk.length
      if (read > lingerBytes) close()
    })
    socket.once("end", close)
    incoming.resume()
    // Node closes a `Connection: close` socket with destroySoon once the answer is written: end it only, reading on
    socket.destroySoon = () => {
      socket.end()
    }
  })

const check = <A>(result: Either.Either<A, AdminInput.InvalidInput>) =>
  Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(bad(result.left.message))

/** The request body as a JSON object (at most 64 MiB, not read further beyond), or a 400 or 413 naming the problem. */
const body = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const bytes = yield* readBody(request, AdminInput.maxBodyBytes, false).pipe(
    Effect.catchTag("BodyTooLarge", () => Effect.zipRight(linger(request), Effect.fail(tooLarge()))),
    Effect.mapError((error) =>
      error._tag === "AdminError" ? error : bad(`cannot read the request body: ${error.message}`)
    )
  )
  return yield* check(AdminInput.parseBody(new TextDecoder().decode(bytes)))
})

const idParam = Effect.map(HttpRouter.params, (params) => params.id ?? "")

const handle = <A, R>(effect: Effect.Effect<A, Admin.AdminError, R>, status = 200) =>
  effect.pipe(
    Effect.map((value) => json(value, status)),
    Effect.catchTag("AdminError", (error) =>
      Effect.succeed(
        json({ error: error.message }, error.status, error.status === 413 ? { connection: "close" } : undefined)
      )
    )
  )

const searchParam = (name: string) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const value = new URL(request.url, "http://localhost").searchParams.get(name)
    const n = value === null ? Number.NaN : Number(value)
    return Number.isInteger(n) && n >= 0 ? n : undefined
  })

const isJsonType = (contentType: string | undefined): boolean =>
  contentType !== undefined && /^application\/json\s*(;|$)/i.test(contentType.trim())

/**
 * Why this request may not use the admin API (403), or `undefined`: Host and Origin, then the token, then the body's
 * type (a body is anything with a non-zero `Content-Length` or a `Transfer-Encoding`).
 */
export const refusal = (
  headers: Readonly<Record<string, string | undefined>>,
  allowed: AllowedHosts,
  token: string
): string | undefined => {
  const host = hostProblem(allowed, headers.host, headers.origin)
  if (host !== undefined) return host
  if (!bearerMatches(headers.authorization, token))
    return "missing or wrong token: send Authorization: Bearer <the token in admin-token in the dev data directory>"
  const length = declaredLength(headers["content-length"])
  const hasBody = (length !== undefined && length > 0) || headers["transfer-encoding"] !== undefined
  if (hasBody && !isJsonType(headers["content-type"]))
    return `only application/json request bodies are accepted, not ${headers["content-type"] === undefined ? "a body without Content-Type" : headers["content-type"]}`
  return undefined
}

/** `app` behind the owner's checks (`refusal`) and the body size declared in `Content-Length` (413 unread). */
const guarded = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  allowed: AllowedHosts,
  token: string
) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const problem = refusal(request.headers, allowed, token)
    if (problem !== undefined) return Effect.succeed(json({ error: problem }, 403))
    const length = declaredLength(request.headers["content-length"])
    if (length !== undefined && length > AdminInput.maxBodyBytes)
      return Effect.as(linger(request), json({ error: tooLarge().message }, 413, { connection: "close" }))
    return app
  })

export const router = (ctx: Admin.AdminContext) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/bots", handle(Admin.list(ctx))),
    HttpRouter.post(
      "/bots",
      handle(
        Effect.gen(function* () {
          const fields = yield* body
          const config = yield* check(AdminInput.configOf(fields))
          const id = yield* check(AdminInput.idOf(fields))
          const path = yield* check(AdminInput.stringField(fields, "path"))
          const uploaded = yield* check(AdminInput.stringField(fields, "bundle"))
          let bundle: Uint8Array
          let label: string
          if (path !== undefined) {
            label = path
            bundle = yield* Effect.mapError(loadBundle(path), (e) => bad(e.message))
          } else if (uploaded !== undefined) {
            label = "the uploaded bundle"
            bundle = new Uint8Array(Buffer.from(uploaded, "base64"))
          } else
            return yield* Effect.fail(bad('give the bundle as "path" (a directory or zip) or "bundle" (a zip, base64)'))
          const record = yield* Admin.add(ctx, { bundle, label, config, ...(id === undefined ? {} : { id }) })
          return yield* Admin.view(ctx, record)
        }),
        201
      )
    ),
    HttpRouter.get("/bots/:id", handle(Effect.flatMap(idParam, (id) => Admin.show(ctx, id)))),
    HttpRouter.put(
      "/bots/:id/config",
      handle(
        Effect.gen(function* () {
          const id = yield* idParam
          const config = yield* check(AdminInput.configOf(yield* body))
          return yield* Effect.flatMap(Admin.setConfig(ctx, id, config), (record) => Admin.view(ctx, record))
        })
      )
    ),
    HttpRouter.post(
      "/bots/:id/enable",
      handle(
        Effect.flatMap(idParam, (id) => Effect.flatMap(Admin.setEnabled(ctx, id, true), (r) => Admin.view(ctx, r)))
      )
    ),
    HttpRouter.post(
      "/bots/:id/disable",
      handle(
        Effect.flatMap(idParam, (id) => Effect.flatMap(Admin.setEnabled(ctx, id, false), (r) => Admin.view(ctx, r)))
      )
    ),
    HttpRouter.del(
      "/bots/:id",
      handle(Effect.flatMap(idParam, (id) => Effect.as(Admin.remove(ctx, id), { deleted: id })))
    ),
    HttpRouter.get(
      "/bots/:id/logs",
      handle(
        Effect.gen(function* () {
          const id = yield* idParam
          const tail = yield* searchParam("tail")
          const after = yield* searchParam("after")
          return yield* Admin.logs(ctx, id, {
            ...(tail === undefined ? {} : { tail }),
            ...(after === undefined ? {} : { after })
          })
        })
      )
    ),
    HttpRouter.get("/health", Effect.succeed(json({ status: "ok" })))
  )

export interface AdminServerOptions {
  readonly host: string
  readonly port: number
  /** The token every request must send (AdminToken.ts). */
  readonly token: string
}

/** The admin API on `host:port` for as long as the layer lives. */
export const layer = (ctx: Admin.AdminContext, options: AdminServerOptions) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const address = (yield* HttpServer.HttpServer).address
      const port = address._tag === "TcpAddress" ? address.port : options.port
      const app = router(ctx).pipe(
        Effect.catchTag("RouteNotFound", (error) =>
          Effect.succeed(json({ error: `no such route: ${error.request.method} ${error.request.url}` }, 404))
        ),
        Effect.catchAllCause((cause) => Effect.succeed(json({ error: `internal error: ${String(cause)}` }, 500)))
      )
      return yield* HttpServer.serveEffect(guarded(app, allowedHosts(options.host, port), options.token))
    })
  ).pipe(Layer.provide(NodeHttpServer.layer(createServer, { host: options.host, port: options.port })))
