/**
 * What `the0-runtime status` reports (docs/operations.md, "`the0-runtime status`"), as a pure function of what it
 * read: the enabled documents, the controllers' Pods and CronJobs and the leader-election Lease, and where event
 * ingest stands. Each section is its own module: BotStatus, ScheduleStatus, LeaderStatus, IngestStatus, Rollout.
 */
import type { Either } from "effect"
import type { Bot, BotSchedule } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { CronJob, Lease, Pod } from "../../domain/Kube.ts"
import { type BotState, type BotStatus, botsSection } from "./BotStatus.ts"
import { type IngestReading, type IngestStatus, ingestStatus } from "./IngestStatus.ts"
import { type LeaderStatus, leaderStatus } from "./LeaderStatus.ts"
import { type RolloutStatus, rollout } from "./Rollout.ts"
import { type ScheduleState, type ScheduleStatus, schedulesSection } from "./ScheduleStatus.ts"
import type { Section } from "./Section.ts"

export interface StatusInput {
  /** Epoch millis of the reading. */
  readonly now: number
  readonly namespace: string
  readonly bots: ReadonlyArray<Either.Either<Bot, DocumentDecodeError>>
  readonly schedules: ReadonlyArray<Either.Either<BotSchedule, DocumentDecodeError>>
  /** The bot controller's Pods. */
  readonly pods: ReadonlyArray<Pod>
  /** The schedule controller's CronJobs. */
  readonly cronJobs: ReadonlyArray<CronJob>
  readonly lease: Lease | undefined
  /** Absent when NATS was not given. */
  readonly ingest?: IngestReading
}

export interface StatusReport {
  readonly at: string
  readonly namespace: string
  /** Absent: no Lease, no replica has ever led. */
  readonly leader?: LeaderStatus
  readonly ingest: IngestStatus
  readonly bots: Section<BotState, BotStatus>
  readonly schedules: Section<ScheduleState, ScheduleStatus>
  readonly rollout: RolloutStatus
}

export const report = (input: StatusInput): StatusReport => {
  const bots = botsSection(input.bots, input.pods)
  return {
    at: new Date(input.now).toISOString(),
    namespace: input.namespace,
    ...(input.lease === undefined ? {} : { leader: leaderStatus(input.lease, input.now) }),
    ingest: ingestStatus(input.ingest),
    bots,
    schedules: schedulesSection(input.schedules, input.cronJobs, input.now),
    rollout: rollout(bots.items, input.pods)
  }
}
