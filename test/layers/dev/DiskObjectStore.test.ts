import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as DiskObjectStore from "../../../src/layers/dev/DiskObjectStore.ts"

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe("DiskObjectStore", () => {
  it.effect("two stores on one directory (the dev process and a bot process) see each other's writes", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(path.join(tmpdir(), "disk-store-"))
      const one = yield* DiskObjectStore.make(dir)
      const two = yield* DiskObjectStore.make(dir)
      yield* one.ensureBucket("bot-state")
      yield* one.put("bot-state", "a/state.tar.gz", bytes("state"), { contentType: "application/gzip" })
      expect(yield* two.bucketExists("bot-state")).toBe(true)
      expect(new TextDecoder().decode(yield* two.get("bot-state", "a/state.tar.gz"))).toBe("state")
      expect((yield* two.stat("bot-state", "a/state.tar.gz")).contentType).toBe("application/gzip")
      yield* two.remove("bot-state", "a/state.tar.gz")
      expect(yield* one.list("bot-state")).toEqual([])
    })
  )
})
