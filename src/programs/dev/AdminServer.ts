/**
 * The admin HTTP API of `dev`, on loopback (JSON in and out; errors are `{"error": "<what is wrong>"}` with 400,
 * 404 or 500):
 *
 *   GET    /bots                      every bot with its state
 *   POST   /bots                      {"path": "<bundle dir or zip>" | "bundle": "<zip, base64>", "config": {...}, "id"?}
 *   GET    /bots/:id
 *   PUT    /bots/:id/config           {"config": {...}}   (the bot restarts with it; its state is kept)
 *   POST   /bots/:id/enable | /bots/:id/disable
 *   DELETE /bots/:id
 *   GET    /bots/:id/logs?tail=N | ?after=N   {"lines": [...], "total": N}
 */
import { createServer } from "node:http"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import type { JsonObject } from "../../domain/Bot.ts"
import * as Admin from "./Admin.ts"
import { loadBundle } from "./Bundle.ts"

const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const bad = (message: string) => new Admin.AdminError({ status: 400, message })

/** The request body as a JSON object, or a 400 naming the problem. */
const body = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const text = yield* Effect.mapError(request.text, () => bad("cannot read the request body"))
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return yield* Effect.fail(
      bad(`the request body is not JSON: ${error instanceof Error ? error.message : String(error)}`)
    )
  }
  if (!isObject(parsed)) return yield* Effect.fail(bad("the request body must be a JSON object"))
  return parsed
})

const configOf = (fields: Record<string, unknown>) =>
  isObject(fields.config)
    ? Effect.succeed(fields.config as JsonObject)
    : Effect.fail(bad(`"config" must be a JSON object (the bot's user config), found ${JSON.stringify(fields.config)}`))

const idParam = Effect.map(HttpRouter.params, (params) => params.id ?? "")

const handle = <A, R>(effect: Effect.Effect<A, Admin.AdminError, R>, status = 200) =>
  effect.pipe(
    Effect.map((value) => json(value, status)),
    Effect.catchTag("AdminError", (error) => Effect.succeed(json({ error: error.message }, error.status)))
  )

const searchParam = (name: string) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const value = new URL(request.url, "http://localhost").searchParams.get(name)
    const n = value === null ? Number.NaN : Number(value)
    return Number.isInteger(n) && n >= 0 ? n : undefined
  })

export const router = (ctx: Admin.AdminContext) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/bots", handle(Admin.list(ctx))),
    HttpRouter.post(
      "/bots",
      handle(
        Effect.gen(function* () {
          const fields = yield* body
          const config = yield* configOf(fields)
          const id = typeof fields.id === "string" && fields.id !== "" ? fields.id : undefined
          let bundle: Uint8Array
          let label: string
          if (typeof fields.path === "string" && fields.path !== "") {
            label = fields.path
            bundle = yield* Effect.mapError(loadBundle(fields.path), (e) => bad(e.message))
          } else if (typeof fields.bundle === "string" && fields.bundle !== "") {
            label = "the uploaded bundle"
            bundle = new Uint8Array(Buffer.from(fields.bundle, "base64"))
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
          const config = yield* configOf(yield* body)
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

/** The admin API on `host:port` for as long as the layer lives. */
export const layer = (ctx: Admin.AdminContext, host: string, port: number) =>
  HttpServer.serve(
    router(ctx).pipe(
      Effect.catchTag("RouteNotFound", (error) =>
        Effect.succeed(json({ error: `no such route: ${error.request.method} ${error.request.url}` }, 404))
      ),
      Effect.catchAllCause((cause) => Effect.succeed(json({ error: `internal error: ${String(cause)}` }, 500)))
    )
  ).pipe(Layer.provide(NodeHttpServer.layer(createServer, { host, port })))
