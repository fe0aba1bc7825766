/**
 * The runtime's own log lines, as the0's slog JSON handler writes them to stdout (docs/contracts.md, "Runtime commands"):
 * `{"time":"<RFC3339Nano>","level":"INFO","msg":"...",<annotations>}`; the level comes from `LOG_LEVEL`
 * (`DEBUG|INFO|WARN|ERROR`, default INFO). These lines never reach `bot.log`.
 */
import { Cause, Config, Effect, HashMap, Layer, Logger, LogLevel } from "effect"

const levelName = (level: LogLevel.LogLevel): string => {
  if (LogLevel.greaterThanEqual(level, LogLevel.Error)) return "ERROR"
  if (LogLevel.greaterThanEqual(level, LogLevel.Warning)) return "WARN"
  if (LogLevel.greaterThanEqual(level, LogLevel.Info)) return "INFO"
  return "DEBUG"
}

const text = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")
}

export const slogLogger = (write: (line: string) => void): Logger.Logger<unknown, void> =>
  Logger.make(({ logLevel, message, annotations, date, cause }) => {
    const record: Record<string, unknown> = { time: date.toISOString(), level: levelName(logLevel), msg: text(message) }
    for (const [key, value] of HashMap.toEntries(annotations)) record[key] = value
    if (!Cause.isEmpty(cause)) record.error = Cause.pretty(cause)
    write(`${JSON.stringify(record)}\n`)
  })

const minimumLevel = (value: string): LogLevel.LogLevel => {
  switch (value.toUpperCase()) {
    case "DEBUG":
      return LogLevel.Debug
    case "WARN":
      return LogLevel.Warning
    case "ERROR":
      return LogLevel.Error
    default:
      return LogLevel.Info
  }
}

/** `LOG_LEVEL` from the environment (the ConfigProvider); anything but DEBUG, WARN or ERROR is INFO. */
export const logLevel: Config.Config<LogLevel.LogLevel> = Config.string("LOG_LEVEL").pipe(
  Config.withDefault(""),
  Config.map(minimumLevel)
)

/** Replaces the default logger with slog JSON written by `write` (stdout by default), at `LOG_LEVEL`. */
export const layer = (write: (line: string) => void = (line) => process.stdout.write(line)): Layer.Layer<never> => {
  const slog = slogLogger(write)
  return Layer.unwrapEffect(
    // LOG_LEVEL has a default: a ConfigError here is a defect
    Effect.map(Effect.orDie(logLevel), (level) =>
      Layer.mergeAll(
        Logger.replace(Logger.defaultLogger, slog),
        Logger.replace(Logger.prettyLoggerDefault, slog),
        Logger.minimumLogLevel(level)
      )
    )
  )
}
