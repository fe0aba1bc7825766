/**
 * Kubernetes Events on the testbed's API server (docs/operations.md, "Kubernetes Events"): the Bot Controller, with
 * the live KubeApi and a store in memory, in a namespace of its own, creates a bot Pod and its `Created` Event, which
 * the API server accepts and finds as `kubectl describe pod` looks for it (core/v1, by the Pod's name, kind and uid);
 * a repeat patches its series.
 */
import { describe, expect, it } from "@effect/vitest"
import { CoreV1Api } from "@kubernetes/client-node"
import { Effect, Layer } from "effect"
import * as LiveKubeApi from "../../../src/layers/live/LiveKubeApi.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as Controller from "../../../src/programs/controller/Controller.ts"
import * as ControllerSettings from "../../../src/programs/controller/ControllerSettings.ts"
import * as EventRecorder from "../../../src/programs/controller/EventRecorder.ts"
import { botPods } from "../../../src/programs/controller/OwnedKinds.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"
import { bot, putBot } from "../../programs/controller/ControllerEnv.ts"
import { env, freshNamespace, kubeConfig, until } from "./Harness.ts"

const world = Layer.mergeAll(
  LiveKubeApi.layer({ kubeconfig: env.KUBECONFIG, qps: 50, burst: 100 }),
  MemoryBotStore.layer,
  Metrics.layer
)

/** Our Events among those `kubectl describe pod` shows for that Pod (the scheduler's and the kubelet's left out). */
const describedEvents = (namespace: string, name: string, uid: string) =>
  Effect.promise(() =>
    kubeConfig()
      .makeApiClient(CoreV1Api)
      .listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.name=${name},involvedObject.namespace=${namespace},involvedObject.kind=Pod,involvedObject.uid=${uid}`
      })
  ).pipe(Effect.map((list) => list.items.filter((e) => e.reportingComponent === EventRecorder.reportingController)))

describe("Kubernetes Events on the testbed", () => {
  it.live(
    "a created bot Pod has its Created Event, found as kubectl describe finds it; a repeat patches its series",
    () =>
      Effect.gen(function* () {
        const namespace = yield* freshNamespace
        const settings: ControllerSettings.ControllerSettings = {
          ...ControllerSettings.defaults,
          manifest: { ...ControllerSettings.defaults.manifest, namespace },
          leaderElection: { ...ControllerSettings.defaults.leaderElection, identity: "it-events" }
        }
        const controller = yield* Controller.make(botPods, settings)
        yield* controller.run
        yield* putBot(bot("ev1"))
        yield* controller.notify("ev1")
        const api = yield* KubeApi
        const pod = yield* until(api.get("Pod", namespace, "bot-ev1"), 20_000)
        const uid = pod.metadata.uid ?? ""
        const [created] = yield* until(
          Effect.flatMap(describedEvents(namespace, "bot-ev1", uid), (events) =>
            events.length === 1 ? Effect.succeed(events) : Effect.fail(events.length)
          ),
          20_000
        )
        expect(created?.reason).toBe("Created")
        expect(created?.type).toBe("Normal")
        expect(created?.message).toBe("Created Pod bot-ev1 for bot ev1")
        expect(created?.reportingComponent).toBe(EventRecorder.reportingController)
        expect(created?.reportingInstance).toBe("it-events")

        // the same Event again, straight through a recorder of its own: one Event, its series counted
        const recorder = yield* EventRecorder.make({ namespace, controller: "bot", reportingInstance: "it-events" })
        const repeat: EventRecorder.EventInput = {
          regarding: { apiVersion: "v1", kind: "Pod", name: "bot-ev1", namespace, uid },
          type: "Normal",
          reason: "RolloutWaiting",
          action: "Recreate",
          note: "integration"
        }
        for (let i = 0; i < 3; i++) {
          yield* recorder.record(repeat)
          yield* Effect.sleep("300 millis")
        }
        const waiting = yield* until(
          Effect.flatMap(describedEvents(namespace, "bot-ev1", uid), (events) => {
            const found = events.filter((e) => e.reason === "RolloutWaiting")
            return found.length === 1 && found[0]?.series?.count === 3 ? Effect.succeed(found) : Effect.fail(found)
          }),
          20_000
        )
        expect(waiting).toHaveLength(1)
      }).pipe(Effect.scoped, Effect.provide(world)),
    60_000
  )
})
