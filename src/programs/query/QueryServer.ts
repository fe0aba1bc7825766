/**
 * The QueryServer on :9477 (controller spec §6), on every controller replica: `GET|ANY /health` and `POST /query`
 * with the0's request and response shapes, status codes and messages; realtime queries proxied to the bot Pod's
 * query container, others run as ephemeral Jobs; with the limits, auth and metrics the0 lacks.
 *
 * `make` builds the handler from its inputs (the bot controller's Pod cache among them, so that resolution makes
 * no API call); `layer` serves it on the configured port with Node's HTTP server, its timeouts agreeing with the
 * longest query.
 */
import { createServer, IncomingMessage } from "node:http"
import {
  type HttpApp,
  HttpIncomingMessage,
  HttpMiddleware,
  HttpServer,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Clock, Duration, Effect, Either, FiberSet, Layer, Option, type Scope } from "effect"
import { normaliseQueryPath } from "../../domain/Query.ts"
import { BotStore } from "../../services/BotStore.ts"
import { KubeApi } from "../../services/KubeApi.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import type { Informer } from "../controller/Informer.ts"
import { type AllowedHosts, allowedHosts, hostProblem } from "../HostGuard.ts"
import { listenHost } from "../ListenAddress.ts"
import { Metrics } from "../Metrics.ts"
import * as BotResolver from "./BotResolver.ts"
import * as EphemeralQuery from "./EphemeralQuery.ts"
import { bearerMatches, declaredLength, makeJobSlots } from "./QueryLimits.ts"
import { type QueryMode, queryMetrics } from "./QueryMetrics.ts"
import type { QueryOutput } from "./QueryOutput.ts"
import { decodeQueryRequest, missingField } from "./QueryRequestDecoding.ts"
import { effectiveTimeoutSec, type QuerySettings, serverTimeouts } from "./QuerySettings.ts"
import * as RealtimeProxy from "./RealtimeProxy.ts"
import * as RealtimeTransport from "./RealtimeTransport.ts"

export interface QueryServerInputs {
  readonly settings: QuerySettings
  /**
   * The bot controller's Pod cache: Pods labelled `the0.app/managed-by=the0-bot-controller`, indexed by
   * `the0.app/bot-id` (the `informer` of the Bot controller).
   */
  readonly botPods: Informer<"Pod">
}

/** A request as the handler needs it, independent of the HTTP server. */
export interface RawRequest {
  readonly method: string
  /** The request target: path and optional query string. */
  readonly url: string
  readonly header: (name: string) => string | undefined
  /** The body, at most `maxBodyBytes`; `BodyTooLarge` beyond. */
  readonly body: Effect.Effect<Uint8Array, BodyTooLarge | BodyUnreadable>
}

export interface RawResponse {
  readonly status: number
  readonly contentType: string
  readonly body: string
  readonly headers?: Readonly<Record<string, string>>
}

export class BodyTooLarge {
  readonly _tag = "BodyTooLarge"
}
export class BodyUnreadable {
  readonly _tag = "BodyUnreadable"
  constructor(readonly message: string) {}
}

export interface QueryServer {
  readonly handle: (request: RawRequest) => Effect.Effect<RawResponse>
  /** The @effect/platform app serving `handle`. */
  readonly app: HttpApp.Default<never, HttpServerRequest.HttpServerRequest>
  readonly jobsInFlight: () => number
}

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
          ? new BodyTooLarge()
          : new BodyUnreadable(error.cause instanceof Error ? error.cause.message : error.message)
      )
    )
  return Effect.async<Uint8Array, BodyTooLarge | BodyUnreadable>((resume) => {
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
        resume(Effect.fail(new BodyTooLarge()))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      detach()
      resume(Effect.succeed(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)))
    }
    const onError = (error: Error) => {
      detach()
      resume(Effect.fail(new BodyUnreadable(error.message)))
    }
    source.on("data", onData)
    source.on("end", onEnd)
    source.on("error", onError)
    return Effect.sync(detach)
  })
}

/** Go's `time.RFC3339Nano` of a UTC instant: fractional seconds without trailing zeros. */
export const rfc3339Nano = (millis: number): string =>
  new Date(millis).toISOString().replace(/\.(\d*?)0*Z$/, (_m, digits: string) => (digits === "" ? "Z" : `.${digits}Z`))

