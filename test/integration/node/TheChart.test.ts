/**
 * Drop-in under the0's own Helm chart: the controller from our image, deployed exactly as the chart deploys the0's
 * (test/fixtures/the0-chart/bot-controller.yaml: its args, env, probes, limits, and a Role with nothing on Secrets),
 * becomes ready, and its bots run as Pods whose MinIO credentials resolve, from the chart's own Secret.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { CoreV1Api } from "@kubernetes/client-node"
import { Effect } from "effect"
import { parseAllDocuments } from "yaml"
import { clearStore, env, freshNamespace, kubeConfig, podsOf, publish, until } from "../controller/Harness.ts"
import { uniqueName } from "../testbed/env.ts"
import { apply, image, incidents, nodeBot, runningPod, the0Secrets, uploadCode } from "./NodeWorld.ts"

const chart = (namespace: string) =>
  parseAllDocuments(
    readFileSync("test/fixtures/the0-chart/bot-controller.yaml", "utf8")
      .replaceAll("@NAMESPACE@", namespace)
      .replaceAll("@IMAGE@", image)
      .replaceAll("@RUNTIME_IMAGE@", image)
      .replaceAll("@MINIO_ENDPOINT@", env.MINIO_ENDPOINT)
      .replaceAll("@NATS_URL@", env.NATS_URL)
  ).map((d) => d.toJSON() as { kind: string })

describe("the controller under the0's own Helm chart", () => {
  it.live(
    "starts with the chart's args and env, and runs bots whose Pods read the credentials from the chart's Secret",
    () =>
      Effect.gen(function* () {
        yield* clearStore
        const ns = yield* freshNamespace
        yield* the0Secrets(ns)
        yield* apply(ns, chart(ns))
        yield* until(
          Effect.flatMap(podsOf(ns), (pods) => {
            const controller = pods.find((p) => p.metadata?.labels?.app === "the0-bot-controller")
            return controller?.status?.containerStatuses?.[0]?.ready === true
              ? Effect.succeed(controller)
              : Effect.fail(controller?.status)
          }),
          120_000
        )
        const id = uniqueName("chart")
        yield* uploadCode(id)
        yield* publish("the0.bot.created", nodeBot(id, { mode: "loop", interval: 500 }))
        const pod = yield* runningPod(ns, id, 120_000)
        const sync = pod.spec?.initContainers?.find((c) => c.name === "sync")
        expect(sync?.env?.find((e) => e.name === "MINIO_ACCESS_KEY")?.valueFrom?.secretKeyRef).toEqual({
          name: "the0-secrets",
          key: "minio-access-key"
        })
        expect(incidents(pod)).toEqual([])
        const secrets = yield* Effect.promise(() =>
          kubeConfig().makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: ns })
        )
        expect(secrets.items.map((s) => s.metadata?.name)).toEqual(["the0-secrets"])
      }).pipe(Effect.scoped),
    300_000
  )
})
