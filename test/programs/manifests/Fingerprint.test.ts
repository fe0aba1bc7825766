import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { Bot, JsonObject } from "../../../src/domain/Bot.ts"
import type { Pod } from "../../../src/domain/Kube.ts"
import { Annotation } from "../../../src/domain/Labels.ts"
import { botPod } from "../../../src/programs/manifests/BotPod.ts"
import {
  canonicalJson,
  fingerprint,
  goJson,
  sha256Hex16,
  withFingerprint
} from "../../../src/programs/manifests/Fingerprint.ts"
import { defaults, type ManifestSettings } from "../../../src/programs/manifests/ManifestSettings.ts"
import { right, testBot } from "./fixtures.ts"

const hashOf = (settings: ManifestSettings, bot: Bot): string | undefined =>
  right(botPod(settings, bot)).metadata.annotations?.[Annotation.configHash]

const base = hashOf(defaults, testBot())

/** The same value with the keys of every object in reverse order. */
const reverseKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reverseKeys)
  if (value !== null && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .reverse()
        .map(([k, v]) => [k, reverseKeys(v)])
    )
  return value
}

const jsonConfig = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 })

describe("canonicalJson", () => {
  it("sorts keys at every level, no whitespace, drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"e":2,"f":1}]},"b":1}'
    )
    expect(canonicalJson(undefined)).toBe("null")
    expect(canonicalJson([undefined, Number.NaN])).toBe("[null,null]")
    expect(canonicalJson(10n)).toBe("10")
    expect(canonicalJson(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"')
  })

  it("goJson escapes as Go does", () => {
    expect(goJson({ html: "<a href='x'>&</a>", sep: "\u2028\u2029" })).toBe(
      '{"html":"\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e","sep":"\\u2028\\u2029"}'
    )
  })

  it.prop("is JSON that parses back to the same value", [fc.jsonValue()], ([value]) => {
    expect(JSON.parse(canonicalJson(value))).toStrictEqual(JSON.parse(JSON.stringify(value)))
    expect(JSON.parse(goJson(value))).toStrictEqual(JSON.parse(JSON.stringify(value)))
  })

  it.prop("ignores key order", [fc.jsonValue()], ([value]) => {
    expect(canonicalJson(reverseKeys(value))).toBe(canonicalJson(value))
  })
})

describe("fingerprint", () => {
  it("is 16 hex characters of SHA-256", () => {
    expect(sha256Hex16("")).toBe("e3b0c44298fc1c14")
    expect(base).toMatch(/^[0-9a-f]{16}$/)
  })

  it("ignores the value already stored under its own annotation, and nothing else", () => {
    const pod = right(botPod(defaults, testBot()))
    expect(fingerprint(pod, Annotation.configHash)).toBe(base)
    const annotated: Pod = { ...pod, metadata: { ...pod.metadata, annotations: { other: "x" } } }
    expect(fingerprint(annotated, Annotation.configHash)).not.toBe(base)
    expect(withFingerprint(annotated, Annotation.configHash).metadata.annotations).toStrictEqual({
      other: "x",
      [Annotation.configHash]: fingerprint(annotated, Annotation.configHash)
    })
  })

  it("the same input always gives the same value", () => {
    expect(hashOf(defaults, testBot())).toBe(base)
    expect(hashOf({ ...defaults }, { ...testBot() })).toBe(base)
  })

  it.each<[string, ManifestSettings, Bot]>([
    ["runtime image", { ...defaults, runtimeImage: "runtime:1.3.3" }, testBot()],
    ["pull policy", { ...defaults, imagePullPolicy: "Always" }, testBot()],
    ["MinIO endpoint", { ...defaults, minioEndpoint: "minio.other:9000" }, testBot()],
    ["MinIO SSL", { ...defaults, minioUseSSL: true }, testBot()],
    ["credentials Secret", { ...defaults, minioSecret: { ...defaults.minioSecret, name: "the0-secrets" } }, testBot()],
    ["grace period", { ...defaults, terminationGracePeriodSeconds: 30 }, testBot()],
    ["namespace", { ...defaults, namespace: "other" }, testBot()],
    ["bot entrypoint", defaults, testBot({ entrypoints: { bot: "bot.py" } })],
    ["query entrypoint", defaults, testBot({ entrypoints: { bot: "main.py", query: "query.py" } })],
    ["config value", defaults, testBot({ config: { symbol: "ETH/USD", interval: "1m" } })],
    ["config resources", defaults, testBot({ config: { symbol: "BTC/USD", interval: "1m", cpu_limit: "1" } })],
    ["file path", defaults, testBot({ filePath: "user-1/test-bot/v1.0.1.zip" })],
    ["runtime", defaults, testBot({ runtime: "nodejs20" })],
    ["version", defaults, testBot({ version: "1.0.1" })],
    ["custom bot name", defaults, testBot({ name: "renamed" })]
  ])("changes with the %s", (_what, settings, bot) => {
    expect(hashOf(settings, bot)).not.toBe(base)
  })

  it("does not change with settings that do not reach the Pod", () => {
    expect(hashOf({ ...defaults, queryJobTtlSeconds: 10 }, testBot())).toBe(base)
  })

  it.prop("is deterministic and independent of the config's key order", [jsonConfig], ([config]) => {
    const bot = testBot({ config })
    const hash = hashOf(defaults, bot)
    expect(hashOf(defaults, testBot({ config: reverseKeys(config) as JsonObject }))).toBe(hash)
    expect(hashOf(defaults, testBot({ config: structuredClone(config) }))).toBe(hash)
  })

  it.prop("differs for configs with different content", [jsonConfig, jsonConfig], ([a, b]) => {
    fc.pre(canonicalJson(a) !== canonicalJson(b))
    expect(hashOf(defaults, testBot({ config: a }))).not.toBe(hashOf(defaults, testBot({ config: b })))
  })
})
