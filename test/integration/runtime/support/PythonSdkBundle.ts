/** The Python fixture bot on the0's SDK as the0's CLI packs it: `the0-sdk` from PyPI vendored into the bundle. */

import { execFileSync } from "node:child_process"
import { cpSync } from "node:fs"
import * as path from "node:path"

const fixture = path.resolve(import.meta.dirname, "../../../fixtures/bots/python-sdk")

/** Copies the fixture into `dir` and installs its requirements into `dir/vendor` with pip. */
export const pythonSdkBundle = (dir: string): void => {
  cpSync(fixture, dir, { recursive: true })
  execFileSync(
    "python3",
    [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--no-deps",
      "--target",
      path.join(dir, "vendor"),
      "-r",
      path.join(dir, "requirements.txt")
    ],
    { stdio: ["ignore", "ignore", "inherit"] }
  )
}
