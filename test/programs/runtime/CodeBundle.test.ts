import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { downloadCode, extractZip } from "../../../src/programs/runtime/CodeBundle.ts"
import { sandbox } from "./support/Sandbox.ts"
import { bytes, layerOf, memoryStore } from "./support/Stores.ts"
import { makeZip } from "./support/Zip.ts"

describe("CodeBundle", () => {
  it.scoped("extracts files with their modes, creating directories, overwriting and keeping others", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const zip = makeZip([
        { name: "main.py", data: "print('hi')\n" },
        { name: "lib/utils.py", data: "X = 1\n" },
        { name: "vendor/", directory: true },
        { name: "bin/bot", data: "#!/bin/sh\n", mode: 0o755 }
      ])
      yield* extractZip(zip, box.codePath)
      yield* extractZip(makeZip([{ name: "main.py", data: "print('v2')\n" }]), box.codePath)
      expect(readFileSync(path.join(box.codePath, "main.py"), "utf8")).toBe("print('v2')\n")
      expect(readFileSync(path.join(box.codePath, "lib/utils.py"), "utf8")).toBe("X = 1\n")
      expect(statSync(path.join(box.codePath, "vendor")).isDirectory()).toBe(true)
      expect(statSync(path.join(box.codePath, "bin/bot")).mode & 0o777).toBe(0o755)
      expect(statSync(path.join(box.codePath, "lib/utils.py")).mode & 0o777).toBe(0o644)
    })
  )

  it.scoped("skips entries that would escape the code directory and writes the rest", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const result = yield* extractZip(
        makeZip([
          { name: "../evil.txt", data: "x" },
          { name: "a/../../evil2.txt", data: "x" },
          { name: "./", directory: true },
          { name: "/abs/inside.txt", data: "inside" },
          { name: "ok.txt", data: "ok" }
        ]),
        box.codePath
      )
      expect(result.skipped).toEqual(["../evil.txt", "a/../../evil2.txt", "./"])
      expect(existsSync(path.join(box.root, "evil.txt"))).toBe(false)
      expect(existsSync(path.join(box.root, "evil2.txt"))).toBe(false)
      expect(readFileSync(path.join(box.codePath, "abs/inside.txt"), "utf8")).toBe("inside")
      expect(readFileSync(path.join(box.codePath, "ok.txt"), "utf8")).toBe("ok")
    })
  )

  it.scoped("an empty zip gives an empty directory; a non-zip fails naming the object and writes nothing", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      yield* store.ensureBucket("custom-bots")
      yield* store.put("custom-bots", "u/empty/1", makeZip([]))
      yield* store.put("custom-bots", "u/notzip/1", bytes("this is not a zip file at all"))
      yield* downloadCode("custom-bots", "u/empty/1", box.codePath).pipe(Effect.provide(layerOf(store)))
      expect(readdirSync(box.codePath)).toEqual([])
      const error = yield* Effect.flip(
        downloadCode("custom-bots", "u/notzip/1", box.codePath).pipe(Effect.provide(layerOf(store)))
      )
      expect(error.message).toContain("custom-bots/u/notzip/1")
      expect(error.message).toContain("failed to open zip")
      expect(readdirSync(box.codePath)).toEqual([])
      expect(text(yield* store.get("custom-bots", "u/notzip/1"))).toBe("this is not a zip file at all")
    })
  )

  it.scoped("a missing object or bucket is an error; an empty CODE_FILE skips the download", () =>
    Effect.gen(function* () {
      const box = yield* sandbox
      const store = yield* memoryStore
      const run = (bucket: string, key: string) =>
        downloadCode(bucket, key, box.codePath).pipe(Effect.provide(layerOf(store)))
      expect((yield* Effect.flip(run("custom-bots", "missing"))).message).toContain("no such bucket: custom-bots")
      yield* store.ensureBucket("custom-bots")
      expect((yield* Effect.flip(run("custom-bots", "missing"))).message).toContain("no such key")
      const fresh = path.join(box.root, "fresh")
      yield* downloadCode("custom-bots", "", fresh).pipe(Effect.provide(layerOf(store)))
      expect(existsSync(fresh)).toBe(false)
    })
  )
})

const text = (data: Uint8Array) => new TextDecoder().decode(data)
