/**
 * Where the in-Pod runtime keeps things in object storage, and the state size limits (docs/contracts.md, "MinIO buckets and keys"). Read from
 * the environment as the0 does: bucket overrides `MINIO_*_BUCKET`, limits `MAX_STATE_SIZE_MB` and
 * `MAX_STATE_FILE_SIZE_MB` in whole MiB (invalid values are ignored).
 */
import { Bucket, BucketEnv } from "../../domain/Buckets.ts"

export interface StorageSettings {
  readonly codeBucket: string
  readonly stateBucket: string
  /** the0's daemon hard-codes `bot-logs`; we honour `MINIO_LOGS_BUCKET` (COMPATIBILITY.md). */
  readonly logsBucket: string
  readonly queryResultsBucket: string
  /** Largest single file in the state, in bytes (default 10 MiB). */
  readonly maxStateFileSize: number
  /** Largest state in total, in bytes (default 8 GiB). */
  readonly maxStateSize: number
}

export type Env = Readonly<Record<string, string | undefined>>

const MiB = 1024 * 1024

const nonEmpty = (value: string | undefined, fallback: string): string =>
  value === undefined || value === "" ? fallback : value

/** Go's `strconv.Atoi` accepts an optional sign and decimal digits; anything else falls back. */
export const envInt = (value: string | undefined, fallback: number): number =>
  value !== undefined && /^[+-]?\d+$/.test(value) ? Number.parseInt(value, 10) : fallback

export const storageSettings = (env: Env): StorageSettings => ({
  codeBucket: nonEmpty(env[BucketEnv.code], Bucket.code),
  stateBucket: nonEmpty(env[BucketEnv.state], Bucket.state),
  logsBucket: nonEmpty(env[BucketEnv.logs], Bucket.logs),
  queryResultsBucket: nonEmpty(env[BucketEnv.queryResults], Bucket.queryResults),
  maxStateFileSize: envInt(env.MAX_STATE_FILE_SIZE_MB, 10) * MiB,
  maxStateSize: envInt(env.MAX_STATE_SIZE_MB, 8192) * MiB
})
