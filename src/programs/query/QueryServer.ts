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
 * `handle` answers every request as an effect; the Node listener (NodeListener.ts) answers the common realtime
 * query with callbacks alone and hands it everything else. While traces are exported (programs/Tracing.ts) every
 * request goes through `handle`, so that a query is one trace: `POST /query`, its `query.resolve`, then
 * `query.realtime` or `query.job` (docs/operations.md, "Tracing").
 *
 * Every refusal is one of the tagged errors of QueryFailure.ts, answered with the0's status and message here, at
 * the edge.
 */
import { createServer, type Server } from "node:http"
import { hostname } from "node:os"
import { HttpServerError } from "@effect/platform"
import { Clock, Duration, Effect, Either, FiberRef, FiberSet, Layer, Option, type Scope } from "effect"
import type { Bot } from "../../domain/Bot.ts"
import { normaliseQueryPath, type QueryRequest } from "../../domain/Query.ts"
import { BotStore } from "../../services/BotStore.ts"
import { KubeApi } from "../../services/KubeApi.ts"
import { ObjectStore } from "../../services/ObjectStore.ts"
import * as EventRecorder from "../controller/EventRecorder.ts"
import type { Informer } from "../controller/Informer.ts"
import { type AllowedHosts, allowedHosts } from "../HostGuard.ts"
import { listenHost } from "../ListenAddress.ts"
import { Metrics } from "../Metrics.ts"
import * as Tracing from "../Tracing.ts"
import * as BotResolver from "./BotResolver.ts"
import * as EphemeralQuery from "./EphemeralQuery.ts"
import * as NodeListener from "./NodeListener.ts"
import { BodyTooLarge, InvalidQueryRequest, MethodNotAllowed, type QueryFailure, Unauthorized } from "./QueryFailure.ts"
import { errorResponse, failureResponse, json, outputResponse, type RawRequest, type RawResponse } from "./QueryHttp.ts"
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
  /** Where a Pod's container port is reached: the port itself unless given (`dev` maps ports). */
  readonly portOf?: BotResolver.PortOf
  /** `reportingInstance` of the Events written on failed query Jobs: the replica's identity (the host name when absent). */
  readonly reportingInstance?: string
}

export { readBody } from "./NodeRequestBody.ts"
export { BodyTooLarge, BodyUnreadable } from "./QueryFailure.ts"
export type { NodeListener, RawRequest, RawResponse } from "./QueryHttp.ts"
export { rfc3339Nano } from "./QueryHttp.ts"

export interface QueryServer {
  readonly handle: (request: RawRequest) => Effect.Effect<RawResponse>
  /**
   * Node's request listener: `handle`, with the realtime fast path. When `allowed` gives a set, a request whose
   * Host or Origin is not in it gets 403 (programs/HostGuard.ts).
   */
  readonly listener: (allowed: () => AllowedHosts | undefined) => NodeListener.NodeListener
  readonly jobsInFlight: () => number
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
    const endpointOf = (botId: string) => BotResolver.realtimeEndpoint(botPods, botId, inputs.portOf)
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
        const endpoint = endpointOf(botId)
        return Option.isSome(endpoint)
          ? Effect.succeed({ mode: "realtime", endpoint: endpoint.value })
          : Effect.map(BotResolver.resolve(store, botId), (target) => ({ mode: "job", doc: target.doc }))
      }).pipe(
        Effect.tap((target) => Tracing.annotate({ "query.mode": target.mode })),
        Tracing.span("query.resolve", { attributes: { "bot.id": botId } })
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
        yield* Tracing.annotate({ "bot.id": req.bot_id })
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
              Effect.tap((response) => Tracing.annotate({ "http.response.status_code": response.status })),
              Tracing.span(`${request.method} /query`, {
                kind: "server",
                attributes: { "http.request.method": request.method, "url.path": path }
              })
            )
          : answered
      })

    const listener = NodeListener.make({
      settings,
      endpointOf,
      transport,
      effectOnly: traced,
      authorized,
      handle,
      realtimeQuery,
      observe,
      runtime: yield* Effect.runtime<never>()
    })

    return { handle, listener, jobsInFlight: slots.inFlight }
  })

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
