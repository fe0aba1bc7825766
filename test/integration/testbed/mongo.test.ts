import { MongoClient } from "mongodb"
import { describe, expect, it } from "vitest"
import { requireEnv, uniqueName } from "./env.ts"

const env = requireEnv("MONGO_URI")

interface Bot {
  readonly _id: string
  readonly name: string
  readonly runs: number
  readonly tags: ReadonlyArray<string>
}

describe("testbed: FerretDB through the official mongodb driver", () => {
  it("inserts, finds and updates with findOneAndUpdate", async () => {
    const client = new MongoClient(env.MONGO_URI, { serverSelectionTimeoutMS: 10_000 })
    await client.connect()
    const db = client.db(uniqueName("smoke").replaceAll("-", "_"))
    try {
      const hello = await db.admin().command({ hello: 1 })
      expect(hello.isWritablePrimary).toBe(true)
      const bots = db.collection<Bot>("bots")
      const inserted = await bots.insertMany([
        { _id: "a", name: "alpha", runs: 0, tags: ["x"] },
        { _id: "b", name: "beta", runs: 5, tags: ["x", "y"] },
        { _id: "c", name: "gamma", runs: 9, tags: [] }
      ])
      expect(inserted.insertedCount).toBe(3)

      const found = await bots
        .find({ runs: { $gte: 1 }, tags: "x" })
        .sort({ name: 1 })
        .toArray()
      expect(found.map((bot) => bot._id)).toEqual(["b"])

      const updated = await bots.findOneAndUpdate(
        { _id: "a" },
        { $inc: { runs: 1 }, $push: { tags: "z" } },
        { returnDocument: "after" }
      )
      expect(updated).toEqual({ _id: "a", name: "alpha", runs: 1, tags: ["x", "z"] })

      const upserted = await bots.findOneAndUpdate(
        { _id: "d" },
        { $setOnInsert: { name: "delta", runs: 0, tags: [] } },
        { upsert: true, returnDocument: "after" }
      )
      expect(upserted?.name).toBe("delta")
      expect(await bots.countDocuments()).toBe(4)
    } finally {
      await db.dropDatabase()
      await client.close()
    }
  })
})
