/** Runtime identifiers the0 supports (docs/contracts.md, "Runtimes"), in the order the0 lists them in its error. */
export const supportedRuntimes = [
  "cpp-gcc13",
  "dotnet8",
  "gcc13",
  "ghc96",
  "nodejs20",
  "python3.11",
  "rust-stable",
  "scala3"
] as const

export type RuntimeId = (typeof supportedRuntimes)[number]

export const isSupportedRuntime = (runtime: string): runtime is RuntimeId =>
  (supportedRuntimes as ReadonlyArray<string>).includes(runtime)

/** The message the0 gives for an unsupported runtime (docs/contracts.md, "Runtimes"). */
export const unsupportedRuntimeMessage = (runtime: string): string =>
  `unsupported runtime: ${JSON.stringify(runtime)} (supported: ${supportedRuntimes.join(", ")})`
