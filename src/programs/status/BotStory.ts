/**
 * `the0-runtime status --bot ID` (docs/operations.md, "`the0-runtime status`"): one bot's story, its document as
 * stored whatever its `enabled`, its status, every Pod it has, and the last line it logged.
 */
import { Either } from "effect"
import type { Bot } from "../../domain/Bot.ts"
import type { DocumentDecodeError } from "../../domain/DocumentDecodeError.ts"
import type { Pod } from "../../domain/Kube.ts"
import { type BotStatus, botStatus, invalidBotStatus } from "./BotStatus.ts"
import { type PodView, podView } from "./PodView.ts"

export interface BotStory {
  readonly id: string
  readonly document?: {
    readonly enabled: boolean
    readonly name?: string
    readonly version?: string
    readonly runtime?: string
    readonly type?: string
    readonly filePath?: string
  }
  /** Why the document cannot be read, when it cannot. */
  readonly documentProblem?: string
  readonly status: BotStatus
  /** Newest first. */
  readonly pods: ReadonlyArray<PodView>
  readonly lastLogLine?: string
}

export interface BotStoryInput {
  readonly id: string
  /** The document whatever its `enabled`; absent when there is none. */
  readonly document: Either.Either<Bot, DocumentDecodeError> | undefined
  readonly pods: ReadonlyArray<Pod>
  readonly lastLogLine?: string
}

/** A disabled document counts as none for the status, whose reasons then say so. */
export const botStory = (input: BotStoryInput): BotStory => {
  const document = input.document !== undefined && Either.isRight(input.document) ? input.document.right : undefined
  const enabled = document !== undefined && document.config?.enabled !== false
  const problem =
    input.document !== undefined && Either.isLeft(input.document) ? input.document.left.message : undefined
  const status =
    problem === undefined
      ? botStatus(input.id, enabled ? document : undefined, input.pods)
      : invalidBotStatus(input.id, input.pods, problem)
  const custom = document?.custom
  const pods = [...input.pods]
    .sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""))
    .map(podView)
  return {
    id: input.id,
    ...(document === undefined
      ? {}
      : {
          document: {
            enabled,
            ...(custom?.config?.name === undefined ? {} : { name: custom.config.name }),
            ...(custom?.version === undefined ? {} : { version: custom.version }),
            ...(custom?.config?.runtime === undefined ? {} : { runtime: custom.config.runtime }),
            ...(custom?.config?.type === undefined ? {} : { type: custom.config.type }),
            ...(custom?.filePath === undefined ? {} : { filePath: custom.filePath })
          }
        }),
    ...(problem === undefined ? {} : { documentProblem: problem }),
    status:
      document === undefined && problem === undefined && input.pods.length === 0
        ? { ...status, reasons: ["no document and no Pod"] }
        : !enabled && document !== undefined
          ? { ...status, reasons: ["document disabled (config.enabled is false): no Pod should run"] }
          : status,
    pods,
    ...(input.lastLogLine === undefined ? {} : { lastLogLine: input.lastLogLine })
  }
}
