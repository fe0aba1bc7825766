/** Bot bundles in dev: directories zipped as the0's CLI does; bot-config.yaml checked with messages naming the problem. */

import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { loadBundle, makeZip, readManifest } from "../../../src/programs/dev/Bundle.ts"

const repo = (relative: string) => fileURLToPath(new URL(`../../../${relative}`, import.meta.url))
const file = (name: string, text: string) => ({ name, data: new TextEncoder().encode(text), mode: 0o644 })
const problem = (zip: Uint8Array) => Effect.map(Effect.flip(readManifest(zip, "b.zip")), (e) => e.message)

describe("dev bundles", () => {
  it.effect("a bundle directory is zipped and its manifest read", () =>
    Effect.gen(function* () {
      const zip = yield* loadBundle(repo("assets/demo/realtime-ticker"))
      const manifest = yield* readManifest(zip, "ticker")
      expect(manifest).toMatchObject({
        name: "demo-ticker",
        type: "realtime",
        runtime: "nodejs20",
        entrypoints: { bot: "main.js", query: "query.js" }
      })
    })
  )

  it.effect("what is wrong with a bundle is named", () =>
    Effect.gen(function* () {
      expect(yield* problem(new TextEncoder().encode("not a zip"))).toContain("b.zip is not a valid zip file")
      expect(yield* problem(makeZip([file("main.js", "")]))).toBe("b.zip: no bot-config.yaml at the root of the bundle")
      const config = (yaml: string, ...files: Array<string>) =>
        makeZip([file("bot-config.yaml", yaml), ...files.map((name) => file(name, ""))])
      expect(
        yield* problem(config("name: x\ntype: realtime\nruntime: cobol\nentrypoints: {bot: main.js}", "main.js"))
      ).toContain('runtime "cobol" is not one of')
      expect(yield* problem(config("name: x\ntype: event\nruntime: nodejs20", "main.js"))).toContain(
        'type must be "realtime" or "scheduled"'
      )
      expect(yield* problem(config("name: x\ntype: realtime\nruntime: nodejs20\nentrypoints: {bot: main.js}"))).toBe(
        'b.zip: entrypoints.bot "main.js" is not in the bundle'
      )
      expect(yield* Effect.map(Effect.flip(loadBundle("/nonexistent/bundle")), (e) => e.message)).toContain(
        "bundle /nonexistent/bundle not found"
      )
    })
  )

  it.effect("a zip whose files unpack to over 64 MiB is refused by its declared sizes, nothing inflated", () =>
    Effect.gen(function* () {
      const yaml = "name: bomb\ntype: realtime\nruntime: nodejs20\nentrypoints:\n  bot: main.js\n"
      const bomb = { name: "data.bin", data: new Uint8Array(100 * 1024 * 1024), mode: 0o644 }
      const zip = makeZip([file("bot-config.yaml", yaml), file("main.js", ""), bomb])
      expect(zip.length).toBeLessThan(1024 * 1024)
      expect(yield* problem(zip)).toBe(
        "b.zip: its files unpack to more than 67108864 bytes (64 MiB), the limit (reached at data.bin, 104857600 bytes); nothing was unpacked"
      )
      // the entry's data is never inflated: garbage in place of its Deflate stream changes nothing
      const garbled = Buffer.from(zip)
      const at = garbled.indexOf("data.bin") + "data.bin".length
      garbled.fill(0xff, at, at + 1000)
      expect(yield* problem(new Uint8Array(garbled))).toContain("its files unpack to more than 67108864 bytes")
    })
  )

  it.effect("a bot-config.yaml over 1 MiB is refused by its declared size", () =>
    Effect.gen(function* () {
      const yaml = `name: big\ntype: realtime\nruntime: nodejs20\nentrypoints:\n  bot: main.js\n# ${"x".repeat(1024 * 1024)}\n`
      const zip = makeZip([file("bot-config.yaml", yaml), file("main.js", "")])
      expect(yield* problem(zip)).toBe(`b.zip: bot-config.yaml is ${yaml.length} bytes; the limit is 1048576 (1 MiB)`)
    })
  )
})
