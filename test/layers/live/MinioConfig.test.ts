import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { configFromEnv, readConfig } from "../../../src/layers/live/MinioConfig.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const complete = { MINIO_ENDPOINT: "minio:9000", MINIO_ACCESS_KEY: "a", MINIO_SECRET_KEY: "s" }

describe("MinioConfig", () => {
  it.effect("reads the settings from the ConfigProvider; only MINIO_USE_SSL=true is TLS; MINIO_REGION when set", () =>
    Effect.gen(function* () {
      expect(yield* configFromEnv.pipe(withEnv(complete))).toEqual({
        endpoint: "minio:9000",
        accessKey: "a",
        secretKey: "s",
        useSSL: false
      })
      expect(
        yield* configFromEnv.pipe(withEnv({ ...complete, MINIO_USE_SSL: "true", MINIO_REGION: "auto" }))
      ).toMatchObject({ useSSL: true, region: "auto" })
      expect(yield* configFromEnv.pipe(withEnv({ ...complete, MINIO_USE_SSL: "1" }))).toMatchObject({ useSSL: false })
    })
  )

  it.effect("the first missing or empty variable, in the0's order and words", () =>
    Effect.gen(function* () {
      const message = (env: Record<string, string>, endpoint?: string) =>
        readConfig(endpoint).pipe(
          withEnv(env),
          Effect.flip,
          Effect.map((error) => error.message)
        )
      expect(yield* message({})).toBe("MINIO_ENDPOINT is required")
      expect(yield* message({ ...complete, MINIO_ENDPOINT: "" })).toBe("MINIO_ENDPOINT is required")
      expect(yield* message({ MINIO_ENDPOINT: "m:9000" })).toBe("MINIO_ACCESS_KEY is required")
      expect(yield* message({ MINIO_ENDPOINT: "m:9000", MINIO_ACCESS_KEY: "a" })).toBe("MINIO_SECRET_KEY is required")
      // the controller's --minio-endpoint stands in for MINIO_ENDPOINT, empty or not
      expect(yield* message(complete, "")).toBe("MINIO_ENDPOINT is required")
      expect(yield* readConfig("flag:9000").pipe(withEnv(complete))).toMatchObject({ endpoint: "flag:9000" })
    })
  )
})
