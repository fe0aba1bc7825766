import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { defaultFlags, type ExecuteFlags, executeSettings } from "../../../src/programs/runtime/ExecuteSettings.ts"
import { storageSettings } from "../../../src/programs/runtime/StorageSettings.ts"
import { withEnv } from "./support/Sandbox.ts"

const required = { BOT_ID: "b", RUNTIME: "nodejs20", ENTRYPOINT: "main.js" }

/** The settings `execute` reads from `env`, or the message of its configuration error. */
const settings = (env: Record<string, string>, flags: ExecuteFlags = defaultFlags) =>
  Effect.runSync(Effect.either(withEnv(env)(executeSettings(flags, env))))

const storage = (env: Record<string, string>) => Effect.runSync(withEnv(env)(storageSettings))

describe("ExecuteSettings", () => {
  it("names the first missing (or empty) required variable, in the0's words", () => {
    expect(settings({})).toMatchObject({ left: { message: "BOT_ID environment variable is required" } })
    expect(settings({ BOT_ID: "b" })).toMatchObject({ left: { message: "RUNTIME environment variable is required" } })
    expect(settings({ BOT_ID: "b", RUNTIME: "x" })).toMatchObject({
      left: { _tag: "ConfigurationError", message: "ENTRYPOINT environment variable is required" }
    })
    expect(settings({ ...required, RUNTIME: "" })).toMatchObject({
      left: { message: "RUNTIME environment variable is required" }
    })
  })

  it("defaults, overrides, set-but-empty paths and the --query flag; the children's environment is the one given", () => {
    const defaults = settings(required)
    expect(defaults).toMatchObject({
      right: {
        codePath: "/bot",
        statePath: "/state",
        logsPath: "/var/the0/logs",
        stateDir: "/state/.the0-state",
        isScheduled: false,
        queryDir: "/query",
        doneFile: "/var/the0/done",
        wrappersDir: "/app/wrappers",
        env: required
      }
    })
    const custom = settings(
      {
        ...required,
        CODE_PATH: "/c",
        STATE_PATH: "",
        IS_SCHEDULED: "true",
        QUERY_RESULT_KEY: "k",
        QUERY_PATH: "/env",
        THE0_STOP_GRACE_SECONDS: "3"
      },
      { ...defaultFlags, query: "/flag" }
    )
    expect(custom).toMatchObject({
      right: {
        codePath: "/c",
        statePath: "",
        stateDir: "/.the0-state",
        isScheduled: true,
        queryResultKey: "k",
        queryPath: "/flag"
      }
    })
    expect(custom._tag === "Right" && Duration.toMillis(custom.right.stopGrace)).toBe(3000)
    expect(settings({ ...required, IS_SCHEDULED: "TRUE", QUERY_PATH: "/env" })).toMatchObject({
      right: { isScheduled: false, queryPath: "/env" }
    })
  })

  it("storage settings: bucket overrides and MiB limits, invalid values ignored", () => {
    expect(storage({})).toEqual({
      codeBucket: "custom-bots",
      stateBucket: "bot-state",
      logsBucket: "bot-logs",
      queryResultsBucket: "query-results",
      maxStateFileSize: 10 * 1024 * 1024,
      maxStateSize: 8192 * 1024 * 1024
    })
    expect(
      storage({
        MINIO_LOGS_BUCKET: "logs2",
        MINIO_STATE_BUCKET: "state2",
        MINIO_CODE_BUCKET: "",
        MAX_STATE_SIZE_MB: "100",
        MAX_STATE_FILE_SIZE_MB: "5"
      })
    ).toMatchObject({
      codeBucket: "custom-bots",
      logsBucket: "logs2",
      stateBucket: "state2",
      maxStateSize: 100 * 1024 * 1024,
      maxStateFileSize: 5 * 1024 * 1024
    })
    expect(storage({ MAX_STATE_SIZE_MB: "abc", MAX_STATE_FILE_SIZE_MB: "" })).toMatchObject({
      maxStateSize: 8192 * 1024 * 1024,
      maxStateFileSize: 10 * 1024 * 1024
    })
  })
})
