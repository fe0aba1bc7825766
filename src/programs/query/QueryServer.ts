/**
 * The QueryServer on :9477 (docs/contracts.md, "The :9477 API"), on every controller replica: `GET|ANY /health` and `POST /query`
 * with the0's request and response shapes, status codes and messages; realtime queries proxied to the bot Pod's
 * query container, others run as ephemeral Jobs; with the limits, auth and metrics the0 lacks.
 *
 * `make` builds the handler from its inputs (the bot controller's Pod cache among them, so that resolution makes
 * no API call); `layer` serves it on the configured port with Node's HTTP server, its timeouts agreeing with the
 * longest query.
 *
 * A bot with a ready query container in the Pod cache is proxied to without reading the BotStore: the bot
 * controller runs that Pod only for an enabled bot with a query entrypoint, so resolution costs a cache lookup,
 * whatever the number of bots. Only queries without such a Pod (scheduled bots, realtime bots not running) read
 * the store, with the0's 404 messages. A bot disabled or deleted in the store is still answered by its Pod until
 * the controller stops it.
 *
 * The Node listener answers the common realtime query with callbacks alone (no fiber per query: the realtime path
 * is measured against a Go proxy, BENCHMARKS.md "Realtime queries side by side"); every other request goes
 * through `handle`, the same rules as an effect. While traces are exported (programs/Tracing.ts) every request goes
 * through `handle`, so that a query is one trace: `POST /query`, its `query.resolve`, then `query.realtime` or
 * `query.job` (docs/operations.md, "Tracing").
 *
 * Every refusal is one of the tagged errors of QueryFailure.ts, answered with the0's status and message here, at
 * the edge.
 */
