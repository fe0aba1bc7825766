/**
 * The ephemeral query (docs/contracts.md, "Query Job", "Scheduled queries"), for scheduled bots and realtime bots without a ready Pod: a
 * one-shot Job runs the query entrypoint, which uploads `/query/result.json` to `query-results/<resultKey>`.
 *
 * Unlike the0: the result key cannot collide (`<botId>/<nanos>-<random>/result.json`); completion is seen through
 * a watch on the Job from the resourceVersion its creation returned (no 500 ms polling); the Job is deleted (with
 * its Pod) as soon as the answer is in, and on timeout, failure or interruption too, so the TTL is only a
 * backstop; the result object is removed on every path, and once more after an unfinished Job's Pod is gone, so
 * an upload racing the deletion cannot leave one behind. A Job that fails leaves a `QueryJobFailed` Event
 * (QueryEvents.ts). The whole query is a `query.job` span; the Job's create and delete are spans in it when the
 * KubeApi makes them (docs/operations.md, "Tracing").
 */
import { randomBytes } from "node:crypto"
import { Clock, Duration, Effect, Either, FiberSet, Option, Ref, Schedule, Stream } from "effect"
import type { Bot, JsonObject } from "../../domain/Bot.ts"
import { Bucket, queryResultKey } from "../../domain/Buckets.ts"
import type { Job } from "../../domain/Kube.ts"
import type { KubeApiError, KubeApiService } from "../../services/KubeApi.ts"
import type { ObjectStoreService } from "../../services/ObjectStore.ts"
import type { EventRecorder } from "../controller/EventRecorder.ts"
import { ContainerName } from "../manifests/PodParts.ts"
import { queryJob } from "../manifests/QueryJob.ts"
import * as Tracing from "../Tracing.ts"
import { queryJobFailed } from "./QueryEvents.ts"
import type { QueryMetrics } from "./QueryMetrics.ts"
import { failed, parseQueryOutput, type QueryOutput } from "./QueryOutput.ts"
import type { QuerySettings } from "./QuerySettings.ts"

export interface EphemeralQueryDeps {
  readonly api: KubeApiService
  readonly objects: ObjectStoreService
  readonly settings: QuerySettings
  readonly metrics: QueryMetrics
  /** Where cleanups that outlive the request run (the late result sweep); owned by the server's scope. */
  readonly background: FiberSet.FiberSet
  /** Where the Event of a failed Job is recorded. */
  readonly events: EventRecorder
}

export interface EphemeralQuery {
  readonly doc: Bot
  /** Normalised, starting with `/`. */
  readonly path: string
  readonly params: JsonObject | undefined
  readonly timeout: Duration.Duration
}

/** The label the Job controller puts on a Job's Pods. */
export const jobNameLabel = "job-name"

type Outcome = "succeeded" | "failed" | "deleted"

const outcomeOf = (job: Job): Outcome | undefined => {
  const conditions = job.status?.conditions ?? []
  const holds = (type: string) => conditions.some((c) => c.type === type && c.status === "True")
  if ((job.status?.succeeded ?? 0) > 0 || holds("Complete")) return "succeeded"
  if ((job.status?.failed ?? 0) > 0 || holds("Failed")) return "failed"
  return undefined
}

const selectorOf = (job: Job): string =>
  Object.entries(job.metadata.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",")

/** A fresh, unguessable token: 16 lower-case hex characters. */
const randomToken = (): string => randomBytes(8).toString("hex")

/**
 * Waits, through watches, until the Job has an outcome. A watch that ends is resumed from the last
 * resourceVersion it delivered; on 410 or a failed watch the Job is read again (it may have finished in between)
 * and watched from its current version.
 */
