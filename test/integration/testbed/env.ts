/**
 * Connection settings of the testbed's servers, read from the variables that
 * `scripts/testbed/testbed env` prints. A missing one fails the suite with the command to run.
 */
export const TESTBED_HINT =
  'start the testbed and load its settings: scripts/testbed/testbed up && eval "$(scripts/testbed/testbed env)"'

export const requireEnv = <const Names extends ReadonlyArray<string>>(
  ...names: Names
): { readonly [K in Names[number]]: string } => {
  const missing = names.filter((name) => !process.env[name])
  if (missing.length > 0) {
    throw new Error(`integration tests need ${missing.join(", ")} in the environment: ${TESTBED_HINT}`)
  }
  return Object.fromEntries(names.map((name) => [name, process.env[name] ?? ""])) as {
    readonly [K in Names[number]]: string
  }
}

/** A name that no earlier run used, for buckets, streams, databases and Kubernetes objects. */
export const uniqueName = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
