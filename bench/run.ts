/**
 * `npm run bench`: runs every benchmark script in bench/ (and its subfolders) one after the other, each in a
 * process of its own so their figures do not disturb each other. Each prints its figures beside the goal.
 */
import { spawnSync } from "node:child_process"
import { readdirSync, statSync } from "node:fs"
import { join, relative } from "node:path"

const root = new URL(".", import.meta.url).pathname
const scripts = (dir: string): Array<string> =>
  readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) return scripts(path)
      return name.endsWith(".ts") && path !== join(root, "run.ts") && !name.startsWith("_") ? [path] : []
    })

let failed = 0
for (const script of scripts(root)) {
  console.log(`\n== ${relative(root, script)}`)
  const result = spawnSync(process.execPath, ["--import", "tsx", script], { stdio: "inherit" })
  if (result.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
