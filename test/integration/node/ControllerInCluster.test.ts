/**
 * The controller deployed in the cluster by the project's own manifests (deploy/kubernetes/the0-runtime.yaml: the
 * ServiceAccount, the least-privilege Role, two replicas with Lease leader election, the QueryServer Service), from
 * the image scripts/images builds, on the testbed's node: it reaches the API server through the `kubernetes`
 * Service with its service account, MongoDB, NATS and MinIO through the Pod network, and its bots run as Pods
 * beside it. The QueryServer Service answers from this machine; killing the leader during a burst of 50 bots ends
 * with exactly one Pod per bot.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { CoordinationV1Api, CoreV1Api, type V1Deployment } from "@kubernetes/client-node"
import { Effect } from "effect"
import { parseAllDocuments } from "yaml"
import {
  clearStore,
  dropEventsStream,
  env,
  freshEventsStream,
  freshNamespace,
  httpText,
  kubeConfig,
  podsOf,
  publish,
  until
} from "../controller/Harness.ts"
import { uniqueName } from "../testbed/env.ts"
import { allReady, apply, image, incidents, nodeBot, runningPod, the0Secrets, uploadCode } from "./NodeWorld.ts"

type Doc = {
  kind: string
  metadata: { name: string; namespace?: string }
  subjects?: Array<{ namespace?: string }>
}

/** The project's manifests for `namespace`, the Deployment pointed at the testbed's servers and image. */
const manifests = (namespace: string): Array<Doc> =>
  parseAllDocuments(readFileSync("deploy/kubernetes/the0-runtime.yaml", "utf8")).map((d) => {
    const doc = d.toJSON() as Doc
    const placed: Doc = {
      ...doc,
      metadata: { ...doc.metadata, namespace },
      ...(doc.subjects === undefined ? {} : { subjects: doc.subjects.map((s) => ({ ...s, namespace })) })
    }
    if (doc.kind !== "Deployment") return placed
    const deployment = placed as unknown as V1Deployment
    const [container] = deployment.spec?.template.spec?.containers ?? []
    if (container === undefined) throw new Error("the Deployment has no container")
    container.image = image
    container.imagePullPolicy = "Never"
    container.args = [
      `--namespace=${namespace}`,
      "--reconcile-interval=30s",
      `--minio-endpoint=${env.MINIO_ENDPOINT}`,
      `--runtime-image=${image}`,
      "--runtime-image-pull-policy=Never",
      "--lease-duration=6s",
      "--renew-deadline=4s",
      "--retry-period=1s"
    ]
    container.env = (container.env ?? []).map((e) => (e.name === "NATS_URL" ? { ...e, value: env.NATS_URL } : e))
    return placed
  })

const deploy = (namespace: string) => Effect.andThen(the0Secrets(namespace), apply(namespace, manifests(namespace)))

const controllerPods = (namespace: string) =>
  Effect.map(podsOf(namespace), (pods) =>
    pods.filter((p) => p.metadata?.labels?.["app.kubernetes.io/component"] === "bot-controller")
  )

const leaseHolder = (namespace: string) =>
  Effect.promise(() =>
    kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: "the0-runtime-controller", namespace })
      .then(
        (lease) => lease.spec?.holderIdentity ?? "",
        () => ""
      )
  )

describe("the controller deployed in the cluster by the project's manifests", () => {
  it.live(
    "two replicas elect a leader and run bots as Pods; the QueryServer Service answers; a leader killed during a burst of 50 bots leaves one Pod per bot",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        // as in the0: the API publishes into the THE0_EVENTS stream, so an event handed to a killed replica is
        // redelivered to another one
        yield* freshEventsStream
        yield* Effect.addFinalizer(() => Effect.orDie(dropEventsStream))
        const ns = yield* freshNamespace
        yield* deploy(ns)
        const replicas = yield* until(
          Effect.flatMap(controllerPods(ns), (pods) => {
            const ready = pods.filter(
              (p) => p.metadata?.deletionTimestamp === undefined && p.status?.containerStatuses?.[0]?.ready === true
            )
            return ready.length === 2 ? Effect.succeed(ready) : Effect.fail(pods.map((p) => p.status))
          }),
          120_000
        )
        const holder = yield* until(
          Effect.flatMap(leaseHolder(ns), (h) => (h === "" ? Effect.fail("no leader") : Effect.succeed(h))),
          30_000
        )
        const leader = replicas.find((p) => holder.startsWith(p.metadata?.name ?? "\0"))
        expect(leader, `lease holder ${holder}`).toBeDefined()

        // a realtime bot runs as a Pod; the QueryServer Service answers from this machine
        const id = uniqueName("incluster")
        yield* uploadCode(id)
        yield* publish("the0.bot.created", nodeBot(id, { mode: "loop", interval: 500 }))
        const pod = yield* runningPod(ns, id, 120_000)
        const service = yield* Effect.promise(() =>
          kubeConfig().makeApiClient(CoreV1Api).readNamespacedService({ name: "the0-bot-controller", namespace: ns })
        )
        const answer = yield* until(
          Effect.flatMap(
            Effect.promise(() =>
              fetch(`http://${service.spec?.clusterIP}:9477/query`, {
                method: "POST",
                body: JSON.stringify({ bot_id: id, query_path: "/status" })
              }).then(
                async (r) => ({ status: r.status, body: await r.text() }),
                (e: unknown) => ({ status: 0, body: String(e) })
              )
            ),
            (r) => (r.status === 200 ? Effect.succeed(r) : Effect.fail(r))
          ),
          30_000
        )
        expect(JSON.parse(answer.body).data.botId).toBe(id)
        expect(incidents(pod)).toEqual([])

        // a burst of 50 bots; the leader is killed (no grace) after the first 10 events
        const burst = Array.from({ length: 50 }, (_, i) => `${uniqueName("burst")}-${i}`)
        for (const [i, bot] of burst.entries()) {
          yield* publish("the0.bot.created", nodeBot(bot, { mode: "loop", interval: 1000 }))
          if (i === 9)
            yield* Effect.promise(() =>
              kubeConfig()
                .makeApiClient(CoreV1Api)
                .deleteNamespacedPod({ name: leader?.metadata?.name ?? "", namespace: ns, gracePeriodSeconds: 0 })
            )
        }
        const expected = [id, ...burst].map((b) => `bot-${b}`).sort()
        yield* until(
          Effect.flatMap(podsOf(ns), (pods) => {
            const bots = pods
              .filter((p) => p.metadata?.name?.startsWith("bot-") && p.metadata.deletionTimestamp === undefined)
              .map((p) => p.metadata?.name ?? "")
              .sort()
            return JSON.stringify(bots) === JSON.stringify(expected) ? Effect.void : Effect.fail(bots.length)
          }),
          120_000
        )
        const newHolder = yield* leaseHolder(ns)
        expect(newHolder.startsWith(leader?.metadata?.name ?? "\0")).toBe(false)
        // the first bot ran through the handover untouched
        const after = yield* podsOf(ns)
        const first = after.find((p) => p.metadata?.name === `bot-${id}`)
        expect(first?.metadata?.uid).toBe(pod.metadata?.uid)
        expect(first !== undefined && allReady(first)).toBe(true)
        const health = yield* httpText(`http://${first?.status?.podIP}:9476/health`)
        expect(health.status).toBe(200)
      }).pipe(Effect.scoped),
    420_000
  )
})