const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): RawResponse => ({
  status,
  contentType: "application/json",
  body: `${JSON.stringify(body)}\n`,
  ...(headers === undefined ? {} : { headers })
})

/** the0's `sendError` body. */
const errorResponse = (status: number, message: string, now: number, headers?: Readonly<Record<string, string>>) =>
  json(status, { status: "error", error: message, duration: 0, timestamp: rfc3339Nano(now) }, headers)

const notFound: RawResponse = {
  status: 404,
  contentType: "text/plain; charset=utf-8",
  body: "404 page not found\n",
  headers: { "x-content-type-options": "nosniff" }
}

const routeOf = (path: string): "/query" | "/health" | "other" =>
  path === "/query" ? "/query" : path === "/health" ? "/health" : "other"

export const make = (
  inputs: QueryServerInputs
): Effect.Effect<QueryServer, never, BotStore | KubeApi | ObjectStore | Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    const { settings, botPods } = inputs
    const store = yield* BotStore
    const api = yield* KubeApi
    const objects = yield* ObjectStore
    const metrics = queryMetrics(yield* Metrics)
    const transport = yield* RealtimeTransport.make
    const background = yield* FiberSet.make()
    const slots = makeJobSlots(settings.maxJobsInFlight, (n) => metrics.jobsInFlight.set(n))
    const jobDeps: EphemeralQuery.EphemeralQueryDeps = { api, objects, settings, metrics, background }
    const token = settings.authToken

    const respondOutput = (output: QueryOutput, startedNanos: bigint) =>
      Effect.map(Clock.currentTimeNanos, (now) =>
        json(output.status === "error" ? 500 : 200, {
          status: output.status,
          ...("data" in output ? { data: output.data } : {}),
          ...(output.error === undefined || output.error === "" ? {} : { error: output.error }),
          duration: Number(now - startedNanos),
          timestamp: rfc3339Nano(Number(now / 1_000_000n))
        })
      )

    const query = (request: RawRequest, setMode: (mode: QueryMode) => void) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const fail = (status: number, message: string, headers?: Readonly<Record<string, string>>) =>
          errorResponse(status, message, now, headers)
        if (request.method !== "POST") return fail(405, "method not allowed")
        const tooLarge = () =>
          fail(413, `request body too large: the limit is ${settings.maxBodyBytes} bytes`, { connection: "close" })
        const declared = declaredLength(request.header("content-length"))
        if (declared !== undefined && declared > settings.maxBodyBytes) return tooLarge()
        const body = yield* Effect.either(request.body)
        if (Either.isLeft(body))
          return body.left._tag === "BodyTooLarge"
            ? tooLarge()
            : fail(400, `invalid request body: ${body.left.message}`)
        const decoded = decodeQueryRequest(body.right)
        if (Either.isLeft(decoded)) return fail(400, `invalid request body: ${decoded.left}`)
        const missing = missingField(decoded.right)
        if (missing !== undefined) return fail(400, missing)
        const req = decoded.right
        const path = normaliseQueryPath(req.query_path)
        const resolved = yield* Effect.either(BotResolver.resolve(store, req.bot_id))
        if (Either.isLeft(resolved))
          return resolved.left._tag === "BotNotFound"
            ? fail(404, resolved.left.message)
            : fail(resolved.left.status, resolved.left.message)
        const target = resolved.right
        const timeout = Duration.seconds(effectiveTimeoutSec(settings, req.timeout_sec))
        const started = yield* Clock.currentTimeNanos
        const endpoint = target.mode === "realtime" ? BotResolver.realtimeEndpoint(botPods, req.bot_id) : Option.none()
        if (Option.isSome(endpoint)) {
          setMode("realtime")
          const output = yield* RealtimeProxy.query(transport, endpoint.value, {
            path,
            params: req.params ?? undefined,
            timeout,
            maxResultBytes: settings.maxResultBytes
          })
          return yield* respondOutput(output, started)
        }
        setMode("job")
        const output = yield* slots.withSlot(
          EphemeralQuery.run(jobDeps, { doc: target.doc, path, params: req.params ?? undefined, timeout })
        )
        return yield* respondOutput(output, started)
      }).pipe(
        Effect.catchTag("TooManyQueryJobs", (error) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            metrics.jobsRejected.inc()
            return errorResponse(429, error.message, now, { "retry-after": "1" })
          })
        )
      )

    const handle = (request: RawRequest): Effect.Effect<RawResponse> =>
      Effect.suspend(() => {
        const start = performance.now()
        const queryAt = request.url.indexOf("?")
        const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt)
        const route = routeOf(path)
        let mode: QueryMode = "none"
        const observe = (response: RawResponse) =>
          Effect.sync(() => {
            const labels = { route, mode, status: String(response.status) }
            metrics.requests.inc(labels)
            metrics.requestSeconds.observe(labels, (performance.now() - start) / 1000)
          })
        const answer: Effect.Effect<RawResponse> =
          route === "/health"
            ? Effect.succeed(json(200, { status: "ok" }))
            : token !== undefined && !bearerMatches(request.header("authorization"), token)
              ? Effect.map(Clock.currentTimeMillis, (now) =>
                  errorResponse(401, "unauthorized: a valid bearer token is required", now, {
                    "www-authenticate": 'Bearer realm="the0-query"'
                  })
                )
              : route === "/query"
                ? query(request, (m) => {
                    mode = m
                  })
                : Effect.succeed(notFound)
        return answer.pipe(
          Effect.catchAllCause((cause) =>
            Effect.logError("query server: unexpected failure", cause).pipe(
              Effect.zipRight(Clock.currentTimeMillis),
              Effect.map((now) => errorResponse(500, "internal error", now))
            )
          ),
          Effect.tap(observe)
        )
      })

    const app: HttpApp.Default<never, HttpServerRequest.HttpServerRequest> = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      // the platform runs apps uninterruptibly: without this, timeouts could not interrupt a query, nor could a
      // client that hangs up
      const response = yield* Effect.interruptible(
        handle({
          method: request.method,
          url: request.url,
          header: (name) => request.headers[name],
          body: readBody(request, settings.maxBodyBytes)
        })
      )
      return HttpServerResponse.text(response.body, {
        status: response.status,
        contentType: response.contentType,
        ...(response.headers === undefined ? {} : { headers: response.headers })
      })
    })

    return { handle, app, jobsInFlight: slots.inFlight }
  })

