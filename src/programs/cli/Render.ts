/**
 * `the0-runtime render pod|cronjob|query-job`: reads one bot or schedule document (JSON, Mongo shape) on stdin
 * and prints exactly the object the controller would create, like `kubectl create --dry-run -o yaml`. Invalid
 * input exits with code 2 and a message naming the field.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Data, Effect, Either, Option } from "effect"
import { stringify } from "yaml"
import { decodeBot, decodeBotSchedule } from "../../domain/Bot.ts"
import { queryResultKey } from "../../domain/Buckets.ts"
import { defaultQueryTimeoutSec, normaliseQueryPath } from "../../domain/Query.ts"
import { botPods, scheduleCronJobs } from "../controller/OwnedKinds.ts"
import type { ManifestSettings } from "../manifests/ManifestSettings.ts"
import { queryJob } from "../manifests/QueryJob.ts"
import { manifestOptions } from "./SettingsOptions.ts"

/** Input that cannot be rendered; the CLI exits with code 2. */
export class RenderInputError extends Data.TaggedError("RenderInputError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export type Target = "pod" | "cronjob" | "query-job"

export interface RenderRequest {
  readonly target: Target
  readonly settings: ManifestSettings
  readonly input: string
  readonly queryPath: string
  readonly params: string | undefined
  /** Unique part of the query Job name and result key; the QueryServer makes one per request. */
  readonly suffix: string
  /** query-job: the query's timeout in seconds (its Job's deadline is this plus a margin). */
  readonly timeoutSec?: number
}

const parseJson = (text: string, what: string): Either.Either<unknown, RenderInputError> =>
  Either.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) =>
      new RenderInputError({ detail: `${what}: invalid JSON: ${e instanceof Error ? e.message : String(e)}` })
  })

/** The object for the request, or the input error naming the field. */
export const render = (request: RenderRequest): Either.Either<object, RenderInputError> =>
  Either.gen(function* () {
    if (request.input.trim() === "")
      return yield* Either.left(new RenderInputError({ detail: "stdin: expected a bot document (JSON), got nothing" }))
    const raw = yield* parseJson(request.input, "stdin")
    const asInput = <A>(e: Either.Either<A, { readonly message: string }>) =>
      Either.mapLeft(e, (error) => new RenderInputError({ detail: error.message }))
    const built = (
      e: Either.Either<object, { readonly botId: string; readonly field: string; readonly message: string }>
    ) =>
      Either.mapLeft(
        e,
        (error) =>
          new RenderInputError({ detail: `bot ${JSON.stringify(error.botId)}: field ${error.field}: ${error.message}` })
      )
    switch (request.target) {
      case "pod":
        return yield* built(botPods.build(request.settings, yield* asInput(decodeBot(raw))))
      case "cronjob":
        return yield* built(scheduleCronJobs.build(request.settings, yield* asInput(decodeBotSchedule(raw))))
      case "query-job": {
        const doc = yield* asInput(decodeBot(raw))
        const params = request.params === undefined ? undefined : yield* parseJson(request.params, "--params")
        if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params)))
          return yield* Either.left(new RenderInputError({ detail: "--params: expected a JSON object" }))
        const [nanos, random] = request.suffix.split("-")
        return yield* built(
          queryJob(request.settings, doc, {
            queryPath: normaliseQueryPath(request.queryPath),
            ...(params === undefined ? {} : { params: params as Record<string, unknown> }),
            resultKey: queryResultKey(doc.id, BigInt(nanos ?? "0"), random ?? "render"),
            suffix: request.suffix,
            timeoutSec: request.timeoutSec ?? defaultQueryTimeoutSec
          })
        )
      }
    }
  })

const readStdin = Effect.tryPromise({
  try: async () => {
    const chunks: Array<Buffer> = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString("utf8")
  },
  catch: (e) => new RenderInputError({ detail: `stdin: ${String(e)}` })
})

const uniqueSuffix = Effect.sync(() => `${process.hrtime.bigint()}-${Math.random().toString(36).slice(2, 8)}`)

export const command = Command.make(
  "render",
  {
    target: Args.choice<Target>([
      ["pod", "pod"],
      ["cronjob", "cronjob"],
      ["query-job", "query-job"]
    ]).pipe(Args.withDescription("What to render: pod (realtime bot), cronjob (scheduled bot) or query-job")),
    format: Options.choice("format", ["yaml", "json"]).pipe(
      Options.withDefault("yaml" as const),
      Options.withDescription("Output format")
    ),
    queryPath: Options.text("query-path").pipe(
      Options.withDefault("/"),
      Options.withDescription("query-job: the query path")
    ),
    params: Options.text("params").pipe(
      Options.optional,
      Options.withDescription("query-job: the query params, a JSON object")
    ),
    timeoutSec: Options.integer("timeout-sec").pipe(
      Options.withDefault(defaultQueryTimeoutSec),
      Options.withDescription("query-job: the query's timeout in seconds (the Job's deadline adds a margin)")
    ),
    settings: manifestOptions
  },
  ({ target, format, queryPath, params, timeoutSec, settings }) =>
    Effect.gen(function* () {
      const input = yield* readStdin
      const object = yield* render({
        target,
        settings,
        input,
        queryPath,
        params: Option.getOrUndefined(params),
        suffix: yield* uniqueSuffix,
        timeoutSec
      })
      yield* Console.log(format === "json" ? JSON.stringify(object, null, 2) : stringify(object).trimEnd())
    })
).pipe(Command.withDescription("Print the object the controller would create for a document read on stdin"))
