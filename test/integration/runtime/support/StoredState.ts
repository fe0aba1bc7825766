/** Reading what the in-pod runtime stored in MinIO: objects, and the SDK state values inside a state archive. */
import { Readable } from "node:stream"
import { gunzipSync } from "node:zlib"
import type * as Minio from "minio"
import * as tar from "tar-stream"

export const readAll = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const parseOrPartial = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return { partial: body }
  }
}

/** The `.the0-state/<key>.json` values in the state archive at `bucket`/`key` (empty when there is none). */
export const storedStateIn = async (
  s3: Minio.Client,
  bucket: string,
  key: string
): Promise<Record<string, unknown>> => {
  const archive = await s3.getObject(bucket, key).then(readAll, () => undefined)
  if (archive === undefined) return {}
  const extract = tar.extract()
  Readable.from([gunzipSync(archive)]).pipe(extract)
  const values: Record<string, unknown> = {}
  for await (const entry of extract) {
    const body = await readAll(entry as unknown as NodeJS.ReadableStream)
    const match = /^\.the0-state\/(.+)\.json$/.exec(entry.header.name)
    // The SDK writes state files in place, so a snapshot taken mid-write can hold a partial file.
    if (match?.[1] !== undefined) values[match[1]] = parseOrPartial(body.toString("utf8"))
  }
  return values
}
