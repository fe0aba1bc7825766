/**
 * Where the in-Pod runtime keeps things in object storage, and the state size limits (docs/contracts.md, "MinIO buckets and keys"). Read from
 * the environment (the ConfigProvider) as the0 does: bucket overrides `MINIO_*_BUCKET`, limits `MAX_STATE_SIZE_MB` and
 * `MAX_STATE_FILE_SIZE_MB` in whole MiB (invalid values are ignored).
 */
import { Config } from "effect"
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

/** A variable's value, `""` when unset. */
export const variable = (name: string): Config.Config<string> => Config.string(name).pipe(Config.withDefault(""))

/** A variable that counts only when set and not empty. */
const nonEmpty = (name: string, fallback: string): Config.Config<string> =>
  Config.map(variable(name), (value) => (value === "" ? fallback : value))

/** Go's `strconv.Atoi` accepts an optional sign and decimal digits; anything else falls back. */
export const envInt = (name: string, fallback: number): Config.Config<number> =>
  Config.map(variable(name), (value) => (/^[+-]?\d+$/.test(value) ? Number.parseInt(value, 10) : fallback))

export const storageSettings: Config.Config<StorageSettings> = Config.all({
  codeBucket: nonEmpty(BucketEnv.code, Bucket.code),
  stateBucket: nonEmpty(BucketEnv.state, Bucket.state),
  logsBucket: nonEmpty(BucketEnv.logs, Bucket.logs),
  queryResultsBucket: nonEmpty(BucketEnv.queryResults, Bucket.queryResults),
  maxStateFileSize: Config.map(envInt("MAX_STATE_FILE_SIZE_MB", 10), (mib) => mib * MiB),
  maxStateSize: Config.map(envInt("MAX_STATE_SIZE_MB", 8192), (mib) => mib * MiB)
})