import { createServer, IncomingMessage, type Server, type ServerResponse } from "node:http"
import { hostname } from "node:os"
import { HttpIncomingMessage, HttpServerError, type HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import {
  Clock,
  Duration,
  Effect,
  Either,
  Exit,
  FiberId,
  FiberRef,
  FiberSet,
  Layer,
  Option,
  Runtime,
  type Scope
} from "effect"
import type { Bot } from "../../domain/Bot.ts"
import { normaliseQueryPath, type QueryRequest } from "../../domain/Query.ts"
import { BotStore } from "../../services/BotStore.ts"
import { KubeApi } from "../../services/KubeApi.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import * as EventRecorder from "../controller/EventRecorder.ts"
import type { Informer } from "../controller/Informer.ts"
import { type AllowedHosts, allowedHosts, hostProblem } from "../HostGuard.ts"
import { listenHost } from "../ListenAddress.ts"
import { Metrics } from "../Metrics.ts"
import * as Tracing from "../Tracing.ts"
import * as BotResolver from "./BotResolver.ts"
import * as EphemeralQuery from "./EphemeralQuery.ts"
import {
  answerOf,
  BodyTooLarge,
  BodyUnreadable,
  HostRefused,
  InvalidQueryRequest,
  MethodNotAllowed,
  type QueryFailure,
  Unauthorized
} from "./QueryFailure.ts"
import { bearerMatches, declaredLength, makeJobSlots } from "./QueryLimits.ts"
import { type QueryMode, queryMetrics, requestObserver } from "./QueryMetrics.ts"
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
  /** `reportingInstance` of the Events written on failed query Jobs: the replica's identity (the host name when absent). */
  readonly reportingInstance?: string
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

export { BodyTooLarge, BodyUnreadable } from "./QueryFailure.ts"

export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void

export interface QueryServer {
  readonly handle: (request: RawRequest) => Effect.Effect<RawResponse>
  /**
   * Node's request listener: `handle`, with the realtime fast path. When `allowed` gives a set, a request whose
   * Host or Origin is not in it gets 403 (programs/HostGuard.ts).
   */
  readonly listener: (allowed: () => AllowedHosts | undefined) => NodeListener
  readonly jobsInFlight: () => number
}

/**
 * Reads a Node request body of at most `limit` bytes; `done` gets it, or `BodyTooLarge` as soon as more arrives (the
 * rest drained, or with `drain` false left unread: the answer then closes the connection). Returns a detacher.
 */
const readNodeBody = (
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

const nodeBody = (
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

let lastMillis = Number.NaN
let lastStamp = ""

/** Go's `time.RFC3339Nano` of a UTC instant: fractional seconds without trailing zeros (the last one kept). */
export const rfc3339Nano = (millis: number): string => {
  if (millis !== lastMillis) {
    lastMillis = millis
    lastStamp = new Date(millis)
      .toISOString()
      .replace(/\.(\d*?)0*Z$/, (_m, digits: string) => (digits === "" ? "Z" : `.${digits}Z`))
  }
  return lastStamp
}

const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): RawResponse => ({
  status,
  contentType: "application/json",
  body: `${JSON.stringify(body)}\n`,
  ...(headers === undefined ? {} : { headers })
})

/** the0's `sendError` body. */
const errorResponse = (status: number, message: string, now: number, headers?: Readonly<Record<string, string>>) =>
  json(status, { status: "error", error: message, duration: 0, timestamp: rfc3339Nano(now) }, headers)

/** The answer to a refused request. */
const failureResponse = (failure: QueryFailure, now: number): RawResponse => {
  const answer = answerOf(failure)
  return errorResponse(answer.status, answer.message, now, answer.headers)
}

/** Where a query goes once its bot is resolved. */
type QueryRoute =
  | { readonly mode: "realtime"; readonly endpoint: BotResolver.RealtimeEndpoint }
  | { readonly mode: "job"; readonly doc: Bot }

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
    const events = yield* EventRecorder.make({
      namespace: settings.manifest.namespace,
      controller: "query",
      reportingInstance: inputs.reportingInstance ?? hostname()
    })
    const jobDeps: EphemeralQuery.EphemeralQueryDeps = { api, objects, settings, metrics, background, events }
    const token = settings.authToken
    /** While traces are exported, every request takes the effect path (it is the one with spans). */
    const traced = yield* FiberRef.get(Tracing.exporting)

    const observe = requestObserver(metrics)
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())

    /** The answer to a query the bot (or its Job) answered, `durationNanos` after it was sent. */
    const outputResponse = (output: QueryOutput, durationNanos: number, nowMillis: number): RawResponse =>
      json(output.status === "error" ? 500 : 200, {
        status: output.status,
        ...("data" in output ? { data: output.data } : {}),
        ...(output.error === undefined || output.error === "" ? {} : { error: output.error }),
        duration: durationNanos,
        timestamp: rfc3339Nano(nowMillis)
      })

    const respondOutput = (output: QueryOutput, startedNanos: bigint) =>
      Effect.map(Clock.currentTimeNanos, (now) =>
        outputResponse(output, Number(now - startedNanos), Number(now / 1_000_000n))
      )

    const realtimeQuery = (req: QueryRequest): RealtimeProxy.RealtimeQuery => ({
      path: normaliseQueryPath(req.query_path),
      params: req.params ?? undefined,
      timeout: Duration.seconds(effectiveTimeoutSec(settings, req.timeout_sec)),
      maxResultBytes: settings.maxResultBytes
    })

    /** Where the query goes: a ready query container (a cache lookup) or, from the store, an ephemeral Job. */
    const resolve = (botId: string) =>
      Effect.suspend((): Effect.Effect<QueryRoute, BotResolver.BotNotFound | BotResolver.BotLookupFailed> => {
        const endpoint = BotResolver.realtimeEndpoint(botPods, botId)
        return Option.isSome(endpoint)
          ? Effect.succeed({ mode: "realtime", endpoint: endpoint.value })
          : Effect.map(BotResolver.resolve(store, botId), (target) => ({ mode: "job", doc: target.doc }))
      }).pipe(
        Effect.tap((target) => Effect.annotateCurrentSpan("query.mode", target.mode)),
        Effect.withSpan("query.resolve", { attributes: { "bot.id": botId }, captureStackTrace: false })
      )

    const query = (request: RawRequest, setMode: (mode: QueryMode) => void): Effect.Effect<RawResponse, QueryFailure> =>
      Effect.gen(function* () {
        if (request.method !== "POST") return yield* new MethodNotAllowed()
        const declared = declaredLength(request.header("content-length"))
        if (declared !== undefined && declared > settings.maxBodyBytes)
          return yield* new BodyTooLarge({ limit: settings.maxBodyBytes })
        const body = yield* request.body
        const decoded = decodeQueryRequest(body)
        if (Either.isLeft(decoded))
          return yield* new InvalidQueryRequest({ message: `invalid request body: ${decoded.left}` })
        const missing = missingField(decoded.right)
        if (missing !== undefined) return yield* new InvalidQueryRequest({ message: missing })
        const req = decoded.right
        yield* Effect.annotateCurrentSpan("bot.id", req.bot_id)
        const target = yield* resolve(req.bot_id)
        const started = yield* Clock.currentTimeNanos
        setMode(target.mode)
        if (target.mode === "realtime") {
          const output = yield* RealtimeProxy.query(transport, target.endpoint, realtimeQuery(req))
          return yield* respondOutput(output, started)
        }
        const { path, params, timeout } = realtimeQuery(req)
        const output = yield* slots
          .withSlot(EphemeralQuery.run(jobDeps, { doc: target.doc, path, params, timeout }))
          .pipe(Effect.tapErrorTag("TooManyQueryJobs", () => Effect.sync(() => metrics.jobsRejected.inc())))
        return yield* respondOutput(output, started)
      })

    const authorized = (header: string | undefined) => token === undefined || bearerMatches(header, token)

    const handle = (request: RawRequest): Effect.Effect<RawResponse> =>
      Effect.suspend(() => {
        const start = performance.now()
        const queryAt = request.url.indexOf("?")
        const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt)
        const route = routeOf(path)
        let mode: QueryMode = "none"
        const answer: Effect.Effect<RawResponse, QueryFailure> =
          route === "/health"
            ? Effect.succeed(json(200, { status: "ok" }))
            : !authorized(request.header("authorization"))
              ? Effect.fail(new Unauthorized())
              : route === "/query"
                ? query(request, (m) => {
                    mode = m
                  })
                : Effect.succeed(notFound)
        const answered = answer.pipe(
          Effect.catchAll((failure) => Effect.map(Clock.currentTimeMillis, (now) => failureResponse(failure, now))),
          Effect.catchAllCause((cause) =>
            Effect.logError("query server: unexpected failure", cause).pipe(
              Effect.zipRight(Clock.currentTimeMillis),
              Effect.map((now) => errorResponse(500, "internal error", now))
            )
          ),
          Effect.tap((response) =>
            Effect.sync(() => observe(route, mode, response.status, (performance.now() - start) / 1000))
          )
        )
        return route === "/query"
          ? answered.pipe(
              Effect.tap((response) => Effect.annotateCurrentSpan("http.response.status_code", response.status)),
              Effect.withSpan(`${request.method} /query`, {
                kind: "server",
                attributes: { "http.request.method": request.method, "url.path": path },
                captureStackTrace: false
              })
            )
          : answered
      })

    /** `handle` on a Node request whose body is `body`; the fiber is interrupted when the client hangs up. */
    const viaHandle = (
      req: IncomingMessage,
      res: ServerResponse,
      body: Effect.Effect<Uint8Array, BodyTooLarge | BodyUnreadable>
    ) => {
      const fiber = runFork(
        handle({
          method: req.method ?? "",
          url: req.url ?? "/",
          header: (name) => headerValue(req, name),
          body
        })
      )
      fiber.addObserver((exit) => {
        if (Exit.isSuccess(exit)) send(res, exit.value)
      })
      res.on("close", () => {
        if (!res.writableEnded) fiber.unsafeInterruptAsFork(FiberId.none)
      })
    }

    /** A realtime query to a bot whose Pod is ready, answered with callbacks alone. */
    const realtime = (
      res: ServerResponse,
      endpoint: BotResolver.RealtimeEndpoint,
      req: QueryRequest,
      start: number
    ) => {
      const started = process.hrtime.bigint()
      const cancel = RealtimeProxy.run(transport, endpoint, realtimeQuery(req), (output) => {
        const response = outputResponse(output, Number(process.hrtime.bigint() - started), Date.now())
        send(res, response)
        observe("/query", "realtime", response.status, (performance.now() - start) / 1000)
      })
      res.on("close", () => {
        if (!res.writableEnded) cancel()
      })
    }

    const listener =
      (allowed: () => AllowedHosts | undefined): NodeListener =>
      (req, res) => {
        const start = performance.now()
        const hosts = allowed()
        if (hosts !== undefined) {
          const problem = hostProblem(hosts, headerValue(req, "host"), headerValue(req, "origin"))
          if (problem !== undefined)
            return send(res, failureResponse(new HostRefused({ message: problem }), Date.now()))
        }
        const declared = declaredLength(headerValue(req, "content-length"))
        if (
          traced ||
          req.method !== "POST" ||
          req.url !== "/query" ||
          !authorized(headerValue(req, "authorization")) ||
          (declared !== undefined && declared > settings.maxBodyBytes)
        )
          return viaHandle(req, res, nodeBody(req, settings.maxBodyBytes, true))
        readNodeBody(req, settings.maxBodyBytes, true, (body) => {
          // a fault here goes to `handle` with the body, which answers 500 and logs it
          try {
            if (Either.isRight(body)) {
              const decoded = decodeQueryRequest(body.right)
              if (Either.isRight(decoded) && missingField(decoded.right) === undefined) {
                const endpoint = BotResolver.realtimeEndpoint(botPods, decoded.right.bot_id)
                if (Option.isSome(endpoint)) return realtime(res, endpoint.value, decoded.right, start)
              }
            }
          } catch {}
          viaHandle(req, res, body)
        })
      }

    return { handle, listener, jobsInFlight: slots.inFlight }
  })

