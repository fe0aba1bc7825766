import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { Pod } from "../../../src/domain/Kube.ts"
import { devHostPortAnnotation, Label, ManagedBy } from "../../../src/domain/Labels.ts"
import { botQueryPort } from "../../../src/domain/Query.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as Informer from "../../../src/programs/controller/Informer.ts"
import { hostPortOf, mappedHostPort } from "../../../src/programs/dev/HostPorts.ts"
import { ContainerName } from "../../../src/programs/manifests/PodParts.ts"
import { realtimeEndpoint } from "../../../src/programs/query/BotResolver.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const ns = "the0"

const pod = (annotations: Record<string, string>): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "bot-b1",
    labels: { [Label.botId]: "b1", [Label.managedBy]: ManagedBy.botController },
    annotations
  },
  spec: {
    containers: [{ name: ContainerName.queryServer, image: "x", ports: [{ containerPort: botQueryPort }] }]
  }
})

describe("dev host ports", () => {
  it("reads the dev kubelet's mapping, and only a valid port", () => {
    expect(mappedHostPort(pod({ [devHostPortAnnotation(botQueryPort)]: "40123" }), botQueryPort)).toBe(40123)
    for (const bad of ["0", "65536", "12.5", "x", ""])
      expect(mappedHostPort(pod({ [devHostPortAnnotation(botQueryPort)]: bad }), botQueryPort)).toBeUndefined()
    expect(mappedHostPort(pod({ [devHostPortAnnotation(9999)]: "40123" }), botQueryPort)).toBeUndefined()
    expect(hostPortOf(pod({}), botQueryPort)).toBe(botQueryPort)
  })

  it.scoped(
    "the resolver reaches the mapped port only when dev gives its map; a cluster's Pod is reached on its own",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const informer = yield* Informer.make(
          "Pod",
          { namespace: ns, labelSelector: "", indexLabels: [Label.botId], watchdog: "60 seconds" },
          {}
        )
        yield* informer.synced
        const created = yield* api.create("Pod", ns, pod({ [devHostPortAnnotation(botQueryPort)]: "40123" }))
        informer.observeWrite(created)
        const running = yield* api.patchStatus("Pod", ns, "bot-b1", {
          phase: "Running",
          podIP: "127.0.0.1",
          containerStatuses: [{ name: ContainerName.queryServer, ready: true, restartCount: 0 }]
        })
        informer.observeWrite(running)
        const port = (portOf?: typeof hostPortOf) => Option.map(realtimeEndpoint(informer, "b1", portOf), (e) => e.port)
        expect(port()).toEqual(Option.some(botQueryPort))
        expect(port(hostPortOf)).toEqual(Option.some(40123))
      }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )
})
