/**
 * `the0-runtime status` against the testbed: a bot whose Pod cannot start on the real node (the MinIO credentials
 * Secret it reads is missing) is shown failing with the kubelet's reason, by the report and by the command itself.
 * Runs in a namespace of its own with a bot document of its own, both removed afterwards.
 */
import { execFile } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { MongoClient } from "mongodb"
import { Collections } from "../../../src/domain/Bot.ts"
import * as ControllerSettings from "../../../src/programs/controller/ControllerSettings.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { gather, gatherBot } from "../../../src/programs/status/Gather.ts"
import type { BotStore } from "../../../src/services/BotStore.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { statusBackends } from "../../../src/statusBackends.ts"
import { apiDocument, env, freshNamespace, until } from "../controller/Harness.ts"
import { requireEnv, uniqueName } from "../testbed/env.ts"

const { THE0_RUNTIME_IMAGE: image, THE0_TESTBED_NODE: node } = requireEnv("THE0_RUNTIME_IMAGE", "THE0_TESTBED_NODE")

const withBots = <A>(f: (bots: ReturnType<ReturnType<MongoClient["db"]>["collection"]>) => Promise<A>) =>
  Effect.promise(async () => {
    const client = await MongoClient.connect(env.MONGO_URI)
    try {
      return await f(client.db(Collections.bots.database).collection(Collections.bots.collection))
    } finally {
      await client.close()
    }
  })

const cli = (args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile("./bin/the0-runtime", ["status", ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })
        )
      )
  )

const backends = statusBackends.cluster({
  mongoUri: env.MONGO_URI,
  kubeconfig: env.KUBECONFIG,
  kubeQps: 50,
  kubeBurst: 100
})

describe("the0-runtime status on the testbed", () => {
  it.live("a bot whose Pod cannot start is failing, with the kubelet's reason", () =>
    Effect.gen(function* () {
      const namespace = yield* freshNamespace
      const id = uniqueName("status")
      const document = apiDocument(id)
      // other tests may empty the shared collection: the document is written again before each reading
      const write = withBots((bots) => bots.replaceOne({ _id: id as never }, document, { upsert: true }))
      yield* write
      yield* Effect.addFinalizer(() => withBots((bots) => bots.deleteOne({ _id: id as never })))
      const manifest = {
        ...ControllerSettings.defaults.manifest,
        namespace,
        minioEndpoint: env.MINIO_ENDPOINT,
        runtimeImage: image,
        imagePullPolicy: "Never" as const,
        minioSecret: { ...ControllerSettings.defaults.manifest.minioSecret, name: "no-such-secret" }
      }
      const pod = Either.getOrThrow(botPods.build(manifest, document))
      const api = yield* KubeApi
      // bound to the node, so that the kubelet, not the scheduler, gives the reason
      yield* api.create("Pod", namespace, { ...pod, spec: { ...pod.spec, nodeName: node } })

      const target = { namespace, leaseName: ControllerSettings.defaults.leaderElection.leaseName }
      const services = yield* Effect.context<KubeApi | BotStore>()
      const failing = yield* until(
        Effect.flatMap(Effect.andThen(write, gather(target)).pipe(Effect.provide(services)), (report) => {
          const bot = report.bots.items.find((b) => b.id === id)
          return bot?.state === "failing" ? Effect.succeed(bot) : Effect.fail(bot)
        }),
        90_000
      )
      expect(failing.pod?.name).toBe(`bot-${id}`)
      expect(failing.reasons.join("; ")).toMatch(/CreateContainerConfigError: secret "no-such-secret" not found/)

      yield* write
      const story = yield* gatherBot(target, id)
      expect(story.document).toMatchObject({ enabled: true, runtime: "python3.11", version: "1.0.0" })
      expect(story.status.state).toBe("failing")
      expect(story.pods.map((p) => p.name)).toEqual([`bot-${id}`])

      yield* write
      const shown = yield* cli(["--namespace", namespace, "--kubeconfig", env.KUBECONFIG, "--mongo-uri", env.MONGO_URI])
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stdout).toMatch(
        new RegExp(`^${id}\\s+failing\\s+bot-${id}\\s+Pending\\s+0\\s+.*CreateContainerConfigError`, "m")
      )
      yield* write
      const json = yield* cli(["--namespace", namespace, "--bot", id, "-o", "json"])
      expect(json.code, json.stderr).toBe(0)
      expect(JSON.parse(json.stdout)).toMatchObject({ id, status: { state: "failing" } })

      // NATS answers where ingest stands, whatever other tests left in the stream
      const withIngest = yield* cli(["--namespace", namespace, "--nats-url", env.NATS_URL, "-o", "json"])
      expect(withIngest.code, withIngest.stderr).toBe(0)
      expect(["no-stream", "no-consumer", "reading"]).toContain(JSON.parse(withIngest.stdout).ingest.state)
    }).pipe(Effect.provide(backends), Effect.scoped)
  )
})
