/**
 * The KubeApi contract: what every implementation (the fake cluster, the live client against a real API
 * server) must do. Uses only the port; names are unique per run so it can run against a shared server.
 */
import { describe, expect, layer as withLayer } from "@effect/vitest"
import { Chunk, Effect, Either, type Layer, Stream } from "effect"
import {
  type CronJob,
  type Job,
  type KubeEvent,
  type Lease,
  microTime,
  type Pod,
  type Secret
} from "../../src/domain/Kube.ts"
import { KubeApi } from "../../src/services/KubeApi.ts"
import { eventually, uniqueSuffix } from "./Eventually.ts"

const pod = (name: string, labels: Record<string, string> = {}): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels },
  spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox:1.36", command: ["sleep", "3600"] }] }
})

const jobTemplate = {
  backoffLimit: 0,
  template: { spec: { restartPolicy: "Never" as const, containers: [{ name: "main", image: "busybox:1.36" }] } }
}

const cronJob = (name: string, schedule = "0 9 * * *"): CronJob => ({
  apiVersion: "batch/v1",
  kind: "CronJob",
  metadata: { name, labels: { suite: "contract" } },
  spec: { schedule, concurrencyPolicy: "Forbid", suspend: true, jobTemplate: { spec: jobTemplate } }
})

