import { execFile } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { parse } from "yaml"
import { render } from "../../../src/programs/cli/Render.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { bot, pods, putBot, schedule, settings, settle, world } from "../controller/ControllerEnv.ts"

const run = (args: ReadonlyArray<string>, input: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile("./bin/the0-runtime", [...args], (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })
    )
    child.stdin?.end(input)
  })

const request = (target: "pod" | "cronjob" | "query-job", input: unknown) => ({
  target,
  settings: settings.manifest,
  input: typeof input === "string" ? input : JSON.stringify(input),
  queryPath: "price",
  params: undefined,
  suffix: "1764147600000000000-ab12cd"
})

describe("render", () => {
  it.scoped("prints exactly the Pod the controller creates for the same document and settings", () =>
    Effect.gen(function* () {
      const doc = bot("r1", { symbol: "ETH/USD" })
      const rendered = Either.getOrThrow(render(request("pod", doc)))
      yield* putBot(doc)
      const controller = yield* Controller.make(botPods, settings)
      yield* controller.run
      yield* settle
      const [created] = yield* pods
      const {
        uid: _u,
        resourceVersion: _r,
        creationTimestamp: _c,
        generation: _g,
        managedFields: _m,
        ...meta
      } = created?.metadata ?? { name: "" }
      expect({
        ...created,
        metadata: meta,
        status: undefined,
        spec: { ...created?.spec, nodeName: undefined }
      }).toEqual({
        ...rendered,
        status: undefined,
        spec: { ...(rendered as { spec: object }).spec, nodeName: undefined }
      })
    }).pipe(Effect.provide(world()))
  )

  it.effect("renders a CronJob and a query Job", () =>
    Effect.sync(() => {
      const cronJob = Either.getOrThrow(render(request("cronjob", schedule("s1", "0 0 9 * * *")))) as {
        spec: { schedule: string }
      }
      expect(cronJob.spec.schedule).toBe("0 9 * * *")
      const job = Either.getOrThrow(
        render({ ...request("query-job", bot("q1")), params: '{"symbol":"BTC"}', timeoutSec: 10 })
      ) as {
        metadata: { name: string }
        spec: {
          activeDeadlineSeconds: number
          template: {
            spec: {
              initContainers: ReadonlyArray<{ name: string; args: ReadonlyArray<string> }>
              containers: ReadonlyArray<{ env: ReadonlyArray<{ name: string; value?: string }> }>
            }
          }
        }
      }
      expect(job.metadata.name).toBe("query-q1-1764147600000000000-ab12cd")
      expect(job.spec.activeDeadlineSeconds).toBe(40)
      const env = job.spec.template.spec.containers[0]?.env ?? []
      expect(env.find((e) => e.name === "QUERY_PATH")?.value).toBe("/price")
      expect(env.find((e) => e.name === "QUERY_PARAMS")?.value).toBe('{"symbol":"BTC"}')
      const result = job.spec.template.spec.initContainers.find((c) => c.name === "result")
      expect(result?.args.slice(0, 2)).toStrictEqual(["--result-key", "q1/1764147600000000000-ab12cd/result.json"])
    })
  )

  it.effect("bad input names the field", () =>
    Effect.sync(() => {
      const message = (input: unknown, target: "pod" | "cronjob" = "pod") =>
        Either.match(render(request(target, input)), { onLeft: (e) => e.detail, onRight: () => "rendered" })
      expect(message("")).toContain("stdin")
      expect(message("{not json")).toContain("invalid JSON")
      expect(message({ id: "x", custom: { version: 7 } })).toContain("field custom.version")
      expect(message({ ...bot("x"), custom: { ...bot("x").custom, filePath: "a; rm -rf /" } })).toContain(
        "field custom.filePath"
      )
      expect(message(schedule("s", "@every 1h"), "cronjob")).toContain("field config.schedule")
      expect(message({ ...bot("x"), id: "X_Y" })).toContain("field id")
    })
  )

  it.effect(
    "the CLI prints YAML by default and JSON on request; bad input exits 2 with the message on stderr",
    () =>
      Effect.promise(async () => {
        const yaml = await run(["render", "pod"], JSON.stringify(bot("cli1")))
        expect(yaml.code).toBe(0)
        expect((parse(yaml.stdout) as { metadata: { name: string } }).metadata.name).toBe("bot-cli1")
        const json = await run(
          ["render", "cronjob", "--format", "json", "--namespace", "bots"],
          JSON.stringify(schedule("cli2"))
        )
        expect(json.code).toBe(0)
        expect((JSON.parse(json.stdout) as { metadata: { namespace: string } }).metadata.namespace).toBe("bots")
        const bad = await run(["render", "pod"], JSON.stringify({ id: "x", custom: { version: 7 } }))
        expect(bad.code).toBe(2)
        expect(bad.stderr).toContain("custom.version")
        const badFlag = await run(
          ["render", "pod", "--runtime-image-pull-policy", "Sometimes"],
          JSON.stringify(bot("x"))
        )
        expect(badFlag.code).not.toBe(0)
        expect(badFlag.stdout + badFlag.stderr).toContain("runtime-image-pull-policy")
      }),
    { timeout: 60_000 }
  )
})
