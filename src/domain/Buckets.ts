/** MinIO buckets and object keys (docs/contracts.md, "MinIO buckets and keys"). */

export const Bucket = {
  code: "custom-bots",
  state: "bot-state",
  logs: "bot-logs",
  queryResults: "query-results"
} as const

/** Environment variables that override the default bucket names inside bot Pods. */
export const BucketEnv = {
  code: "MINIO_CODE_BUCKET",
  state: "MINIO_STATE_BUCKET",
  logs: "MINIO_LOGS_BUCKET",
  queryResults: "MINIO_QUERY_RESULTS_BUCKET"
} as const

export const stateKey = (botId: string): string => `${botId}/state.tar.gz`

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

/** `YYYYMMDD` of a date in UTC. */
export const logDay = (date: Date): string =>
  `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1, 2)}${pad(date.getUTCDate(), 2)}`

export const logPrefix = (botId: string): string => `logs/${botId}/`

export const dailyLogKey = (botId: string, date: Date): string => `${logPrefix(botId)}${logDay(date)}.log`

export const tempLogKey = (botId: string, unixNanos: bigint): string => `${logPrefix(botId)}.tmp-${unixNanos}`

/** A query result key that cannot collide: `<botId>/<nanos>-<random>/result.json`. */
export const queryResultKey = (botId: string, unixNanos: bigint, random: string): string =>
  `${botId}/${unixNanos}-${random}/result.json`