/** Serves `app` (tracing and request logging off: the metrics cover requests). */
export const serve = (app: HttpApp.Default<never, HttpServerRequest.HttpServerRequest>) =>
  HttpServer.serveEffect(app).pipe(
    Effect.locally(HttpMiddleware.currentTracerDisabledWhen, () => true),
    Effect.locally(HttpMiddleware.loggerDisabled, true)
  )

/** A Node HTTP server whose timeouts agree with the query settings. */
export const nodeServer = (settings: QuerySettings) => {
  const t = serverTimeouts(settings)
  const server = createServer()
  server.headersTimeout = t.headersTimeoutMs
  server.requestTimeout = t.requestTimeoutMs
  server.keepAliveTimeout = t.keepAliveTimeoutMs
  server.setTimeout(t.socketTimeoutMs)
  return server
}

/**
 * `app` behind the Host check (programs/HostGuard.ts): a request naming another server in `Host` or `Origin` gets
 * 403 with the0's error shape, naming the header.
 */
export const hostChecked = (
  app: HttpApp.Default<never, HttpServerRequest.HttpServerRequest>,
  allowed: AllowedHosts
): HttpApp.Default<never, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const problem = hostProblem(allowed, request.headers.host, request.headers.origin)
    if (problem === undefined) return app
    return Effect.map(Clock.currentTimeMillis, (now) => {
      const response = errorResponse(403, problem, now)
      return HttpServerResponse.text(response.body, { status: 403, contentType: response.contentType })
    })
  })

/**
 * The QueryServer on `settings.host:settings.port`, for the controller manager, for as long as the layer lives;
 * Host-checked when `settings.checkHost` is on (`dev`).
 */
export const layer = (
  inputs: QueryServerInputs
): Layer.Layer<never, HttpServerError.ServeError, BotStore | KubeApi | ObjectStore | Metrics> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const server = yield* make(inputs)
      if (!inputs.settings.checkHost) return yield* serve(server.app)
      const address = (yield* HttpServer.HttpServer).address
      const port = address._tag === "TcpAddress" ? address.port : inputs.settings.port
      return yield* serve(hostChecked(server.app, allowedHosts(inputs.settings.host, port)))
    })
  ).pipe(
    Layer.provide(
      NodeHttpServer.layer(() => nodeServer(inputs.settings), {
        port: inputs.settings.port,
        host: listenHost(inputs.settings.host)
      })
    )
  )
