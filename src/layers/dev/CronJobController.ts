/**
 * The CronJob controller of the fake cluster, as kube-controller-manager's, for `the0-runtime dev`: each CronJob
 * makes a Job from its template at every time its schedule matches (5 fields or a descriptor such as `@hourly`,
 * in `spec.timeZone` or UTC), named `<cronjob>-<scheduled time in minutes>` and owned by the CronJob;
 * `suspend` skips runs, `concurrencyPolicy: Forbid` skips a run while a Job is still active, `Replace` deletes the
 * active ones first; finished Jobs beyond `successfulJobsHistoryLimit` (default 3) and `failedJobsHistoryLimit`
 * (default 1) are deleted with their Pods. Times come from the Effect Clock, so TestClock drives it in tests.
 */
import { Clock, Cron, Data, Effect, Either, FiberMap, Layer, Option, Stream } from "effect"
import { kubernetesDescriptor } from "../../domain/CronDescriptors.ts"
import { type CronJob, controllerReference, isOwnedBy, type Job } from "../../domain/Kube.ts"
import type { KubeApiService } from "../../services/KubeApi.ts"
import { MemoryCluster } from "../memory/MemoryKubeApi.ts"

/** A CronJob's schedule that a CronJob does not accept. */
export class InvalidSchedule extends Data.TaggedError("InvalidSchedule")<{ readonly message: string }> {}

/** The schedule as an Effect `Cron`, or why it is not one a CronJob accepts. */
export const parseSchedule = (
  schedule: string,
  timeZone: string | undefined
): Either.Either<Cron.Cron, InvalidSchedule> => {
  const invalid = (message: string) => Either.left(new InvalidSchedule({ message }))
  const trimmed = schedule.trim()
  const expression = trimmed.startsWith("@") ? kubernetesDescriptor(trimmed) : trimmed
  if (expression === undefined) return invalid(`unrecognized descriptor ${JSON.stringify(trimmed)}`)
  const fields = expression.split(/\s+/).filter((f) => f !== "")
  if (fields.length !== 5) return invalid(`expected 5 fields, found ${fields.length}`)
  return Either.mapLeft(
    Cron.parse(expression, timeZone ?? "UTC"),
    (error) => new InvalidSchedule({ message: error.message })
  )
}

const finished = (job: Job): "Complete" | "Failed" | undefined => {
  for (const c of job.status?.conditions ?? [])
    if ((c.type === "Complete" || c.type === "Failed") && c.status === "True") return c.type
  return undefined
}

const finishTime = (job: Job): string => job.status?.completionTime ?? job.metadata.creationTimestamp ?? ""

