import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

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

/** The testbed script, for tests that stop a server and bring it back (`stop NAME`, `start NAME`). */
export const TESTBED_SCRIPT = fileURLToPath(new URL("../../../scripts/testbed/testbed", import.meta.url))

/** Runs `scripts/testbed/testbed ARGS...` and returns what it printed; rejects when it exits non-zero. */
export const testbed = async (...args: ReadonlyArray<string>): Promise<string> => {
  const { stdout, stderr } = await promisify(execFile)(TESTBED_SCRIPT, [...args], { timeout: 180_000 })
  return `${stdout}${stderr}`
}
