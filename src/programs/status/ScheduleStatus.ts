/**
 * The schedules section of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"): each schedule with
 * an enabled document or a CronJob of the schedule controller, its last and next run, and whether the last run
 * succeeded.
 */
import { Either } from "effect"
import type { BotSchedule } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { CronJob } from "../../domain/Kube.ts"
import { Label } from "../../domain/Labels.ts"
import { nextExecutionTime } from "../manifests/Cron.ts"
import { byLabel, documents, type Section, section } from "./Section.ts"

/**
 * - scheduled: the CronJob exists and its last run, if any, succeeded or still runs;
 * - failing: the last run did not succeed;
 * - suspended: the CronJob is suspended;
 * - no-cronjob: an enabled document without a CronJob;
 * - invalid: the document does not decode;
 * - orphaned: a CronJob whose schedule has no enabled document.
 */
export type ScheduleState = "scheduled" | "failing" | "suspended" | "no-cronjob" | "invalid" | "orphaned"

const scheduleStates: ReadonlyArray<ScheduleState> = [
  "scheduled",
  "failing",
  "suspended",
  "no-cronjob",
  "invalid",
  "orphaned"
]

export interface ScheduleStatus {
  readonly id: string
  readonly state: ScheduleState
  readonly reasons: ReadonlyArray<string>
  readonly cronJob?: string
  readonly schedule?: string
  readonly timeZone?: string
  readonly lastRun?: string
  readonly lastSuccess?: string
  readonly nextRun?: string
  readonly active: number
}

/** The last run ended (none active) without a success at or after it. */
const lastRunFailed = (cronJob: CronJob) => {
  const status = cronJob.status
  if (status?.lastScheduleTime === undefined || (status.active?.length ?? 0) > 0) return false
  return (
    status.lastSuccessfulTime === undefined ||
    Date.parse(status.lastSuccessfulTime) < Date.parse(status.lastScheduleTime)
  )
}

/** The next run after `now` in the CronJob's time zone, or why the expression has none. */
const nextRun = (cronJob: CronJob, now: number): Either.Either<string, string> => {
  const { schedule, timeZone } = cronJob.spec
  return nextExecutionTime(timeZone === undefined ? schedule : `CRON_TZ=${timeZone} ${schedule}`, new Date(now)).pipe(
    Either.map((seconds) => new Date(seconds * 1000).toISOString()),
    Either.mapLeft((error) => error.message)
  )
}

/** A schedule whose document is enabled (`known`) or not, from the first of its CronJobs. */
export const scheduleStatus = (
  id: string,
  known: boolean,
  cronJobs: ReadonlyArray<CronJob>,
  now: number
): ScheduleStatus => {
  const cronJob = cronJobs[0]
  if (cronJob === undefined) return { id, state: "no-cronjob", reasons: ["no CronJob"], active: 0 }
  const status = cronJob.status
  const next = cronJob.spec.suspend === true ? undefined : nextRun(cronJob, now)
  const base = {
    id,
    cronJob: cronJob.metadata.name,
    schedule: cronJob.spec.schedule,
    ...(cronJob.spec.timeZone === undefined ? {} : { timeZone: cronJob.spec.timeZone }),
    ...(status?.lastScheduleTime === undefined ? {} : { lastRun: status.lastScheduleTime }),
    ...(status?.lastSuccessfulTime === undefined ? {} : { lastSuccess: status.lastSuccessfulTime }),
    ...(next !== undefined && Either.isRight(next) ? { nextRun: next.right } : {}),
    active: status?.active?.length ?? 0
  }
  const unparsable = next !== undefined && Either.isLeft(next) ? [`next run unknown: ${next.left}`] : []
  if (!known) return { ...base, state: "orphaned", reasons: ["no enabled document: the controller deletes it"] }
  if (cronJob.spec.suspend === true) return { ...base, state: "suspended", reasons: ["CronJob suspended"] }
  if (lastRunFailed(cronJob))
    return {
      ...base,
      state: "failing",
      reasons: [`last run ${status?.lastScheduleTime} did not succeed`, ...unparsable]
    }
  return { ...base, state: "scheduled", reasons: unparsable }
}

/** Every id with a document or a CronJob; a document that does not decode (and none that does) makes it invalid. */
export const schedulesSection = (
  results: ReadonlyArray<Either.Either<BotSchedule, DocumentDecodeError>>,
  cronJobs: ReadonlyArray<CronJob>,
  now: number
): Section<ScheduleState, ScheduleStatus> => {
  const schedules = documents(results)
  const cronJobsOf = byLabel(cronJobs, Label.scheduleId)
  const ids = new Set([...schedules.decoded.keys(), ...schedules.invalid.keys(), ...cronJobsOf.keys()])
  return section(
    scheduleStates,
    schedules,
    [...ids].map((id): ScheduleStatus => {
      const status = scheduleStatus(
        id,
        schedules.decoded.has(id) || schedules.invalid.has(id),
        cronJobsOf.get(id) ?? [],
        now
      )
      const problem = schedules.decoded.has(id) ? undefined : schedules.invalid.get(id)
      return problem === undefined ? status : { ...status, state: "invalid", reasons: [problem] }
    })
  )
}