const headerValue = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(", ") : value
}

/** Writes the response, unless the client is gone. */
const send = (res: ServerResponse, response: RawResponse): void => {
  if (res.writableEnded || res.destroyed) return
  res.writeHead(response.status, {
    "content-type": response.contentType,
    "content-length": Buffer.byteLength(response.body),
    ...response.headers
  })
  res.end(response.body)
}

/** A Node HTTP server whose timeouts agree with the query settings. */
const nodeServer = (settings: QuerySettings): Server => {
  const t = serverTimeouts(settings)
  const server = createServer()
  server.headersTimeout = t.headersTimeoutMs
  server.requestTimeout = t.requestTimeoutMs
  server.keepAliveTimeout = t.keepAliveTimeoutMs
  server.setTimeout(t.socketTimeoutMs)
  return server
}

/**
 * `server` listening on `host:port` (every interface without `host`) for the scope; closed (in-flight requests
 * answered first) when it ends.
 */
const listen = (
  server: Server,
  port: number,
  host: string | undefined
): Effect.Effect<void, HttpServerError.ServeError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<void, HttpServerError.ServeError>((resume) => {
      const onError = (cause: Error) => resume(Effect.fail(new HttpServerError.ServeError({ cause })))
      server.once("error", onError)
      server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
    }),
    () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/**
 * The QueryServer on `settings.host:settings.port`, for the controller manager, for as long as the layer lives;
 * Host-checked when `settings.checkHost` is on (`dev`): until the bound port is known, every request is refused.
 */
export const layer = (
  inputs: QueryServerInputs
): Layer.Layer<never, HttpServerError.ServeError, BotStore | KubeApi | ObjectStore | Metrics> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const { settings } = inputs
      const server = yield* make(inputs)
      const node = nodeServer(settings)
      let allowed: AllowedHosts | undefined = settings.checkHost ? new Set() : undefined
      node.on(
        "request",
        server.listener(() => allowed)
      )
      yield* listen(node, settings.port, listenHost(settings.host))
      const address = node.address()
      if (settings.checkHost)
        allowed = allowedHosts(
          settings.host,
          typeof address === "object" && address !== null ? address.port : settings.port
        )
    })
  )
