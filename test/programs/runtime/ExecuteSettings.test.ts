import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { defaultFlags, executeSettings } from "../../../src/programs/runtime/ExecuteSettings.ts"
import { storageSettings } from "../../../src/programs/runtime/StorageSettings.ts"

const required = { BOT_ID: "b", RUNTIME: "nodejs20", ENTRYPOINT: "main.js" }

describe("ExecuteSettings", () => {
  it("names the first missing required variable, in the0's words", () => {
    expect(executeSettings({}, defaultFlags)).toMatchObject({ message: "BOT_ID environment variable is required" })
    expect(executeSettings({ BOT_ID: "b" }, defaultFlags)).toMatchObject({
      message: "RUNTIME environment variable is required"
    })
    expect(executeSettings({ BOT_ID: "b", RUNTIME: "x" }, defaultFlags)).toMatchObject({
      message: "ENTRYPOINT environment variable is required"
    })
  })

  it("defaults, overrides, set-but-empty paths and the --query flag", () => {
    const defaults = executeSettings(required, defaultFlags)
    expect(defaults).toMatchObject({
      codePath: "/bot",
      statePath: "/state",
      logsPath: "/var/the0/logs",
      stateDir: "/state/.the0-state",
      isScheduled: false,
      queryDir: "/query",
      doneFile: "/var/the0/done",
      wrappersDir: "/app/wrappers"
    })
    const custom = executeSettings(
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
      codePath: "/c",
      statePath: "",
      stateDir: "/.the0-state",
      isScheduled: true,
      queryResultKey: "k",
      queryPath: "/flag"
    })
    expect("stopGrace" in custom && Duration.toMillis(custom.stopGrace)).toBe(3000)
    expect(executeSettings({ ...required, IS_SCHEDULED: "TRUE", QUERY_PATH: "/env" }, defaultFlags)).toMatchObject({
      isScheduled: false,
      queryPath: "/env"
    })
  })

  it("storage settings: bucket overrides and MiB limits, invalid values ignored", () => {
    expect(storageSettings({})).toEqual({
      codeBucket: "custom-bots",
      stateBucket: "bot-state",
      logsBucket: "bot-logs",
      queryResultsBucket: "query-results",
      maxStateFileSize: 10 * 1024 * 1024,
      maxStateSize: 8192 * 1024 * 1024
    })
    expect(
      storageSettings({
        MINIO_LOGS_BUCKET: "logs2",
        MINIO_STATE_BUCKET: "state2",
        MAX_STATE_SIZE_MB: "100",
        MAX_STATE_FILE_SIZE_MB: "5"
      })
    ).toMatchObject({
      logsBucket: "logs2",
      stateBucket: "state2",
      maxStateSize: 100 * 1024 * 1024,
      maxStateFileSize: 5 * 1024 * 1024
    })
    expect(storageSettings({ MAX_STATE_SIZE_MB: "abc", MAX_STATE_FILE_SIZE_MB: "" })).toMatchObject({
      maxStateSize: 8192 * 1024 * 1024,
      maxStateFileSize: 10 * 1024 * 1024
    })
  })
})