const awaitOutcome = (api: KubeApiService, namespace: string, created: Job): Effect.Effect<Outcome, KubeApiError> => {
  const name = created.metadata.name
  const selector = selectorOf(created)
  const watchFrom = (from: string): Effect.Effect<Option.Option<Outcome> | { readonly resume: string }, KubeApiError> =>
    Effect.gen(function* () {
      const last = yield* Ref.make(from)
      const found = yield* api.watch("Job", namespace, { resourceVersion: from, labelSelector: selector }).pipe(
        Stream.tap((event) =>
          event.type === "BOOKMARK"
            ? Ref.set(last, event.resourceVersion)
            : Ref.set(last, event.object.metadata.resourceVersion ?? from)
        ),
        Stream.filterMap((event): Option.Option<Outcome> => {
          if (event.type === "BOOKMARK" || event.object.metadata.name !== name) return Option.none()
          if (event.type === "DELETED") return Option.some("deleted")
          return Option.fromNullable(outcomeOf(event.object))
        }),
        Stream.runHead
      )
      return Option.isSome(found) ? found : { resume: yield* Ref.get(last) }
    })
  /** Right: still running, watch from this resourceVersion; Left: the outcome. */
  const reread: Effect.Effect<Either.Either<string, Outcome>, KubeApiError> = api.get("Job", namespace, name).pipe(
    Effect.map((job) => {
      const outcome = outcomeOf(job)
      return outcome === undefined ? Either.right(job.metadata.resourceVersion ?? "") : Either.left(outcome)
    }),
    Effect.catchTag("KubeNotFound", () => Effect.succeed(Either.left<Outcome>("deleted")))
  )
  const loop = (from: string): Effect.Effect<Outcome, KubeApiError> =>
    watchFrom(from).pipe(
      Effect.flatMap((result) =>
        Option.isOption(result)
          ? Option.match(result, {
              onSome: Effect.succeed,
              onNone: () => Effect.flatMap(reread, Either.match({ onLeft: Effect.succeed, onRight: loop }))
            })
          : loop(result.resume)
      ),
      Effect.catchAll((error) =>
        (error._tag === "KubeGone" ? reread : Effect.zipRight(Effect.sleep("1 second"), reread)).pipe(
          Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.upTo("10 seconds"))),
          Effect.flatMap(Either.match({ onLeft: Effect.succeed, onRight: loop }))
        )
      )
    )
  return loop(created.metadata.resourceVersion ?? "0")
}

