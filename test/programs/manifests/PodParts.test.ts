import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { JsonObject } from "../../../src/domain/Bot.ts"
import { isValidLabelValue } from "../../../src/domain/KubeValidation.ts"
import { botSpec } from "../../../src/programs/manifests/BotSpec.ts"
import { botResources, labelValue, quantityValue } from "../../../src/programs/manifests/PodParts.ts"
import { left, right, testBot } from "./fixtures.ts"

const resourcesFor = (config: JsonObject) => botResources(right(botSpec(testBot({ config }))))

describe("quantityValue", () => {
  it.each([
    ["768Mi", 768 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["500m", 0.5],
    ["1000m", 1],
    ["1", 1],
    ["0.5", 0.5],
    [".5", 0.5],
    ["1.", 1],
    ["2k", 2000],
    ["1e3", 1000],
    ["1E-3", 0.001],
    ["100M", 1e8],
    ["0", 0]
  ])("%j = %d", (text, value) => {
    expect(quantityValue(text)).toBeCloseTo(value, 9)
  })

  it.each(["", "abc", "1GB", "1 Gi", " 1Gi", "-1", "1.2.3", "Mi", "1mi", "1e", "9e18Ei", 512, null])(
    "rejects %j",
    (text) => {
      expect(quantityValue(text)).toBeUndefined()
    }
  )
})

describe("botResources", () => {
  it("defaults: limits 768Mi/500m, requests 256Mi/100m", () => {
    expect(right(resourcesFor({}))).toStrictEqual({
      limits: { memory: "768Mi", cpu: "500m" },
      requests: { memory: "256Mi", cpu: "100m" }
    })
  })

  it("overrides from config, kept as written (1000m is 1 CPU)", () => {
    const resources = right(
      resourcesFor({ memory_limit: "1Gi", cpu_limit: "1000m", memory_request: "256Mi", cpu_request: "200m" })
    )
    expect(resources).toStrictEqual({
      limits: { memory: "1Gi", cpu: "1000m" },
      requests: { memory: "256Mi", cpu: "200m" }
    })
    expect(quantityValue(resources.limits?.cpu)).toBe(1)
  })

  it("invalid, empty, negative or non-string overrides fall back to the defaults", () => {
    expect(
      right(resourcesFor({ memory_limit: "lots", cpu_limit: "", memory_request: "-1Mi", cpu_request: 2 }))
    ).toStrictEqual({
      limits: { memory: "768Mi", cpu: "500m" },
      requests: { memory: "256Mi", cpu: "100m" }
    })
  })

  it("a request above its limit, which the API server refuses, names the request field", () => {
    expect(left(resourcesFor({ memory_request: "1Gi" }))).toMatchObject({
      botId: "test-bot-123",
      field: "config.memory_request",
      message: 'memory request "1Gi" must be less than or equal to the memory limit "768Mi"'
    })
    expect(left(resourcesFor({ cpu_limit: "50m" })).field).toBe("config.cpu_request")
    expect(right(resourcesFor({ memory_request: "1Gi", memory_limit: "1Gi" })).requests?.memory).toBe("1Gi")
  })
})

describe("labelValue", () => {
  it("keeps valid values, sanitises others, leaves empty empty", () => {
    expect(labelValue("1.0.0")).toBe("1.0.0")
    expect(labelValue("1.0.0+build")).toBe("1.0.0build")
    expect(labelValue("")).toBe("")
  })

  it.prop("always gives a valid label value", [fc.string({ maxLength: 120 })], ([text]) => {
    expect(isValidLabelValue(labelValue(text))).toBe(true)
  })

  it.prop(
    "is the identity on valid label values",
    [fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/)],
    ([text]) => {
      expect(labelValue(text)).toBe(text)
    }
  )
})
