import { Either } from "effect"
import type { Bot, BotSchedule } from "../../../src/domain/Bot.ts"
import type { Container, EnvVar } from "../../../src/domain/Kube.ts"
import type { ManifestError } from "../../../src/programs/manifests/ManifestError.ts"

/** A bot document like the0's podgen tests use. */
export const testBot = (
  overrides: {
    readonly id?: string
    readonly config?: Bot["config"]
    readonly version?: string
    readonly filePath?: string
    readonly name?: string
    readonly runtime?: string
    readonly entrypoints?: Readonly<Record<string, string>>
  } = {}
): Bot => ({
  id: overrides.id ?? "test-bot-123",
  config: overrides.config ?? { symbol: "BTC/USD", interval: "1m" },
  custom: {
    version: overrides.version ?? "1.0.0",
    filePath: overrides.filePath ?? "user-1/test-bot/v1.0.0.zip",
    config: {
      name: overrides.name ?? "test-bot",
      runtime: overrides.runtime ?? "python3.11",
      entrypoints: overrides.entrypoints ?? { bot: "main.py" }
    }
  }
})

/** A schedule document like the0's schedule controller tests use (`daily-report`, `0 9 * * *`); `null` for no schedule. */
export const testSchedule = (
  overrides: Parameters<typeof testBot>[0] = {},
  schedule: string | null = "0 9 * * *"
): BotSchedule => {
  const base = testBot({ id: "schedule-1", name: "daily-report", config: { symbol: "BTC/USD" }, ...overrides })
  const config = base.config ?? {}
  return { ...base, config: schedule === null ? config : { ...config, schedule } }
}

/** The right side, or a test failure showing the error. */
export const right = <A>(either: Either.Either<A, ManifestError>): A =>
  Either.getOrThrowWith(either, (error) => new Error(`expected Right, got ${error.field}: ${error.message}`))

/** The left side, or a test failure. */
export const left = <A>(either: Either.Either<A, ManifestError>): ManifestError =>
  Either.match(either, {
    onLeft: (error) => error,
    onRight: () => {
      throw new Error("expected a ManifestError")
    }
  })

export const envOf = (container: Container | undefined): ReadonlyArray<EnvVar> => container?.env ?? []

export const envValue = (container: Container | undefined, name: string): string | undefined =>
  envOf(container).find((env) => env.name === name)?.value

export const envNames = (container: Container | undefined): ReadonlyArray<string> =>
  envOf(container).map((env) => env.name)

export const mountPaths = (container: Container | undefined): ReadonlyArray<string> =>
  (container?.volumeMounts ?? []).map((mount) => mount.mountPath)
