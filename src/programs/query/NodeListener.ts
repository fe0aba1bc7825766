/**
 * The QueryServer's Node request listener (docs/contracts.md, "The :9477 API"). The common request, a realtime
 * query to a bot whose Pod is ready, is answered with callbacks alone: the body read from the socket, decoded,
 * resolved from the Pod cache and proxied, with no fiber (the realtime path is measured against a Go proxy,
 * BENCHMARKS.md "Realtime queries side by side"). Every other request, and every request while traces are exported
 * (programs/Tracing.ts: the effect path is the one with spans), goes to the server's `handle`, the same rules as an
 * effect. A request whose Host or Origin is not allowed gets 403 first (programs/HostGuard.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { type Effect, Either, Exit, FiberId, Option, Runtime } from "effect"
import type { QueryRequest } from "../../domain/Query.ts"
import { type AllowedHosts, hostProblem } from "../HostGuard.ts"
import type * as BotResolver from "./BotResolver.ts"
import { nodeBody, readNodeBody } from "./NodeRequestBody.ts"
import { type BodyTooLarge, type BodyUnreadable, HostRefused } from "./QueryFailure.ts"

export type { NodeListener } from "./QueryHttp.ts"

import {
  failureResponse,
  headerValue,
  type NodeListener,
  outputResponse,
  type RawRequest,
  type RawResponse,
  send
} from "./QueryHttp.ts"
import { declaredLength } from "./QueryLimits.ts"
import type { QueryMode } from "./QueryMetrics.ts"
import { decodeQueryRequest, missingField } from "./QueryRequestDecoding.ts"
import type { QuerySettings } from "./QuerySettings.ts"
import * as RealtimeProxy from "./RealtimeProxy.ts"
import type { RealtimeTransport } from "./RealtimeTransport.ts"

export interface ListenerInputs {
  readonly settings: QuerySettings
  /** Where a realtime bot answers now, from the Pod cache (BotResolver.realtimeEndpoint). */
  readonly endpointOf: (botId: string) => Option.Option<BotResolver.RealtimeEndpoint>
  readonly transport: RealtimeTransport
  /** True: every request goes to `handle` (traces are exported). */
  readonly effectOnly: boolean
  readonly authorized: (header: string | undefined) => boolean
  readonly handle: (request: RawRequest) => Effect.Effect<RawResponse>
  readonly realtimeQuery: (req: QueryRequest) => RealtimeProxy.RealtimeQuery
  /** Counts an answered request (route, mode, status, seconds). */
  readonly observe: (route: "/query", mode: QueryMode, status: number, seconds: number) => void
  /** Where `handle` runs. */
  readonly runtime: Runtime.Runtime<never>
}

export const make = (inputs: ListenerInputs): ((allowed: () => AllowedHosts | undefined) => NodeListener) => {
  const { settings, endpointOf, transport, effectOnly, authorized, handle, realtimeQuery, observe } = inputs
  const runFork = Runtime.runFork(inputs.runtime)

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
  const realtime = (res: ServerResponse, endpoint: BotResolver.RealtimeEndpoint, req: QueryRequest, start: number) => {
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

  return (allowed) => (req, res) => {
    const start = performance.now()
    const hosts = allowed()
    if (hosts !== undefined) {
      const problem = hostProblem(hosts, headerValue(req, "host"), headerValue(req, "origin"))
      if (problem !== undefined) return send(res, failureResponse(new HostRefused({ message: problem }), Date.now()))
    }
    const declared = declaredLength(headerValue(req, "content-length"))
    if (
      effectOnly ||
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
            const endpoint = endpointOf(decoded.right.bot_id)
            if (Option.isSome(endpoint)) return realtime(res, endpoint.value, decoded.right, start)
          }
        }
      } catch {}
      viaHandle(req, res, body)
    })
  }
}
