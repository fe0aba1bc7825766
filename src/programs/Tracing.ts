/**
 * Traces (docs/operations.md, "Tracing"): with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans of the controller
 * process are exported over OTLP/HTTP (JSON, to `<endpoint>/v1/traces`, or to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * as it is when that is set, as the OpenTelemetry SDKs do) by @effect/opentelemetry's own exporter
 * (no OpenTelemetry SDK), under the service name `OTEL_SERVICE_NAME` (default `the0-runtime`), and every log line
 * written inside a span carries its `traceId` and `spanId`. Without it the tracer is switched off: `span` and
 * `annotate` then leave the effect as it is (not even Effect's no-op span is made), nothing is exported and the log
 * lines are unchanged.
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import {
  Config,
  type ConfigError,
  Context,
  type Duration,
  Effect,
  FiberRef,
  FiberRefs,
  HashMap,
  HashSet,
  Layer,
  Logger,
  Option,
  Tracer
} from "effect"

export interface TracingSettings {
  /** Where the spans are POSTed. */
  readonly url: string
  readonly serviceName: string
  /** How often the buffered spans are sent (the exporter's default: 5 s). */
  readonly exportInterval?: Duration.DurationInput
}

export const defaultServiceName = "the0-runtime"

/** Where the spans go for an OTLP/HTTP endpoint: its `/v1/traces`, as the OpenTelemetry SDKs derive it. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/v1/traces`

/**
 * The settings from the environment: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else
 * `OTEL_EXPORTER_OTLP_ENDPOINT`'s `/v1/traces`; none when both are unset or empty.
 */
export const settingsFromEnv: Config.Config<Option.Option<TracingSettings>> = Config.all({
  traces: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
  endpoint: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")),
  serviceName: Config.nonEmptyString("OTEL_SERVICE_NAME").pipe(Config.withDefault(defaultServiceName))
}).pipe(
  Config.map(({ traces, endpoint, serviceName }) =>
    Option.map(
      Option.orElse(traces, () => Option.map(endpoint, tracesUrl)),
      (url): TracingSettings => ({ url, serviceName })
    )
  )
)

/**
 * True while spans are exported. Code with a path cheaper than an effect (the QueryServer's realtime callbacks)
 * takes it only when this is false.
 */
export const exporting: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false)

const currentSpan = (refs: FiberRefs.FiberRefs): Option.Option<Tracer.AnySpan> =>
  Context.getOption(FiberRefs.getOrDefault(refs, FiberRef.currentContext), Tracer.ParentSpan)

/** `logger` with the `traceId` and `spanId` of the span the line is written in, as annotations. */
export const withTraceIds = <M, O>(logger: Logger.Logger<M, O>): Logger.Logger<M, O> =>
  Logger.mapInputOptions(logger, (options) => {
    const span = currentSpan(options.context)
    if (Option.isNone(span)) return options
    return {
      ...options,
      annotations: options.annotations.pipe(
        HashMap.set("traceId", span.value.traceId as unknown),
        HashMap.set("spanId", span.value.spanId as unknown)
      )
    }
  })

/** Every logger in place gets the ids. */
const logsWithTraceIds: Layer.Layer<never> = Layer.scopedDiscard(
  Effect.locallyScopedWith(FiberRef.currentLoggers, HashSet.map(withTraceIds))
)

/** Spans exported to `settings.endpoint`; the spans still buffered are sent when the layer's scope closes. */
export const layerOtlp = (settings: TracingSettings): Layer.Layer<never> =>
  Layer.mergeAll(
    OtlpTracer.layer({
      url: settings.url,
      resource: { serviceName: settings.serviceName },
      ...(settings.exportInterval === undefined ? {} : { exportInterval: settings.exportInterval })
    }).pipe(Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson])),
    logsWithTraceIds,
    Layer.locallyScoped(exporting, true)
  )

/**
 * `Effect.withSpan` while the tracer is on; while it is off, `self` as it is: no span object, no context change,
 * one fiber-ref read.
 */
export const span =
  (name: string, options: Tracer.SpanOptions = {}) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(FiberRef.get(FiberRef.currentTracerEnabled), (enabled) =>
      enabled ? Effect.withSpan(self, name, { captureStackTrace: false, ...options }) : self
    )

/** Attributes of the current span; nothing while the tracer is off. */
export const annotate = (values: Record<string, unknown>): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(FiberRef.currentTracerEnabled), (enabled) =>
    enabled ? Effect.annotateCurrentSpan(values) : Effect.void
  )

/** No tracer: `span` and `annotate` do nothing, and others' spans are Effect's no-op span. */
export const layerOff: Layer.Layer<never> = Layer.setTracerEnabled(false)

/** Tracing as the environment says (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`). */
export const layer: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(
    settingsFromEnv,
    Option.match({
      onNone: () => layerOff,
      onSome: (settings) =>
        Layer.merge(
          layerOtlp(settings),
          Layer.effectDiscard(Effect.logInfo(`exporting traces to ${settings.url} as ${settings.serviceName}`))
        )
    })
  )
)
