/**
 * The admin API's token: made at random by each run of `dev` and written to `<data dir>/admin-token` with mode 0600,
 * so that only the user who started `dev` (and root) can read it; the `dev` subcommands read it from there and send
 * it as `Authorization: Bearer <token>` (README.md, "Dev mode").
 */
import { randomBytes } from "node:crypto"
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { Data, Effect } from "effect"

export class AdminTokenError extends Data.TaggedError("AdminTokenError")<{ readonly message: string }> {}

export const tokenFile = (dataDir: string): string => path.join(dataDir, "admin-token")

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** A new random token, written (mode 0600, replacing the previous run's) to the data directory. */
export const create = (dataDir: string): Effect.Effect<string, AdminTokenError> =>
  Effect.tryPromise({
    try: async () => {
      const token = randomBytes(32).toString("hex")
      const file = tokenFile(dataDir)
      await mkdir(dataDir, { recursive: true })
      const tmp = `${file}.${process.pid}.tmp`
      await writeFile(tmp, `${token}\n`, { mode: 0o600 })
      await chmod(tmp, 0o600)
      await rename(tmp, file)
      return token
    },
    catch: (error) =>
      new AdminTokenError({ message: `cannot write the admin token ${tokenFile(dataDir)}: ${errorText(error)}` })
  })

/** The running `dev`'s token, from its data directory. */
export const read = (dataDir: string): Effect.Effect<string, AdminTokenError> =>
  Effect.tryPromise({
    try: async () => (await readFile(tokenFile(dataDir), "utf8")).trim(),
    catch: (error) =>
      new AdminTokenError({
        message:
          `cannot read the admin token ${tokenFile(dataDir)} (${errorText(error)}): is \`the0-runtime dev\` running ` +
          "with this --data-dir, as this user?"
      })
  })
