/**
 * The ingest line of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"): where event ingest's
 * durable consumer stands in the stream the0's API publishes into.
 */
import { Option } from "effect"
import type { ConsumerState, StreamInfo } from "../../services/EventBus.ts"

/** Ingest's durable consumer and its stream as NATS gave them, or why NATS could not say. */
export type IngestReading =
  | { readonly stream: Option.Option<StreamInfo>; readonly consumer: Option.Option<ConsumerState> }
  | { readonly unavailable: string }

/**
 * - not-configured: no NATS URL was given;
 * - unavailable: NATS could not be asked (`reason`);
 * - no-stream: the stream the0's API publishes into does not exist;
 * - no-consumer: no replica has consumed it yet;
 * - reading: the consumer's position, `behind` the events of the stream not acked yet.
 */
export type IngestStatus =
  | { readonly state: "not-configured" | "no-stream" | "no-consumer" }
  | { readonly state: "unavailable"; readonly reason: string }
  | {
      readonly state: "reading"
      readonly lastSequence: number
      readonly ackFloor: number
      /** Events published and not yet applied (acked). */
      readonly behind: number
      /** Of those, events not delivered to any replica yet. */
      readonly undelivered: number
    }

/** `reading` absent: NATS was not given. */
export const ingestStatus = (reading: IngestReading | undefined): IngestStatus => {
  if (reading === undefined) return { state: "not-configured" }
  if ("unavailable" in reading) return { state: "unavailable", reason: reading.unavailable }
  if (Option.isNone(reading.stream)) return { state: "no-stream" }
  if (Option.isNone(reading.consumer)) return { state: "no-consumer" }
  const { lastSequence } = reading.stream.value
  const { ackFloor, pending } = reading.consumer.value
  return {
    state: "reading",
    lastSequence,
    ackFloor,
    behind: Math.max(0, lastSequence - ackFloor),
    undelivered: pending
  }
}
