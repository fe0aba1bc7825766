/**
 * An OTLP/HTTP receiver on loopback for tests: it keeps every span POSTed to `/v1/traces` (OTLP JSON), with the
 * service name of its resource.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

interface OtlpValue {
  readonly stringValue?: string
  readonly intValue?: string | number
  readonly boolValue?: boolean
  readonly doubleValue?: number
}

export interface ReceivedSpan {
  readonly service: string
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  /** Empty for a root span. */
  readonly parentSpanId: string
  readonly attributes: Readonly<Record<string, string | number | boolean | undefined>>
}

export interface OtlpSink {
  /** The endpoint to give the exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly endpoint: string
  readonly spans: ReadonlyArray<ReceivedSpan>
  /** Requests received, with their path and content type. */
  readonly requests: ReadonlyArray<{ readonly path: string; readonly contentType: string }>
}

interface TracesBody {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: OtlpValue }> }
    readonly scopeSpans?: ReadonlyArray<{
      readonly spans?: ReadonlyArray<{
        readonly name: string
        readonly traceId: string
        readonly spanId: string
        readonly parentSpanId?: string
        readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: OtlpValue }>
      }>
    }>
  }>
}

const attributeValue = (v: OtlpValue) =>
  v.stringValue ?? (v.intValue === undefined ? undefined : Number(v.intValue)) ?? v.boolValue ?? v.doubleValue

const decode = (body: TracesBody): Array<ReceivedSpan> =>
  (body.resourceSpans ?? []).flatMap((rs) => {
    const service = String(attributeValue(rs.resource?.attributes?.find((a) => a.key === "service.name")?.value ?? {}))
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((span) => ({
        service,
        name: span.name,
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? "",
        attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, attributeValue(a.value)]))
      }))
    )
  })

export const otlpSink: Effect.Effect<OtlpSink, never, Scope.Scope> = Effect.gen(function* () {
  const spans: Array<ReceivedSpan> = []
  const requests: Array<{ path: string; contentType: string }> = []
  const server = yield* Effect.acquireRelease(
    Effect.async<Server>((resume) => {
      const s = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          requests.push({ path: req.url ?? "", contentType: req.headers["content-type"] ?? "" })
          if (req.headers["content-type"] === "application/json")
            spans.push(...decode(JSON.parse(Buffer.concat(chunks).toString()) as TracesBody))
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{}")
        })
      })
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) =>
      Effect.async<void>((resume) => {
        s.closeAllConnections()
        s.close(() => resume(Effect.void))
      })
  )
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, requests }
})

/** The one span named `name` in `spans` that satisfies `where`. */
export const theSpan = (
  spans: ReadonlyArray<ReceivedSpan>,
  name: string,
  where: (span: ReceivedSpan) => boolean = () => true
): ReceivedSpan => {
  const found = spans.filter((s) => s.name === name && where(s))
  if (found.length !== 1)
    throw new Error(`expected one span ${name}, found ${found.length} among ${spans.map((s) => s.name).join(", ")}`)
  return found[0] as ReceivedSpan
}
