import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, SubscriptionRef, TestClock } from "effect"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as LeaderElection from "../../../src/programs/controller/LeaderElection.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const settle = Effect.repeatN(Effect.yieldNow(), 50)
const settings = (identity: string): LeaderElection.LeaderElectionSettings => ({
  ...LeaderElection.defaults,
  namespace: "the0",
  identity
})
const leading = (e: LeaderElection.LeaderElection) => SubscriptionRef.get(e.isLeader)

describe("LeaderElection", () => {
  it.scoped("exactly one of two replicas leads; the lease names it", () =>
    Effect.gen(function* () {
      const a = yield* LeaderElection.make(settings("a"))
      yield* settle
      const b = yield* LeaderElection.make(settings("b"))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect([yield* leading(a), yield* leading(b)]).toEqual([true, false])
      const lease = yield* (yield* KubeApi).get("Lease", "the0", LeaderElection.defaults.leaseName)
      expect(lease.spec.holderIdentity).toBe("a")
      expect(lease.spec.leaseDurationSeconds).toBe(15)
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a leader that shuts down releases the lease and another replica takes over at its next try", () =>
    Effect.gen(function* () {
      const scopeA = yield* Scope.make()
      const a = yield* LeaderElection.make(settings("a")).pipe(Scope.extend(scopeA))
      yield* settle
      const b = yield* LeaderElection.make(settings("b"))
      yield* settle
      expect(yield* leading(a)).toBe(true)
      yield* Scope.close(scopeA, Exit.void)
      const lease = yield* (yield* KubeApi).get("Lease", "the0", LeaderElection.defaults.leaseName)
      expect(lease.spec.holderIdentity).toBe("")
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* leading(b)).toBe(true)
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a crashed leader (no release) is taken over once the lease duration has passed, not before", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.create("Lease", "the0", {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: LeaderElection.defaults.leaseName },
        spec: { holderIdentity: "crashed", leaseDurationSeconds: 15, renewTime: "2020-01-01T00:00:00.000000Z" }
      })
      const b = yield* LeaderElection.make(settings("b"))
      yield* settle
      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust("2 seconds")
        yield* settle
      }
      expect(yield* leading(b)).toBe(false)
      yield* TestClock.adjust("4 seconds")
      yield* settle
      expect(yield* leading(b)).toBe(true)
      const lease = yield* api.get("Lease", "the0", LeaderElection.defaults.leaseName)
      expect(lease.spec.holderIdentity).toBe("b")
      expect(lease.spec.leaseTransitions).toBe(1)
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a leader whose renewals fail for the renew deadline gives leadership up at once", () =>
    Effect.gen(function* () {
      const a = yield* LeaderElection.make(settings("a"))
      yield* settle
      expect(yield* leading(a)).toBe(true)
      const cluster = yield* MemoryCluster
      yield* cluster.failNext({ verb: "update", kind: "Lease", times: 100, code: 503 })
      yield* cluster.failNext({ verb: "get", kind: "Lease", times: 100, code: 503 })
      for (let i = 0; i < 4; i++) {
        yield* TestClock.adjust("2 seconds")
        yield* settle
      }
      expect(yield* leading(a)).toBe(true)
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* leading(a)).toBe(false)
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped("a leader renews with one update of the lease it wrote, without reading it first", () =>
    Effect.gen(function* () {
      const a = yield* LeaderElection.make(settings("a"))
      yield* settle
      expect(yield* leading(a)).toBe(true)
      const cluster = yield* MemoryCluster
      const before = yield* (yield* KubeApi).get("Lease", "the0", LeaderElection.defaults.leaseName)
      yield* cluster.resetCallCounts
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("2 seconds")
        yield* settle
      }
      const calls = yield* cluster.callCounts
      expect({ get: calls.get, update: calls.update }).toEqual({ get: 0, update: 5 })
      const after = yield* (yield* KubeApi).get("Lease", "the0", LeaderElection.defaults.leaseName)
      expect(after.spec.renewTime).not.toBe(before.spec.renewTime)
      expect(after.spec.acquireTime).toBe(before.spec.acquireTime)
      expect(after.spec.leaseTransitions).toBe(0)
      expect(yield* leading(a)).toBe(true)
    }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )

  it.scoped(
    "a renewal that finds the lease written by another replica reads it and does not overwrite a live holder",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const a = yield* LeaderElection.make(settings("a"))
        yield* settle
        expect(yield* leading(a)).toBe(true)
        const lease = yield* api.get("Lease", "the0", LeaderElection.defaults.leaseName)
        yield* api.update("Lease", "the0", {
          ...lease,
          spec: { ...lease.spec, holderIdentity: "b", renewTime: "2030-01-01T00:00:00.000000Z" }
        })
        yield* TestClock.adjust("2 seconds")
        yield* settle
        const holder = (yield* api.get("Lease", "the0", LeaderElection.defaults.leaseName)).spec.holderIdentity
        expect(holder).toBe("b")
        for (let i = 0; i < 5; i++) {
          yield* TestClock.adjust("2 seconds")
          yield* settle
        }
        expect(yield* leading(a)).toBe(false)
        expect((yield* api.get("Lease", "the0", LeaderElection.defaults.leaseName)).spec.holderIdentity).toBe("b")
      }).pipe(Effect.provide(MemoryKubeApi.layer()))
  )
})
