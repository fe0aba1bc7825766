import { Schema } from "effect"
import { decodeDocument } from "./DocumentDecodeError.ts"

/** Free-form JSON object (user config, metadata). Unknown keys are kept as they are. */
export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type JsonObject = typeof JsonObject.Type

/** `custom.config`: the bundle's `bot-config.yaml` as the API stores it (docs/contracts.md, "Mongo documents"). */
export const CustomBotConfig = Schema.Struct({
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  runtime: Schema.optional(Schema.String),
  version: Schema.optional(Schema.String),
  author: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  entrypoints: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  schema: Schema.optional(Schema.Unknown),
  readme: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Unknown)
})
export type CustomBotConfig = typeof CustomBotConfig.Type

/** `custom`: the custom bot version the bot runs. */
export const CustomBotVersion = Schema.Struct({
  version: Schema.optional(Schema.String),
  filePath: Schema.optional(Schema.String),
  createdAt: Schema.optional(Schema.Unknown),
  updatedAt: Schema.optional(Schema.Unknown),
  config: Schema.optional(CustomBotConfig)
})
export type CustomBotVersion = typeof CustomBotVersion.Type

const botFields = {
  id: Schema.NonEmptyString,
  segment_id: Schema.optional(Schema.Number),
  config: Schema.optional(JsonObject),
  custom: Schema.optional(CustomBotVersion),
  enabled: Schema.optional(Schema.NullOr(Schema.Boolean))
}

/** A realtime bot document in `bot_runner.bots` (docs/contracts.md, "Mongo documents"). Unknown fields are preserved. */
export const Bot = Schema.Struct(botFields)
export type Bot = typeof Bot.Type

/** A scheduled bot document in `bot_scheduler.bot_schedules` (docs/contracts.md, "Mongo documents"). */
export const BotSchedule = Schema.Struct({
  ...botFields,
  next_execution_time: Schema.optional(Schema.Number)
})
export type BotSchedule = typeof BotSchedule.Type

export const Collections = {
  bots: { database: "bot_runner", collection: "bots" },
  schedules: { database: "bot_scheduler", collection: "bot_schedules" }
} as const

export const decodeBot = decodeDocument(Bot, "bot_runner.bots")
export const decodeBotSchedule = decodeDocument(BotSchedule, "bot_scheduler.bot_schedules")

/**
 * The Mongo filter the0 uses to select enabled documents (docs/contracts.md, "Enabled documents"): only boolean `false` at `config.enabled`
 * disables. The top-level `enabled` is ignored, as in the0.
 */
export const enabledFilter = {
  $or: [{ "config.enabled": { $ne: false } }, { "config.enabled": { $exists: false } }]
} as const

/** The same rule as `enabledFilter`, on a decoded document. */
export const isEnabled = (doc: { readonly config?: JsonObject | undefined }): boolean => doc.config?.enabled !== false

/** The cron expression of a schedule, when it has a non-empty string at `config.schedule`. */
export const cronExpression = (doc: { readonly config?: JsonObject | undefined }): string | undefined => {
  const schedule = doc.config?.schedule
  return typeof schedule === "string" && schedule.trim() !== "" ? schedule : undefined
}
