import { createHash, randomBytes } from "node:crypto"
import { Readable } from "node:stream"
import * as Minio from "minio"
import { describe, expect, it } from "vitest"
import { requireEnv, uniqueName } from "./env.ts"

const env = requireEnv("MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_USE_SSL")

const PART = 5 * 1024 * 1024

const client = (): Minio.Client => {
  const [host, port] = env.MINIO_ENDPOINT.split(":")
  return new Minio.Client({
    endPoint: host ?? env.MINIO_ENDPOINT,
    port: Number(port ?? (env.MINIO_USE_SSL === "true" ? 443 : 80)),
    useSSL: env.MINIO_USE_SSL === "true",
    accessKey: env.MINIO_ACCESS_KEY,
    secretKey: env.MINIO_SECRET_KEY,
    partSize: PART
  })
}

function* chunks(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size)
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex")

describe("testbed: MinIO", () => {
  it("takes a multipart upload and a server-side multipart copy", async () => {
    const s3 = client()
    const bucket = uniqueName("smoke")
    await s3.makeBucket(bucket)
    try {
      // 12 MiB streamed in 1 MiB chunks with 5 MiB parts: the client uploads it in 3 parts. (A Buffer would
      // go in one PUT, and a stream of one 12 MiB chunk in one part.)
      const data = randomBytes(12 * 1024 * 1024)
      await s3.putObject(bucket, "upload.bin", Readable.from(chunks(data, 1024 * 1024)), data.length)
      const uploaded = await s3.statObject(bucket, "upload.bin")
      expect(uploaded.size).toBe(data.length)
      expect(uploaded.etag).toMatch(/-3$/) // an S3 multipart ETag names its part count

      // composeObject copies on the server with UploadPartCopy, one part per source (and range).
      await s3.composeObject(new Minio.CopyDestinationOptions({ Bucket: bucket, Object: "composed.bin" }), [
        new Minio.CopySourceOptions({ Bucket: bucket, Object: "upload.bin" }),
        new Minio.CopySourceOptions({ Bucket: bucket, Object: "upload.bin", MatchRange: true, Start: 0, End: PART })
      ])
      const composed = await s3.statObject(bucket, "composed.bin")
      expect(composed.size).toBe(data.length + PART + 1)
      expect(composed.etag).toMatch(/-2$/)
      const body = Buffer.concat(await (await s3.getObject(bucket, "composed.bin")).toArray())
      expect(sha256(body)).toBe(sha256(Buffer.concat([data, data.subarray(0, PART + 1)])))
    } finally {
      const names = (await s3.listObjects(bucket, "", true).toArray()).map((o: { name: string }) => o.name)
      await s3.removeObjects(bucket, names)
      await s3.removeBucket(bucket)
    }
  })
})
