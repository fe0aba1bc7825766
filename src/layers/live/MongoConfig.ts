/**
 * The Mongo store's settings: the connection string (any the driver accepts; redacted for logs) and where it came
 * from, the driver options our short default timeouts add where the connection string does not set its own, and
 * `MONGO_URI` from the environment.
 */
import { Config, Data, Duration, Effect } from "effect"
import type { MongoClientOptions } from "mongodb"
import type { Collections } from "../../domain/Bot.ts"

/** A connection string the driver does not accept; the message names the setting it came from. */
export class MongoConfigError extends Data.TaggedError("MongoConfigError")<{
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail
  }
}

export interface MongoBotStoreConfig {
  /** Any connection string the driver accepts. */
  readonly uri: string
  /** Where the URI came from, for error messages (`MONGO_URI`). */
  readonly setting?: string
  /** Driver server selection timeout unless the URI sets `serverSelectionTimeoutMS` (default 5 s). */
  readonly serverSelectionTimeout?: Duration.DurationInput
  /** Driver TCP connect timeout unless the URI sets `connectTimeoutMS` (default 5 s). */
  readonly connectTimeout?: Duration.DurationInput
  /** Deadline for connect + ping at start (default 10 s, as the0). */
  readonly startupTimeout?: Duration.DurationInput
  /** For how long after an operation started its transient failures are retried (default 10 s). */
  readonly retryFor?: Duration.DurationInput
  /** Deadline of one attempt of one operation (one batch of a listing), so a hung server fails (default 30 s). */
  readonly operationTimeout?: Duration.DurationInput
  /** Documents per cursor batch of a listing (default 1,000). */
  readonly batchSize?: number
  /**
   * Where the documents live (default `Collections`, the0's names). Only for tests and benchmarks that need their
   * own database on a shared server; the0's API writes the default ones.
   */
  readonly collections?: CollectionNames
}

export type CollectionNames = { readonly [K in keyof typeof Collections]: NamespaceName }
export interface NamespaceName {
  readonly database: string
  readonly collection: string
}

export const defaultUri = "mongodb://localhost:27017"

/** The options as `make` applies them. */
export interface Settings {
  readonly retryFor: Duration.Duration
  readonly operationTimeout: Duration.Duration
  readonly batchSize: number
  readonly collections: CollectionNames
}

/** Option names the connection string sets (the driver treats them case-insensitively). */
const uriOptions = (uri: string): ReadonlySet<string> => {
  const query = uri.split("#")[0]?.split("?")[1] ?? ""
  return new Set(Array.from(new URLSearchParams(query).keys(), (key) => key.toLowerCase()))
}

/** Scheme and hosts only: never the credentials or options of a connection string, for logs. */
export const redactUri = (uri: string): string => {
  const match = /^([a-z+]+:\/\/)(?:[^@/?#]*@)?([^/?#]*)/i.exec(uri)
  return match === null ? "<unparsable>" : `${match[1] ?? ""}${match[2] ?? ""}`
}

export const driverOptions = (config: MongoBotStoreConfig): MongoClientOptions => {
  const set = uriOptions(config.uri)
  const millis = (input: Duration.DurationInput | undefined, fallback: number) =>
    input === undefined ? fallback : Duration.toMillis(Duration.decode(input))
  return {
    // The BSON serializer would write `undefined` as null; the memory layer (JSON semantics) drops it.
    ignoreUndefined: true,
    // Invalid UTF-8 in one stored string would fail the whole batch; replaced by U+FFFD, only that document differs.
    enableUtf8Validation: false,
    ...(set.has("serverselectiontimeoutms")
      ? {}
      : { serverSelectionTimeoutMS: millis(config.serverSelectionTimeout, 5_000) }),
    ...(set.has("connecttimeoutms") ? {} : { connectTimeoutMS: millis(config.connectTimeout, 5_000) }),
    ...(set.has("appname") ? {} : { appName: "the0-runtime" })
  }
}

/** `MONGO_URI` (default `mongodb://localhost:27017`, as the0; set but empty is an error, as the0). */
export const configFromEnv: Effect.Effect<MongoBotStoreConfig, MongoConfigError> = Config.string("MONGO_URI").pipe(
  Config.withDefault(defaultUri),
  Effect.map((uri): MongoBotStoreConfig => ({ uri, setting: "MONGO_URI" })),
  Effect.mapError((cause) => new MongoConfigError({ detail: `MONGO_URI: ${cause.toString()}`, cause }))
)
