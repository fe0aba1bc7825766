/**
 * Before any test: bundle the in-Pod entry (dist/pod/), so that every test starting `bin/the0-runtime execute` or
 * `daemon` runs the same bundle the image runs, built from the sources under test.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

export default function setup(): void {
  execFileSync(process.execPath, [path.resolve(import.meta.dirname, "../../scripts/bundle.mjs")], {
    stdio: "inherit"
  })
}
