import { Either, Schema } from "effect"
import { CustomBotVersion, JsonObject } from "./Bot.ts"
import { DocumentDecodeError, decodeDocument } from "./DocumentDecodeError.ts"

/** NATS subjects the API publishes bot lifecycle events on (docs/contracts.md, "NATS subjects"). */
export const Subject = {
  botCreated: "the0.bot.created",
  botUpdated: "the0.bot.updated",
  botDeleted: "the0.bot.deleted",
  scheduleCreated: "the0.bot-schedule.created",
  scheduleUpdated: "the0.bot-schedule.updated",
  scheduleDeleted: "the0.bot-schedule.deleted"
} as const
export type Subject = (typeof Subject)[keyof typeof Subject]

export const botSubjects = [Subject.botCreated, Subject.botUpdated, Subject.botDeleted] as const
export const scheduleSubjects = [Subject.scheduleCreated, Subject.scheduleUpdated, Subject.scheduleDeleted] as const

/** The queue group every runtime subscriber joins. */
export const queueGroup = "runtime"

/** The JetStream stream the API publishes into. */
export const eventsStream = "THE0_EVENTS"

export type EventKind = "created" | "updated" | "deleted"
export type EventTarget = "bot" | "schedule"

/** What a subject means: which collection and which operation. */
export const parseSubject = (
  subject: string
): { readonly target: EventTarget; readonly kind: EventKind } | undefined => {
  const match = /^the0\.(bot|bot-schedule)\.(created|updated|deleted)$/.exec(subject)
  if (match === null) return undefined
  return { target: match[1] === "bot" ? "bot" : "schedule", kind: match[2] as EventKind }
}

/** The direct payload `{id, config, custom}` (docs/contracts.md, "Event payloads"). */
export const DirectEvent = Schema.Struct({
  id: Schema.NonEmptyString,
  config: Schema.optional(JsonObject),
  custom: Schema.optional(CustomBotVersion)
})
export type BotEvent = typeof DirectEvent.Type

/** The wrapped payload `{type, entity_id, data: {id, config, custom, topicName}, timestamp}` (docs/contracts.md, "Event payloads"). */
export const WrappedEvent = Schema.Struct({
  type: Schema.optional(Schema.String),
  entity_id: Schema.optional(Schema.String),
  data: DirectEvent,
  timestamp: Schema.optional(Schema.Unknown)
})

const decodeDirect = decodeDocument(DirectEvent, "event")
const decodeWrapped = decodeDocument(WrappedEvent, "event")

const hasNonEmptyId = (raw: unknown): boolean =>
  typeof raw === "object" &&
  raw !== null &&
  typeof (raw as { id?: unknown }).id === "string" &&
  (raw as { id: string }).id !== ""

/**
 * Decodes an event body: the direct shape when it has a non-empty `id`, otherwise the wrapped shape, as the0's
 * bot subscriber does. The result is always the direct shape.
 */
export const decodeBotEvent = (subject: string, body: Uint8Array): Either.Either<BotEvent, DocumentDecodeError> => {
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder().decode(body))
  } catch (cause) {
    return Either.left(
      new DocumentDecodeError({
        source: subject,
        documentId: "<no id>",
        field: "<root>",
        detail: `invalid JSON: ${String(cause)}`
      })
    )
  }
  if (hasNonEmptyId(raw))
    return decodeDirect(raw).pipe(Either.mapLeft((e) => new DocumentDecodeError({ ...e, source: subject })))
  return decodeWrapped(raw).pipe(
    Either.map((wrapped) => wrapped.data),
    Either.mapLeft((e) => new DocumentDecodeError({ ...e, source: subject }))
  )
}

export const encodeBotEvent = (event: BotEvent): Uint8Array => new TextEncoder().encode(JSON.stringify(event))
