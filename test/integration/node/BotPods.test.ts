/**
 * Bots as real Pods on the testbed's node (kubelet, containerd, runc, the CNI bridge), from the runtime image that
 * scripts/images builds: the controller on this machine turns NATS events into Pods whose three containers run the
 * in-pod runtime under the limits the manifests set; queries reach the bot's own query server at its Pod IP; state
 * lives through recreated Pods; a disable saves the final state. Needs `scripts/images build` before `testbed up`.
 */
import { describe, expect, it } from "@effect/vitest"
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node"
import { Effect } from "effect"
import * as Minio from "minio"
import { Bucket, stateKey } from "../../../src/domain/Buckets.ts"
import * as ControllerSettings from "../../../src/programs/controller/ControllerSettings.ts"
import { zipDirectory } from "../../programs/runtime/support/Zip.ts"
import {
  clearStore,
  env,
  freshNamespace,
  httpText,
  kubeConfig,
  podsOf,
  publish,
  startController,
  until
} from "../controller/Harness.ts"
import { storedStateIn } from "../runtime/support/StoredState.ts"
import { requireEnv, uniqueName } from "../testbed/env.ts"

const { THE0_RUNTIME_IMAGE: image } = requireEnv("THE0_RUNTIME_IMAGE")
const [host = "", port = "9000"] = env.MINIO_ENDPOINT.split(":")
const s3 = new Minio.Client({
  endPoint: host,
  port: Number(port),
  useSSL: false,
  accessKey: env.MINIO_ACCESS_KEY,
  secretKey: env.MINIO_SECRET_KEY
})
const core = () => kubeConfig().makeApiClient(CoreV1Api)
const repo = new URL("../../..", import.meta.url).pathname

const nodeBot = (id: string, config: Record<string, unknown>, enabled = true) =>
  JSON.stringify({
    id,
    config: { name: `bot-${id}`, type: "realtime", version: "1.0.0", enabled, ...config },
    custom: {
      config: {
        name: "node-fixture-bot",
        runtime: "nodejs20",
        type: "realtime",
        version: "1.0.0",
        entrypoints: { bot: "main.js", query: "query.js" }
      },
      filePath: `e2e/node-bot/${id}.zip`,
      version: "1.0.0"
    }
  })

const uploadCode = (id: string) =>
  Effect.promise(async () => {
    if (!(await s3.bucketExists(Bucket.code))) await s3.makeBucket(Bucket.code)
    await s3.putObject(
      Bucket.code,
      `e2e/node-bot/${id}.zip`,
      Buffer.from(zipDirectory(`${repo}test/fixtures/bots/node-bot`))
    )
  })

const storedState = (id: string) => Effect.promise(() => storedStateIn(s3, Bucket.state, stateKey(id)))

/** Every container (the sync sidecar included) started and ready. */
const allReady = (pod: V1Pod) =>
  pod.status?.phase === "Running" &&
  [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])].length === 3 &&
  [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])].every((c) => c.ready)

/** The live (not terminating) Pod of a bot, once it runs with every container ready. */
const runningPod = (ns: string, id: string, millis = 90_000) =>
  until(
    Effect.flatMap(podsOf(ns), (pods) => {
      const pod = pods.find((p) => p.metadata?.name === `bot-${id}` && p.metadata.deletionTimestamp === undefined)
      return pod !== undefined && allReady(pod) ? Effect.succeed(pod) : Effect.fail(pod?.status)
    }),
    millis
  )