export const run = (namespace: string) =>
  Effect.gen(function* () {
    const api: KubeApiService = (yield* MemoryCluster).direct
    const loops = yield* FiberMap.make<string>()
    const seen = new Map<string, string>()

    const jobsOf = (uid: string) =>
      Effect.map(api.list("Job", namespace), (list) => list.items.filter((job) => isOwnedBy(job, uid)))

    const jobFor = (cronJob: CronJob, scheduled: number): Job => ({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: `${cronJob.metadata.name}-${Math.floor(scheduled / 60_000)}`,
        namespace,
        labels: { ...cronJob.spec.jobTemplate.metadata?.labels },
        annotations: {
          ...cronJob.spec.jobTemplate.metadata?.annotations,
          "batch.kubernetes.io/cronjob-scheduled-timestamp": new Date(scheduled).toISOString()
        },
        ownerReferences: [controllerReference("batch/v1", "CronJob", cronJob.metadata)]
      },
      spec: cronJob.spec.jobTemplate.spec
    })

    /** One scheduled run of the CronJob named `name` (if it is still the one with `uid`). */
    const fire = (name: string, uid: string, scheduled: number) =>
      Effect.gen(function* () {
        const cronJob = yield* api.get("CronJob", namespace, name)
        if (cronJob.metadata.uid !== uid || cronJob.metadata.deletionTimestamp !== undefined) return
        if (cronJob.spec.suspend === true) return
        const active = (yield* jobsOf(uid)).filter((job) => finished(job) === undefined)
        const policy = cronJob.spec.concurrencyPolicy ?? "Allow"
        if (policy === "Forbid" && active.length > 0) {
          yield* Effect.logInfo(`dev CronJob ${name}: run skipped, ${active.length} Job(s) still active (Forbid)`)
          return
        }
        if (policy === "Replace")
          yield* Effect.forEach(
            active,
            (job) =>
              api.delete("Job", namespace, job.metadata.name, { propagationPolicy: "Background" }).pipe(Effect.ignore),
            { discard: true }
          )
        const job = yield* api
          .create("Job", namespace, jobFor(cronJob, scheduled))
          .pipe(Effect.catchTag("KubeAlreadyExists", () => Effect.succeed(undefined)))
        if (job === undefined) return
        yield* api.patchStatus("CronJob", namespace, name, {
          lastScheduleTime: new Date(scheduled).toISOString(),
          active: [...active, job]
            .filter((j) => policy !== "Replace" || j === job)
            .map((j) => ({ name: j.metadata.name, namespace, ...(j.metadata.uid ? { uid: j.metadata.uid } : {}) }))
        })
      })

    /** Sleeps until each next matching time and fires, for as long as the CronJob keeps this spec. */
    const loop = (cronJob: CronJob) =>
      Effect.gen(function* () {
        const name = cronJob.metadata.name
        const uid = cronJob.metadata.uid ?? ""
        const parsed = parseSchedule(cronJob.spec.schedule, cronJob.spec.timeZone)
        if (Either.isLeft(parsed)) {
          yield* Effect.logWarning(
            `dev CronJob ${name}: invalid schedule ${JSON.stringify(cronJob.spec.schedule)}: ${parsed.left.message}`
          )
          return
        }
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const next = Cron.next(parsed.right, new Date(now)).getTime()
          yield* Effect.sleep(Math.max(0, next - now))
          yield* fire(name, uid, next).pipe(
            Effect.catchAll((error) => Effect.logWarning(`dev CronJob ${name}: run failed: ${error.message}`))
          )
        }
      })

    /** Deletes the finished Jobs of a CronJob beyond its history limits, oldest first; records the last success. */
    const cleanup = (job: Job) =>
      Effect.gen(function* () {
        const owner = (job.metadata.ownerReferences ?? []).find((o) => o.kind === "CronJob")
        if (owner === undefined) return
        const cronJob = yield* api.get("CronJob", namespace, owner.name)
        if (cronJob.metadata.uid !== owner.uid) return
        const jobs = yield* jobsOf(owner.uid)
        const byEnd = (a: Job, b: Job) => (finishTime(a) < finishTime(b) ? -1 : finishTime(a) > finishTime(b) ? 1 : 0)
        const succeeded = jobs.filter((j) => finished(j) === "Complete").sort(byEnd)
        const failed = jobs.filter((j) => finished(j) === "Failed").sort(byEnd)
        const excess = [
          ...succeeded.slice(0, Math.max(0, succeeded.length - (cronJob.spec.successfulJobsHistoryLimit ?? 3))),
          ...failed.slice(0, Math.max(0, failed.length - (cronJob.spec.failedJobsHistoryLimit ?? 1)))
        ]
        yield* Effect.forEach(
          excess,
          (j) => api.delete("Job", namespace, j.metadata.name, { propagationPolicy: "Background" }).pipe(Effect.ignore),
          { discard: true }
        )
        const lastSuccess = succeeded[succeeded.length - 1]
        const active = jobs.filter((j) => finished(j) === undefined)
        yield* api.patchStatus("CronJob", namespace, owner.name, {
          active: active.map((j) => ({
            name: j.metadata.name,
            namespace,
            ...(j.metadata.uid ? { uid: j.metadata.uid } : {})
          })),
          ...(lastSuccess === undefined ? {} : { lastSuccessfulTime: finishTime(lastSuccess) })
        })
      }).pipe(Effect.catchTag("KubeNotFound", () => Effect.void))

    const cronJobs = api.watch("CronJob", namespace, { resourceVersion: "0" }).pipe(
      Stream.runForEach((event) => {
        if (event.type === "BOOKMARK") return Effect.void
        const cronJob = event.object
        const uid = cronJob.metadata.uid ?? ""
        if (event.type === "DELETED" || cronJob.metadata.deletionTimestamp !== undefined) {
          seen.delete(uid)
          return FiberMap.remove(loops, uid)
        }
        const key = JSON.stringify([cronJob.spec.schedule, cronJob.spec.timeZone ?? ""])
        if (seen.get(uid) === key) return Effect.void
        seen.set(uid, key)
        return FiberMap.run(loops, uid, loop(cronJob)).pipe(Effect.asVoid)
      })
    )
    const jobs = api.watch("Job", namespace, { resourceVersion: "0" }).pipe(
      Stream.filterMap((event) =>
        event.type === "MODIFIED" && finished(event.object) !== undefined ? Option.some(event.object) : Option.none()
      ),
      Stream.runForEach((job) => cleanup(job).pipe(Effect.ignore))
    )
    yield* Effect.forkScoped(cronJobs)
    yield* Effect.forkScoped(jobs)
  })

/** Runs the CronJob controller for `namespace` while the layer is alive. */
export const layer = (namespace = "the0"): Layer.Layer<never, never, MemoryCluster> =>
  Layer.scopedDiscard(run(namespace))
