import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { describe, expect, it } from "vitest"
import { requireEnv, testbed, uniqueName } from "./env.ts"

const env = requireEnv("NATS_URL")

describe("testbed: NATS with JetStream", () => {
  it("publishes to a stream and a durable consumer resumes where it left off after a reconnect", async () => {
    const stream = uniqueName("smoke").replaceAll("-", "_")
    const durable = "smoke_durable"
    const first = await connect({ servers: env.NATS_URL, name: "testbed-smoke" })
    const jsm = await jetstreamManager(first)
    try {
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
      const js = jetstream(first)
      const acks = []
      for (const n of [1, 2, 3]) {
        acks.push(await js.publish(`${stream}.events`, JSON.stringify({ n })))
      }
      expect(acks.map((ack) => [ack.stream, ack.seq, ack.duplicate])).toEqual([
        [stream, 1, false],
        [stream, 2, false],
        [stream, 3, false]
      ])
      // A Nats-Msg-Id seen before is reported as a duplicate and not stored twice.
      await js.publish(`${stream}.events`, "x", { msgID: "once" })
      expect((await js.publish(`${stream}.events`, "x", { msgID: "once" })).duplicate).toBe(true)

      await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit })
      const consumer = await js.consumers.get(stream, durable)
      const m1 = await consumer.next({ expires: 5_000 })
      expect(m1?.json()).toEqual({ n: 1 })
      expect(await m1?.ackAck()).toBe(true)
    } finally {
      await first.close()
    }

    // A new connection: the durable consumer lives on the server and goes on with message 2.
    const second = await connect({ servers: env.NATS_URL, name: "testbed-smoke-2" })
    try {
      const js = jetstream(second)
      const consumer = await js.consumers.get(stream, durable)
      const m2 = await consumer.next({ expires: 5_000 })
      expect(m2?.seq).toBe(2)
      expect(m2?.json()).toEqual({ n: 2 })
      expect(await m2?.ackAck()).toBe(true)
      const info = await consumer.info()
      expect(info.delivered.stream_seq).toBe(2)
      expect(info.num_pending).toBe(2)
      const jsm2 = await jetstreamManager(second)
      expect((await jsm2.streams.info(stream)).state.messages).toBe(4)
      await jsm2.streams.delete(stream)
    } finally {
      await second.close()
    }
  })

  it("keeps a stream and its durable consumer across `testbed stop nats` / `testbed start nats`", async () => {
    const stream = uniqueName("restart").replaceAll("-", "_")
    const before = await connect({ servers: env.NATS_URL })
    try {
      const jsm = await jetstreamManager(before)
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
      await jsm.consumers.add(stream, { durable_name: "d", ack_policy: AckPolicy.Explicit })
      const js = jetstream(before)
      await js.publish(`${stream}.a`, "one")
      await js.publish(`${stream}.a`, "two")
      const m1 = await (await js.consumers.get(stream, "d")).next({ expires: 5_000 })
      expect(await m1?.ackAck()).toBe(true)
    } finally {
      await before.close()
    }

    expect(await testbed("stop", "nats")).toMatch(/nats\s+stopped/)
    await expect(connect({ servers: env.NATS_URL, reconnect: false, timeout: 1_000 })).rejects.toThrow()
    expect(await testbed("start", "nats")).toMatch(/nats\s+ready in/)

    const after = await connect({ servers: env.NATS_URL })
    try {
      const m2 = await (await jetstream(after).consumers.get(stream, "d")).next({ expires: 5_000 })
      expect(m2?.string()).toBe("two")
      expect(await m2?.ackAck()).toBe(true)
      await (await jetstreamManager(after)).streams.delete(stream)
    } finally {
      await after.close()
    }
  })
})
