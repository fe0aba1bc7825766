import { describe, expect, it } from "@effect/vitest"
import { childEnv, goValue, queryParamVariables } from "../../../src/programs/runtime/ChildEnv.ts"

const input = {
  botId: "test-bot",
  botConfig: '{"key":"value"}',
  stateDir: "/state/.the0-state",
  codePath: "/bot",
  entrypoint: "main.py",
  runtime: "python3.11",
  botType: "",
  queryPath: "",
  queryParams: ""
}

describe("ChildEnv", () => {
  it("sets the bot's identity, paths and entrypoint", () => {
    const env = childEnv({ PATH: "/usr/bin" }, input)
    expect(env).toMatchObject({
      PATH: "/usr/bin",
      BOT_ID: "test-bot",
      BOT_CONFIG: '{"key":"value"}',
      STATE_DIR: "/state/.the0-state",
      CODE_MOUNT_DIR: "bot",
      SCRIPT_PATH: "main.py",
      ENTRYPOINT_TYPE: "bot",
      PYTHONPATH: "/bot/vendor:/bot",
      PYTHONUNBUFFERED: "1"
    })
    expect(env.BOT_TYPE).toBeUndefined()
    expect(env.QUERY_PATH).toBeUndefined()
  })

  it("keeps an existing PYTHONPATH after ours, for Python only", () => {
    expect(childEnv({ PYTHONPATH: "/existing" }, input).PYTHONPATH).toBe("/bot/vendor:/bot:/existing")
    expect(childEnv({ PYTHONPATH: "/existing" }, { ...input, runtime: "nodejs20" }).PYTHONPATH).toBe("/existing")
  })

  it("strips the object-store and NATS credentials and the legacy variables", () => {
    const env = childEnv(
      {
        MINIO_ENDPOINT: "minio:9000",
        MINIO_ACCESS_KEY: "a",
        MINIO_SECRET_KEY: "s",
        NATS_URL: "nats://u:p@n:4222",
        ID: "legacy",
        CONFIG: "{}",
        KEEP: "me"
      },
      input
    )
    for (const name of ["MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "NATS_URL", "ID", "CONFIG"]) {
      expect(env[name]).toBeUndefined()
    }
    expect(env.KEEP).toBe("me")
    expect(env.MINIO_ENDPOINT).toBe("minio:9000")
  })

  it("passes query inputs, with QUERY_PARAM_<key> in Go's %v format", () => {
    const env = childEnv(
      {},
      { ...input, botType: "realtime", queryPath: "/status", queryParams: '{"limit":10,"offset":20}' }
    )
    expect(env).toMatchObject({
      BOT_TYPE: "realtime",
      QUERY_PATH: "/status",
      QUERY_PARAMS: '{"limit":10,"offset":20}',
      QUERY_PARAM_limit: "10",
      QUERY_PARAM_offset: "20"
    })
    expect(queryParamVariables("[1,2]")).toEqual({})
    expect(queryParamVariables("not json")).toEqual({})
    expect(queryParamVariables('{"a":{"b":1,"a":[1,2]},"n":null,"t":true,"s":"x"}')).toEqual({
      QUERY_PARAM_a: "map[a:[1 2] b:1]",
      QUERY_PARAM_n: "<nil>",
      QUERY_PARAM_t: "true",
      QUERY_PARAM_s: "x"
    })
  })

  it("formats numbers as Go's %v does", () => {
    expect(
      [10, 1.5, 1e6, 123456789, 1e20, 1e21, 0.00001, 0.0001, 100000, 123456, 1234567, 0.000123, 1.5e-7].map(goValue)
    ).toEqual([
      "10",
      "1.5",
      "1e+06",
      "1.23456789e+08",
      "1e+20",
      "1e+21",
      "1e-05",
      "0.0001",
      "100000",
      "123456",
      "1.234567e+06",
      "0.000123",
      "1.5e-07"
    ])
  })
})
