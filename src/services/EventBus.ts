import { Context, Data, type Effect, type Option, type Stream } from "effect"

/** A failure talking to the message bus. */
export class EventBusError extends Data.TaggedError("EventBusError")<{
  readonly operation: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.operation}: ${this.detail}`
  }
}

export interface Message {
  readonly subject: string
  readonly data: Uint8Array
}

/** A message from a durable consumer: it is redelivered until acked. */
export interface DurableMessage extends Message {
  /** The stream sequence number. */
  readonly sequence: number
  /** How many times it has been delivered, 1 on the first delivery. */
  readonly deliveryCount: number
  readonly ack: Effect.Effect<void, EventBusError>
  /** Asks for redelivery, after `delayMillis` when given. */
  readonly nak: (delayMillis?: number) => Effect.Effect<void, EventBusError>
}

export interface StreamConfig {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  /** How long the stream keeps a message (0 or absent: no limit). */
  readonly maxAgeMillis?: number
}

/** A stream as it is now. */
export interface StreamInfo extends StreamConfig {
  /** The sequence of the last message stored (0: none yet). */
  readonly lastSequence: number
  /** How long the stream keeps a message (0: no limit). */
  readonly maxAgeMillis: number
}

export interface ConsumerConfig {
  readonly stream: string
  readonly durable: string
  readonly filterSubjects?: ReadonlyArray<string>
  /** How long a delivered message may stay unacked before it is redelivered. */
  readonly ackWaitMillis?: number
  /** Where a durable that does not exist yet starts: the stream's first message (default) or its next one. */
  readonly deliverFrom?: "all" | "new"
}

/** A durable consumer's position. */
export interface ConsumerState {
  /** Every message of the stream up to this sequence has been acked (or is not for this consumer). */
  readonly ackFloor: number
  /** Messages for this consumer not delivered yet. */
  readonly pending: number
}

export type ConnectionState = "connected" | "reconnecting" | "closed"

/**
 * Publish/subscribe with subject wildcards (`*` one token, `>` the rest), queue groups (each message goes to
 * one member of a group) and durable stream consumers with explicit acks (NATS core and JetStream semantics).
 */
export interface EventBusService {
  readonly publish: (subject: string, data: Uint8Array) => Effect.Effect<void, EventBusError>
  /** Messages on `subject` from the moment the stream is run; with `queue`, shared among the group's members. */
  readonly subscribe: (subject: string, options?: { readonly queue?: string }) => Stream.Stream<Message, EventBusError>
  /** Creates the stream, or updates its subjects when it exists. */
  readonly ensureStream: (config: StreamConfig) => Effect.Effect<void, EventBusError>
  readonly streamInfo: (name: string) => Effect.Effect<Option.Option<StreamInfo>, EventBusError>
  /** The durable's position; none when it does not exist. */
  readonly consumerState: (
    stream: string,
    durable: string
  ) => Effect.Effect<Option.Option<ConsumerState>, EventBusError>
  /** Delivers from the durable consumer's position (created where `deliverFrom` says when new). */
  readonly consume: (config: ConsumerConfig) => Stream.Stream<DurableMessage, EventBusError>
  readonly connectionState: Effect.Effect<ConnectionState>
}

export class EventBus extends Context.Tag("the0/EventBus")<EventBus, EventBusService>() {}