/** Runs one ephemeral query Job and returns the bot's answer or the0's error messages; never fails. */
export const run = (deps: EphemeralQueryDeps, query: EphemeralQuery): Effect.Effect<QueryOutput> =>
  Effect.gen(function* () {
    const { api, objects, settings, metrics } = deps
    const namespace = settings.manifest.namespace
    const nanos = yield* Clock.currentTimeNanos
    const token = randomToken()
    const resultKey = queryResultKey(query.doc.id, nanos, token)
    const built = queryJob(settings.manifest, query.doc, {
      queryPath: query.path,
      params: query.params,
      resultKey,
      suffix: `${nanos}-${token.slice(0, 6)}`,
      timeoutSec: Duration.toSeconds(query.timeout)
    })
    if (Either.isLeft(built)) return failed(`failed to generate query pod spec: ${built.left.message}`)
    const job = built.right
    const jobName = job.metadata.name
    const cleanupTimeout = Duration.seconds(settings.cleanupTimeoutSec)

    const removeResult = objects.remove(Bucket.queryResults, resultKey).pipe(
      Effect.timeout(cleanupTimeout),
      Effect.tap(() => Effect.sync(() => metrics.resultsCleaned.inc({ outcome: "removed" }))),
      Effect.catchAll((error) =>
        error._tag === "NoSuchBucket"
          ? Effect.void
          : Effect.sync(() => metrics.resultsCleaned.inc({ outcome: "failed" })).pipe(
              Effect.zipRight(Effect.logWarning(`query ${jobName}: removing result ${resultKey}: ${error.message}`))
            )
      )
    )
    const deleteJob = (propagationPolicy: "Background" | "Foreground") =>
      api.delete("Job", namespace, jobName, { propagationPolicy }).pipe(
        Effect.timeout(cleanupTimeout),
        Effect.tap(() => Effect.sync(() => metrics.jobsCleaned.inc({ outcome: "deleted" }))),
        Effect.catchAll((error) =>
          error._tag === "KubeNotFound"
            ? Effect.sync(() => metrics.jobsCleaned.inc({ outcome: "gone" }))
            : Effect.sync(() => metrics.jobsCleaned.inc({ outcome: "failed" })).pipe(
                Effect.zipRight(
                  Effect.logWarning(`query ${jobName}: deleting Job (its TTL will remove it): ${error.message}`)
                )
              )
        )
      )
    /** After an unfinished Job: wait (bounded) until the Job and its Pod are gone, then remove the result again. */
    const lateSweep = api.get("Job", namespace, jobName).pipe(
      Effect.flatMap((current) =>
        api
          .watch("Job", namespace, {
            resourceVersion: current.metadata.resourceVersion ?? "0",
            labelSelector: selectorOf(job)
          })
          .pipe(
            Stream.filter((e) => e.type === "DELETED" && e.object.metadata.name === jobName),
            Stream.runHead
          )
      ),
      Effect.catchTag("KubeNotFound", () => Effect.void),
      Effect.timeout(Duration.sum(Duration.seconds(settings.manifest.terminationGracePeriodSeconds), "60 seconds")),
      Effect.ignore,
      Effect.ensuring(removeResult)
    )

    const finished = yield* Ref.make(false)
    const cleanup = Effect.gen(function* () {
      const done = yield* Ref.get(finished)
      yield* Effect.all([deleteJob(done ? "Background" : "Foreground"), removeResult], {
        concurrency: "unbounded",
        discard: true
      })
      if (!done) yield* FiberSet.run(deps.background, lateSweep)
    })

    const podLogs = api.list("Pod", namespace, { labelSelector: `${jobNameLabel}=${jobName}` }).pipe(
      Effect.flatMap((pods) => {
        const pod = pods.items[0]
        if (pod === undefined) return Effect.succeed("<no pod found for the query job>")
        return api.podLogs(namespace, pod.metadata.name, {
          container: ContainerName.bot,
          tailLines: settings.failureLogTailLines
        })
      }),
      Effect.timeout(cleanupTimeout),
      Effect.catchAll((error) => Effect.succeed(`<logs unavailable: ${error.message}>`))
    )

    const download = objects.get(Bucket.queryResults, resultKey).pipe(
      Effect.filterOrFail(
        (bytes) => bytes.length <= settings.maxResultBytes,
        () => new Error(`result larger than ${settings.maxResultBytes} bytes`)
      )
    )

    const execute = Effect.gen(function* () {
      const created = yield* api
        .create("Job", namespace, job)
        .pipe(Effect.mapError((error) => failed(`failed to create query job: ${error.message}`)))
      yield* Effect.addFinalizer(() => cleanup)
      const outcome = yield* awaitOutcome(api, namespace, created).pipe(
        Effect.mapError((error) => failed(`query job failed: failed to get job status: ${error.message}`)),
        Effect.timeoutFail({
          duration: query.timeout,
          onTimeout: () => failed("query job failed: context deadline exceeded")
        })
      )
      if (outcome === "deleted") return failed("query job failed: job was deleted before it finished")
      yield* Ref.set(finished, true)
      if (outcome === "succeeded") {
        const bytes = yield* Effect.either(download)
        if (Either.isRight(bytes)) return parseQueryOutput(bytes.right)
        const logs = yield* podLogs
        return failed(`query job failed: failed to download result from MinIO: ${bytes.left.message}\nLogs: ${logs}`)
      }
      const logs = yield* podLogs
      const written = yield* Effect.option(download)
      const botError = Option.flatMap(written, (bytes) => Option.fromNullable(parseQueryOutput(bytes).error))
      const output = Option.match(botError, {
        onNone: () => failed(`query job failed: job failed: ${logs}`),
        onSome: (error) => failed(`query job failed: job failed: ${error}\nLogs: ${logs}`)
      })
      yield* deps.events.record(
        queryJobFailed(
          { namespace, name: jobName, uid: created.metadata.uid },
          query.doc.id,
          output.error ?? "job failed"
        )
      )
      return output
    })
    return yield* execute.pipe(
      Effect.merge,
      Effect.scoped,
      Effect.tap((output) => Tracing.annotate({ "query.status": output.status }))
    )
  }).pipe(Tracing.span("query.job", { attributes: { "bot.id": query.doc.id } }))