/** Restarts and OOM kills of a Pod's containers: none is allowed. */
const incidents = (pod: V1Pod) =>
  [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    .filter((c) => c.restartCount > 0 || c.lastState?.terminated?.reason === "OOMKilled")
    .map((c) => `${c.name}: ${c.restartCount} restarts, last ${c.lastState?.terminated?.reason ?? "-"}`)

describe("bots as real Pods on the testbed node", () => {
  it.live(
    "a realtime Node bot: Running with sync, bot and query-server ready; queried through :9477 and at its Pod IP; state kept through a config update and a hand deletion; disable saves the final state",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        const ns = yield* freshNamespace
        const id = uniqueName("e2e")
        yield* uploadCode(id)
        const controller = yield* startController(ns, "e2e", {
          manifest: {
            ...ControllerSettings.defaults.manifest,
            namespace: ns,
            minioEndpoint: env.MINIO_ENDPOINT,
            runtimeImage: image,
            imagePullPolicy: "Never"
          }
        })
        yield* until(
          Effect.flatMap(httpText(`http://127.0.0.1:${controller.healthPort}/readyz`), (r) =>
            r.status === 200 ? Effect.void : Effect.fail(r)
          ),
          20_000
        )

        const created = Date.now()
        yield* publish("the0.bot.created", nodeBot(id, { symbol: "BTC/USD", mode: "loop", interval: 200 }))
        const first = yield* runningPod(ns, id)
        const startup = Date.now() - created

        // the bot's own query server answers at its Pod IP, and through the QueryServer
        const podIP = first.status?.podIP ?? ""
        // the query container is ready once started; the bot's query server follows once the code is on /bot
        const direct = yield* until(
          Effect.flatMap(httpText(`http://${podIP}:9476/status`), (r) =>
            r.status === 200 ? Effect.succeed(r) : Effect.fail(r)
          ),
          30_000
        )
        const answering = Date.now() - created
        expect(JSON.parse(direct.body).data.botId).toBe(id)
        const proxied = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${controller.queryPort}/query`, {
            method: "POST",
            body: JSON.stringify({ bot_id: id, query_path: "/status" })
          }).then(async (r) => ({ status: r.status, body: await r.text() }))
        )
        expect(proxied.status, proxied.body).toBe(200)
        expect(JSON.parse(proxied.body).data).toMatchObject({ botId: id, runs: 1 })

        yield* until(
          Effect.flatMap(storedState(id), (s) => (Number(s.ticks) > 0 ? Effect.void : Effect.fail(s))),
          30_000
        )

        // a config update recreates the Pod; the new one starts from the saved state
        yield* publish("the0.bot.updated", nodeBot(id, { symbol: "ETH/USD", mode: "loop", interval: 200 }))
        const second = yield* until(
          Effect.flatMap(runningPod(ns, id), (pod) =>
            pod.metadata?.uid !== first.metadata?.uid ? Effect.succeed(pod) : Effect.fail("same Pod")
          ),
          120_000
        )
        yield* until(
          Effect.flatMap(storedState(id), (s) => (s.runs === 2 ? Effect.void : Effect.fail(s))),
          30_000
        )

        // a Pod deleted by hand comes back with its state
        yield* Effect.promise(() => core().deleteNamespacedPod({ name: `bot-${id}`, namespace: ns }))
        yield* until(
          Effect.flatMap(runningPod(ns, id), (pod) =>
            pod.metadata?.uid !== second.metadata?.uid ? Effect.succeed(pod) : Effect.fail("same Pod")
          ),
          120_000
        )
        yield* until(
          Effect.flatMap(storedState(id), (s) => (s.runs === 3 ? Effect.void : Effect.fail(s))),
          30_000
        )
        const before = yield* podsOf(ns)
        for (const pod of before) expect(incidents(pod), pod.metadata?.name).toEqual([])

        // disable: the Pod stops gracefully and the final state is saved
        yield* publish("the0.bot.updated", nodeBot(id, { symbol: "ETH/USD", mode: "loop", interval: 200 }, false))
        yield* until(
          Effect.flatMap(podsOf(ns), (pods) => (pods.length === 0 ? Effect.void : Effect.fail(pods.length))),
          90_000
        )
        const final = yield* storedState(id)
        expect(final.stopped).toBe(true)
        expect(final.runs).toBe(3)
        console.log(`event → Pod with 3 ready containers: ${startup} ms; → its query server answers: ${answering} ms`)
        yield* controller.stop
      }).pipe(Effect.scoped),
    420_000
  )
})
