/**
 * The connection to the Kubernetes API server: configuration from the Pod's service account in a cluster or
 * from `KUBECONFIG` outside, one keep-alive HTTPS agent (TCP keepalive on every socket, so a dead peer under a
 * long watch is noticed), auth headers refreshed every minute (projected service-account tokens rotate), JSON
 * requests, and watch streams of newline-delimited JSON.
 */
import * as http from "node:http"
import * as https from "node:https"
import { createInterface } from "node:readline"
import { Data, Effect, Stream } from "effect"
import type { KubeTarget } from "./KubeConfigLoader.ts"

/** An answer the server gave (any status), or the transport failure that kept it from answering. */
export interface KubeResponse {
  readonly status: number
  readonly body: string
  /** The server's `Retry-After`, in seconds, when it sent one (API Priority and Fairness sends it with 429). */
  readonly retryAfterSeconds?: number
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date; undefined when absent or unreadable. */
export const retryAfterSeconds = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined || header.trim() === "") return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds : undefined
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000)
}

export class KubeTransportError extends Data.TaggedError("KubeTransportError")<{
  readonly detail: string
  readonly cause?: unknown
}> {}

export interface KubeConnection {
  readonly server: string
  readonly namespace: string
  readonly request: (options: {
    readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
    readonly path: string
    readonly body?: unknown
    readonly contentType?: string
    readonly timeoutMillis?: number
  }) => Effect.Effect<KubeResponse, KubeTransportError>
  /** The lines of a streaming GET; a non-2xx answer fails with its status and body. */
  readonly stream: (path: string) => Stream.Stream<string, KubeTransportError | KubeResponseError>
}

export class KubeResponseError extends Data.TaggedError("KubeResponseError")<{ readonly response: KubeResponse }> {}

const keepAliveMillis = 30_000

/** One keep-alive agent to the target's server and the requests and watches made through it. */
export const make = (target: KubeTarget, namespaceOverride?: string): KubeConnection => {
  const url = new URL(target.server)
  const secure = url.protocol === "https:"
  const tls = target.tls
  const agentOptions: https.AgentOptions = {
    keepAlive: true,
    keepAliveMsecs: keepAliveMillis,
    maxSockets: 64,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername })
  }
  const agent = secure
    ? new https.Agent(agentOptions)
    : new http.Agent({ keepAlive: true, keepAliveMsecs: keepAliveMillis })
  /** Sends a request and resolves with the response head; the body is the caller's to read. */
  const open = (
    method: string,
    path: string,
    body: string | undefined,
    extra: Record<string, string>,
    signal: AbortSignal,
    timeoutMillis?: number
  ): Promise<http.IncomingMessage> =>
    target.authHeaders().then(
      (auth) =>
        new Promise<http.IncomingMessage>((resolve, reject) => {
          const target = new URL(path, url)
          const send = (secure ? https.request : http.request) as typeof http.request
          const req = send(
            {
              protocol: url.protocol,
              hostname: url.hostname,
              port: url.port,
              path: `${target.pathname}${target.search}`,
              method,
              agent,
              headers: { Accept: "application/json", ...auth, ...extra },
              signal,
              ...(timeoutMillis === undefined ? {} : { timeout: timeoutMillis })
            },
            (response) => {
              // after an abort Node destroys an unfinished response with an "aborted" error; the readers below
              // handle errors while they read, this keeps a late one from surfacing as uncaught
              response.on("error", () => undefined)
              resolve(response)
            }
          )
          req.on("socket", (socket) => socket.setKeepAlive(true, keepAliveMillis))
          // Node's `destroy` takes an Error: it rejects below and becomes a KubeTransportError where this is wrapped
          req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMillis} ms`)))
          req.on("error", reject)
          req.end(body)
        })
    )

  const readAll = (response: http.IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
      response.on("error", reject)
    })

  const request: KubeConnection["request"] = (options) =>
    Effect.tryPromise({
      try: async (signal) => {
        const body = options.body === undefined ? undefined : JSON.stringify(options.body)
        const extra: Record<string, string> =
          body === undefined
            ? {}
            : {
                "Content-Type": options.contentType ?? "application/json",
                "Content-Length": String(Buffer.byteLength(body))
              }
        const response = await open(options.method, options.path, body, extra, signal, options.timeoutMillis ?? 30_000)
        const retryAfter = retryAfterSeconds(response.headers["retry-after"], Date.now())
        return {
          status: response.statusCode ?? 0,
          body: await readAll(response),
          ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter })
        }
      },
      catch: (cause) =>
        new KubeTransportError({ detail: cause instanceof Error ? cause.message : String(cause), cause })
    })

  const stream: KubeConnection["stream"] = (path) =>
    Stream.asyncScoped<string, KubeTransportError | KubeResponseError>((emit) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const controller = new AbortController()
          open("GET", path, undefined, {}, controller.signal).then(
            (response) => {
              const status = response.statusCode ?? 0
              if (status < 200 || status >= 300) {
                readAll(response).then(
                  (body) => void emit.fail(new KubeResponseError({ response: { status, body } })),
                  (cause: unknown) => void emit.fail(new KubeTransportError({ detail: String(cause), cause }))
                )
                return
              }
              const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY })
              lines.on("line", (line) => {
                if (line.trim() !== "") void emit.single(line)
              })
              lines.on("close", () => void emit.end())
              lines.on("error", (cause) => void emit.fail(new KubeTransportError({ detail: cause.message, cause })))
              response.on("error", (cause) => void emit.fail(new KubeTransportError({ detail: cause.message, cause })))
            },
            (cause: unknown) =>
              void emit.fail(
                new KubeTransportError({ detail: cause instanceof Error ? cause.message : String(cause), cause })
              )
          )
          return controller
        }),
        (controller) => Effect.sync(() => controller.abort())
      )
    )

  return { server: target.server, namespace: namespaceOverride ?? target.namespace, request, stream }
}
