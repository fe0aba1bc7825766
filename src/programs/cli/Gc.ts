/**
 * `the0-runtime gc [--interval D] [--dry-run] [--allow-mass-delete] [--query-result-ttl D]`: the0's sweep of
 * orphaned objects, run by its Helm chart as a CronJob (docs/operations.md, "Garbage collection"). One sweep and
 * exit: 0 when it is done, 1 when a listing, the store read or a deletion failed, 3 when the rail kept the objects
 * of orphaned bots. With `--interval` above zero it sweeps on that period and serves `/healthz` on `--health-port`;
 * a failed sweep is then only logged.
 */
import { createServer } from "node:http"
import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Option, Schedule } from "effect"
import type { BotStore } from "../../services/BotStore.ts"
import type { ObjectStore } from "../../services/ObjectStore.ts"
import { type Deletion, defaults, type SweepReport, type SweepSettings, sweep } from "../gc/Sweep.ts"
import * as HealthServer from "../HealthServer.ts"
import { Metrics } from "../Metrics.ts"
import * as SlogLogger from "../runtime/SlogLogger.ts"
import { storageSettings } from "../runtime/StorageSettings.ts"
import { duration, flag, integer, parseDuration, text } from "./SettingsOptions.ts"

/** The backends of a sweep; a layer that cannot be built fails with an error that says why (its `message`). */
export type GcBackends = (mongoUri: string) => Layer.Layer<ObjectStore | BotStore, { readonly message: string }>

const options = {
  interval: text("interval", "GC_INTERVAL", "0", "Sweep on this period and keep running; 0: one sweep and exit").pipe(
    Options.mapEffect((value) =>
      /^0+(s|m|h|ms)?$/.test(value.trim())
        ? Effect.succeed(Duration.zero)
        : Option.match(parseDuration(value), {
            onNone: () =>
              Effect.fail(
                ValidationError.invalidValue(
                  HelpDoc.p(`--interval: ${JSON.stringify(value)} is not a duration (e.g. 5m, or 0 for one sweep)`)
                )
              ),
            onSome: Effect.succeed
          })
    )
  ),
  dryRun: flag("dry-run", "GC_DRY_RUN", "Print what would be deleted and delete nothing"),
  allowMassDelete: flag(
    "allow-mass-delete",
    "ALLOW_MASS_DELETE",
    "Delete the objects of orphaned bots even when the store holds no documents or more than max(10, 50%) of the bots with objects are orphaned"
  ),
  queryResultTtl: duration(
    "query-result-ttl",
    "QUERY_RESULT_TTL",
    "1h",
    "Query results older than this are deleted (the controller deletes its own at once)"
  ),
  healthPort: integer("health-port", "GC_HEALTH_PORT", 8084, "Port of /healthz and /readyz with --interval"),
  mongoUri: text("mongo-uri", "MONGO_URI", "mongodb://localhost:27017", "MongoDB connection string")
}

const describe = (d: Deletion): string =>
  d.uploadId === undefined
    ? `${d.bucket}/${d.key} (${d.reason}${d.botId === undefined ? "" : ` ${d.botId}`})`
    : `upload ${d.uploadId} of ${d.bucket}/${d.key} (${d.reason})`

const report = (r: SweepReport, dryRun: boolean) =>
  Effect.gen(function* () {
    for (const d of r.deletions) {
      if (dryRun) yield* Console.log(`would ${d.uploadId === undefined ? "delete" : "abort"} ${describe(d)}`)
      else yield* Effect.logInfo(`${d.uploadId === undefined ? "deleted" : "aborted"} ${describe(d)}`)
    }
    for (const f of r.failures) yield* Effect.logError(`could not remove ${describe(f.deletion)}: ${f.detail}`)
    if (r.refusal !== undefined) {
      yield* Effect.logError(`kept the objects of ${r.orphanedBots.length} orphaned bot(s): ${r.refusal}`)
    }
    const deleted = r.deletions.filter((d) => d.uploadId === undefined).length
    const orphaned = r.refusal === undefined ? r.orphanedBots.length : 0
    yield* Effect.logInfo(
      dryRun
        ? `GC dry run: ${orphaned} orphaned bot(s), ${deleted} objects would be deleted`
        : `GC sweep complete: ${orphaned} orphaned bot(s), ${deleted} objects deleted`
    )
  })

/** The exit code of one sweep's outcome. */
export const exitCode = (r: SweepReport): number => (r.failures.length > 0 ? 1 : r.refusal !== undefined ? 3 : 0)

export const command = (backends: GcBackends) =>
  Command.make("gc", options, (input) => {
    // the bucket names have defaults: a ConfigError here is a defect
    const settings = Effect.map(
      Effect.orDie(storageSettings),
      (buckets): SweepSettings => ({
        buckets: { state: buckets.stateBucket, logs: buckets.logsBucket, queryResults: buckets.queryResultsBucket },
        staleAfter: defaults.staleAfter,
        queryResultTtl: input.queryResultTtl,
        dryRun: input.dryRun,
        allowMassDelete: input.allowMassDelete
      })
    )
    const once = Effect.tap(Effect.flatMap(settings, sweep), (r) => report(r, input.dryRun))
    const run =
      Duration.toMillis(input.interval) === 0
        ? Effect.matchEffect(once, {
            onFailure: (error) =>
              Effect.logError(`GC sweep failed, nothing of any bot deleted: ${error.message}`).pipe(Effect.as(1)),
            onSuccess: (r) => Effect.succeed(exitCode(r))
          }).pipe(
            Effect.flatMap((code) =>
              Effect.sync(() => {
                process.exitCode = code
              })
            )
          )
        : Layer.launch(
            HttpServer.serve(HealthServer.router(Effect.succeed(true))).pipe(
              Layer.provide(NodeHttpServer.layer(createServer, { port: input.healthPort })),
              Layer.provide(Metrics.layer)
            )
          ).pipe(
            Effect.raceFirst(
              once.pipe(
                Effect.catchAll((error) => Effect.logError(`GC sweep failed: ${error.message}`)),
                Effect.repeat(Schedule.spaced(input.interval))
              )
            )
          )
    // logs go to stderr in a dry run, so that stdout holds only the plan
    const logger = SlogLogger.layer((line) => (input.dryRun ? process.stderr : process.stdout).write(line))
    return run.pipe(
      Effect.provide(backends(input.mongoUri)),
      Effect.catchAll((error) =>
        Effect.logError(`gc cannot start: ${error.message}`).pipe(
          Effect.andThen(
            Effect.sync(() => {
              process.exitCode = 1
            })
          )
        )
      ),
      Effect.provide(logger)
    )
  }).pipe(Command.withDescription("Delete the objects of deleted bots, stale temporary objects and old query results"))
