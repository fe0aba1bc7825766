/** Where ingest stands, from what NATS said about the stream and ingest's durable consumer. */
import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { ingestStatus } from "../../../src/programs/status/IngestStatus.ts"
import type { ConsumerState, StreamInfo } from "../../../src/services/EventBus.ts"

const stream = (lastSequence: number): Option.Option<StreamInfo> =>
  Option.some({ name: "THE0_EVENTS", subjects: ["the0.bot.*"], lastSequence, maxAgeMillis: 0 })
const consumer = (ackFloor: number, pending: number): Option.Option<ConsumerState> => Option.some({ ackFloor, pending })

describe("IngestStatus", () => {
  it("behind is what the stream holds past the ack floor, never below zero; undelivered is the consumer's pending", () => {
    expect(ingestStatus({ stream: stream(9), consumer: consumer(3, 2) })).toEqual({
      state: "reading",
      lastSequence: 9,
      ackFloor: 3,
      behind: 6,
      undelivered: 2
    })
    expect(ingestStatus({ stream: stream(2), consumer: consumer(3, 0) })).toMatchObject({ behind: 0 })
  })

  it("no stream is said before no consumer; not given and not reachable are their own states", () => {
    expect(ingestStatus({ stream: Option.none(), consumer: Option.none() })).toEqual({ state: "no-stream" })
    expect(ingestStatus({ stream: stream(1), consumer: Option.none() })).toEqual({ state: "no-consumer" })
    expect(ingestStatus(undefined)).toEqual({ state: "not-configured" })
    expect(ingestStatus({ unavailable: "refused" })).toEqual({ state: "unavailable", reason: "refused" })
  })
})
