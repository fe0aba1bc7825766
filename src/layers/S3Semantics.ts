/** What S3 does that every ObjectStore layer must do the same way: ETags, key order, incomplete-upload listings. */
import { createHash } from "node:crypto"
import type { IncompleteUpload } from "../services/ObjectStore.ts"

export const md5Hex = (data: Uint8Array): string => createHash("md5").update(data).digest("hex")

/** The S3 ETag of a multipart object: the MD5 of the concatenated binary MD5s of its parts, then `-<count>`. */
export const multipartEtag = (partEtags: ReadonlyArray<string>): string =>
  `${md5Hex(Buffer.concat(partEtags.map((etag) => Buffer.from(etag, "hex"))))}-${partEtags.length}`

/** S3 orders keys by their UTF-8 bytes, which is not JavaScript's UTF-16 order beyond the BMP. */
export const compareKeys = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))

/** Open uploads whose key starts with `prefix`, in S3's order (key, then initiation time, then id). */
export const incompleteUploads = (
  uploads: ReadonlyArray<{ readonly key: string; readonly uploadId: string; readonly initiated: number }>,
  prefix: string
): ReadonlyArray<IncompleteUpload> =>
  uploads
    .filter((upload) => upload.key.startsWith(prefix))
    .sort((a, b) => compareKeys(a.key, b.key) || a.initiated - b.initiated || compareKeys(a.uploadId, b.uploadId))
    .map((upload) => ({ key: upload.key, uploadId: upload.uploadId, initiated: new Date(upload.initiated) }))