export const kubeApiContract = (name: string, layer: Layer.Layer<KubeApi, unknown>, namespace = "the0") =>
  describe(`KubeApi contract: ${name}`, () => {
    withLayer(layer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
      it.effect("create assigns identity; a second create is AlreadyExists; get returns it", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const n = `c-create-${uniqueSuffix()}`
          const created = yield* api.create("Pod", namespace, pod(n, { app: "x" }))
          expect(created.metadata.uid).toBeTruthy()
          expect(created.metadata.resourceVersion).toBeTruthy()
          expect(created.metadata.namespace).toBe(namespace)
          expect(created.status?.phase).toBe("Pending")
          const again = yield* Effect.either(api.create("Pod", namespace, pod(n)))
          expect(Either.isLeft(again) && again.left._tag).toBe("KubeAlreadyExists")
          const got = yield* api.get("Pod", namespace, n)
          expect(got.metadata.uid).toBe(created.metadata.uid)
          expect(got.metadata.labels?.app).toBe("x")
          yield* api.delete("Pod", namespace, n, { gracePeriodSeconds: 0 })
        })
      )

      it.effect("get and delete of a missing object are NotFound with code 404", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const got = yield* Effect.either(api.get("Pod", namespace, `c-missing-${uniqueSuffix()}`))
          expect(Either.isLeft(got) && got.left._tag).toBe("KubeNotFound")
          expect(Either.isLeft(got) && got.left.code).toBe(404)
          const deleted = yield* Effect.either(api.delete("CronJob", namespace, `c-missing-${uniqueSuffix()}`))
          expect(Either.isLeft(deleted) && deleted.left._tag).toBe("KubeNotFound")
        })
      )

      it.effect("the API server's validation: bad label value, long CronJob name, bad name are Invalid (422)", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const badLabel = yield* Effect.either(
            api.create("Pod", namespace, pod(`c-bad-${uniqueSuffix()}`, { "the0.app/v": "1.0.0+build" }))
          )
          expect(Either.isLeft(badLabel) && badLabel.left._tag).toBe("KubeInvalid")
          if (Either.isLeft(badLabel) && badLabel.left._tag === "KubeInvalid") {
            expect(badLabel.left.code).toBe(422)
            expect(badLabel.left.causes.map((c) => c.field).join(" ")).toContain("metadata.labels")
          }
          const longName = `c-long-${"x".repeat(50)}`.slice(0, 53)
          const long = yield* Effect.either(api.create("CronJob", namespace, cronJob(longName)))
          expect(Either.isLeft(long) && long.left._tag).toBe("KubeInvalid")
          const upper = yield* Effect.either(api.create("Pod", namespace, pod(`C-Upper-${uniqueSuffix()}`)))
          expect(Either.isLeft(upper) && upper.left._tag).toBe("KubeInvalid")
        })
      )

      it.effect("dry-run create validates without persisting", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const n = `c-dry-${uniqueSuffix()}`
          const dry = yield* api.create("CronJob", namespace, cronJob(n), { dryRun: true })
          expect(dry.metadata.name).toBe(n)
          const got = yield* Effect.either(api.get("CronJob", namespace, n))
          expect(Either.isLeft(got) && got.left._tag).toBe("KubeNotFound")
        })
      )

      it.effect("update needs the current resourceVersion: stale is Conflict, current replaces", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const n = `c-upd-${uniqueSuffix()}`
          const created = yield* api.create("CronJob", namespace, cronJob(n))
          const updated = yield* api.update("CronJob", namespace, {
            ...created,
            spec: { ...created.spec, schedule: "0 10 * * *" }
          })
          expect(updated.spec.schedule).toBe("0 10 * * *")
          expect(updated.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion)
          const stale = yield* Effect.either(
            api.update("CronJob", namespace, { ...created, spec: { ...created.spec, schedule: "0 11 * * *" } })
          )
          expect(Either.isLeft(stale) && stale.left._tag).toBe("KubeConflict")
          expect(Either.isLeft(stale) && stale.left.code).toBe(409)
          expect((yield* api.get("CronJob", namespace, n)).spec.schedule).toBe("0 10 * * *")
          yield* api.delete("CronJob", namespace, n)
        })
      )

      it.effect("list honours equality and set-based label selectors", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const run = uniqueSuffix()
          yield* api.create("Pod", namespace, pod(`c-sel-a-${run}`, { run, tier: "a" }))
          yield* api.create("Pod", namespace, pod(`c-sel-b-${run}`, { run, tier: "b" }))
          yield* api.create("Pod", namespace, pod(`c-sel-c-${run}`, { run }))
          const names = (selector: string) =>
            Effect.map(api.list("Pod", namespace, { labelSelector: selector }), (l) =>
              l.items.map((p) => p.metadata.name).sort()
            )
          expect(yield* names(`run=${run},tier=a`)).toEqual([`c-sel-a-${run}`])
          expect(yield* names(`run=${run},tier!=a`)).toEqual([`c-sel-b-${run}`, `c-sel-c-${run}`])
          expect(yield* names(`run=${run},tier in (a,b)`)).toEqual([`c-sel-a-${run}`, `c-sel-b-${run}`])
          expect(yield* names(`run=${run},!tier`)).toEqual([`c-sel-c-${run}`])
          expect(yield* names(`run=${run},tier`)).toEqual([`c-sel-a-${run}`, `c-sel-b-${run}`])
          const list = yield* api.list("Pod", namespace, { labelSelector: `run=${run}` })
          expect(Number(list.resourceVersion)).toBeGreaterThan(0)
          for (const t of ["a", "b", "c"])
            yield* api.delete("Pod", namespace, `c-sel-${t}-${run}`, { gracePeriodSeconds: 0 })
        })
      )

      it.effect("a watch from a list's resourceVersion sees later changes in order, filtered by selector", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const run = uniqueSuffix()
          const start = yield* api.list("CronJob", namespace, { labelSelector: `run=${run}` })
          const events = yield* api
            .watch("CronJob", namespace, { resourceVersion: start.resourceVersion, labelSelector: `run=${run}` })
            .pipe(
              Stream.filter((e) => e.type !== "BOOKMARK"),
              Stream.take(3),
              Stream.runCollect,
              Effect.fork
            )
          const n = `c-watch-${run}`
          const created = yield* api.create("CronJob", namespace, {
            ...cronJob(n),
            metadata: { name: n, labels: { run } }
          })
          yield* api.create("CronJob", namespace, {
            ...cronJob(`c-other-${run}`),
            metadata: { name: `c-other-${run}`, labels: { run: "other" } }
          })
          yield* api.update("CronJob", namespace, { ...created, spec: { ...created.spec, schedule: "5 9 * * *" } })
          yield* api.delete("CronJob", namespace, n)
          const seen = Chunk.toReadonlyArray(yield* events.await.pipe(Effect.flatten, Effect.timeout("15 seconds")))
          expect(seen.map((e) => ("object" in e ? `${e.type}:${e.object.metadata.name}` : "BOOKMARK"))).toEqual([
            `ADDED:${n}`,
            `MODIFIED:${n}`,
            `DELETED:${n}`
          ])
          yield* api.delete("CronJob", namespace, `c-other-${run}`)
        })
      )

      it.effect(
        "a Pod never bound to a node is deleted at once; a uid precondition that does not hold is Conflict",
        () =>
          Effect.gen(function* () {
            const api = yield* KubeApi
            const n = `c-del-${uniqueSuffix()}`
            yield* api.create("Pod", namespace, pod(n))
            const wrong = yield* Effect.either(
              api.delete("Pod", namespace, n, { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } })
            )
            expect(Either.isLeft(wrong) && wrong.left._tag).toBe("KubeConflict")
            yield* api.delete("Pod", namespace, n)
            yield* eventually(Effect.flip(api.get("Pod", namespace, n)))
          })
      )

      it.effect("foreground deletion of an owner removes its dependents, then the owner", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const n = `c-fg-${uniqueSuffix()}`
          const owner = yield* api.create("CronJob", namespace, cronJob(n))
          const job: Job = {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: {
              name: `${n}-job`,
              ownerReferences: [
                {
                  apiVersion: "batch/v1",
                  kind: "CronJob",
                  name: n,
                  uid: owner.metadata.uid ?? "",
                  controller: true,
                  blockOwnerDeletion: true
                }
              ]
            },
            spec: jobTemplate
          }
          yield* api.create("Job", namespace, job)
          yield* api.delete("CronJob", namespace, n, { propagationPolicy: "Foreground" })
          yield* eventually(Effect.flip(api.get("Job", namespace, `${n}-job`)), 20_000)
          yield* eventually(Effect.flip(api.get("CronJob", namespace, n)), 20_000)
        })
      )

      it.effect("patchStatus merges into the status subresource and leaves the spec alone", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const n = `c-status-${uniqueSuffix()}`
          // on no node: a kubelet would write the Pod's status between our patches
          const unscheduled = pod(n)
          const created = yield* api.create("Pod", namespace, {
            ...unscheduled,
            spec: { ...unscheduled.spec, nodeSelector: { "the0.test/no-such-node": "true" } }
          })
          const patched = yield* api.patchStatus("Pod", namespace, n, { phase: "Running", podIP: "10.9.8.7" })
          expect(patched.status?.phase).toBe("Running")
          expect(patched.status?.podIP).toBe("10.9.8.7")
          expect(patched.spec.containers).toEqual(created.spec.containers.map((c) => expect.objectContaining(c)))
          const again = yield* api.patchStatus("Pod", namespace, n, { message: "hello" })
          expect(again.status?.phase).toBe("Running")
          expect(again.status?.message).toBe("hello")
          yield* api.delete("Pod", namespace, n, { gracePeriodSeconds: 0 })
        })
      )

      it.effect("Secrets and Leases round-trip; a Lease update with a stale version is Conflict", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const n = `c-sl-${uniqueSuffix()}`
          const secret: Secret = {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: n },
            type: "Opaque",
            data: { key: Buffer.from("value").toString("base64") }
          }
          const s = yield* api.create("Secret", namespace, secret)
          expect(Buffer.from(s.data?.key ?? "", "base64").toString()).toBe("value")
          const lease: Lease = {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: n },
            spec: { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2026-01-01T00:00:00.000000Z" }
          }
          const l1 = yield* api.create("Lease", namespace, lease)
          const l2 = yield* api.update("Lease", namespace, { ...l1, spec: { ...l1.spec, holderIdentity: "b" } })
          expect(l2.spec.holderIdentity).toBe("b")
          const stale = yield* Effect.either(
            api.update("Lease", namespace, { ...l1, spec: { ...l1.spec, holderIdentity: "c" } })
          )
          expect(Either.isLeft(stale) && stale.left._tag).toBe("KubeConflict")
          yield* api.delete("Lease", namespace, n)
          yield* api.delete("Secret", namespace, n)
        })
      )

      it.effect(
        "an Event is created, its series patched; a second create of its name is AlreadyExists, a patch of a missing one NotFound",
        () =>
          Effect.gen(function* () {
            const api = yield* KubeApi
            const n = `c-event-${uniqueSuffix()}`
            const event: KubeEvent = {
              apiVersion: "events.k8s.io/v1",
              kind: "Event",
              metadata: { name: `${n}.1` },
              eventTime: microTime(Date.now()),
              reportingController: "the0.app/runtime",
              reportingInstance: "contract",
              action: "Create",
              reason: "Created",
              regarding: { apiVersion: "v1", kind: "Pod", name: n, namespace },
              note: "contract",
              type: "Normal"
            }
            const created = yield* api.createEvent(namespace, event)
            expect(created.metadata.uid).toBeTruthy()
            expect(created.metadata.namespace).toBe(namespace)
            expect(created.series).toBeUndefined()
            const again = yield* Effect.either(api.createEvent(namespace, event))
            expect(Either.isLeft(again) && again.left._tag).toBe("KubeAlreadyExists")
            const lastObservedTime = microTime(Date.now())
            const patched = yield* api.patchEventSeries(namespace, event.metadata.name, { count: 2, lastObservedTime })
            expect(patched.series).toEqual({ count: 2, lastObservedTime })
            expect(patched.note).toBe("contract")
            const missing = yield* Effect.either(
              api.patchEventSeries(namespace, `${n}.2`, { count: 2, lastObservedTime })
            )
            expect(Either.isLeft(missing) && missing.left._tag).toBe("KubeNotFound")
            const invalid = yield* Effect.either(
              api.createEvent(namespace, { ...event, metadata: { name: `${n}.3` }, reason: "" })
            )
            expect(Either.isLeft(invalid) && invalid.left._tag).toBe("KubeInvalid")
          })
      )

      it.effect("logs of a missing Pod are NotFound", () =>
        Effect.gen(function* () {
          const api = yield* KubeApi
          const logs = yield* Effect.either(api.podLogs(namespace, `c-nolog-${uniqueSuffix()}`))
          expect(Either.isLeft(logs) && logs.left._tag).toBe("KubeNotFound")
        })
      )
    })
  })
