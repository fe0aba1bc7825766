/**
 * Leader election on a `coordination.k8s.io` Lease, as client-go's: acquire when the lease is free or its
 * holder has not renewed within the lease duration (measured on our own clock from when we last saw the record
 * change, so clock skew between replicas does not matter), renew every retry period, and give leadership up at
 * once when a renewal has not succeeded within the renew deadline. Releases the lease on shutdown. A leader renews
 * optimistically, as client-go does: one update on the lease it last wrote, without reading it first; a conflict
 * (someone else wrote it since) falls back to reading it (docs/operations.md, "Controller footprint").
 */
import { Clock, Duration, Effect, Schedule, type Scope, SubscriptionRef } from "effect"
import type { Lease } from "../../domain/Kube.ts"
import { KubeApi } from "../../services/KubeApi.ts"

export interface LeaderElectionSettings {
  readonly namespace: string
  readonly leaseName: string
  readonly identity: string
  readonly leaseDuration: Duration.DurationInput
  readonly renewDeadline: Duration.DurationInput
  readonly retryPeriod: Duration.DurationInput
}

export const defaults = {
  leaseName: "the0-runtime-controller",
  leaseDuration: "15 seconds",
  renewDeadline: "10 seconds",
  retryPeriod: "2 seconds"
} as const

export interface LeaderElection {
  /** True while this replica holds the lease. */
  readonly isLeader: SubscriptionRef.SubscriptionRef<boolean>
  readonly identity: string
}

const micro = (millis: number): string => new Date(millis).toISOString().replace("Z", "000Z")

export const make = (settings: LeaderElectionSettings): Effect.Effect<LeaderElection, never, KubeApi | Scope.Scope> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    const isLeader = yield* SubscriptionRef.make(false)
    const durationMs = Duration.toMillis(settings.leaseDuration)
    const renewDeadlineMs = Duration.toMillis(settings.renewDeadline)
    const { namespace, leaseName, identity } = settings
    let observed: { readonly key: string; readonly at: number } | undefined
    let lastRenewal = 0
    /** The lease as we last wrote it, while we lead: the next renewal updates it without a read. */
    let written: Lease | undefined

    const recordKey = (lease: Lease) =>
      `${lease.spec.holderIdentity ?? ""}|${lease.spec.renewTime ?? ""}|${lease.metadata.resourceVersion ?? ""}`

    const ourLease = (now: number, previous: Lease | undefined): Lease => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: previous?.metadata ?? { name: leaseName },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(durationMs / 1000),
        acquireTime:
          previous?.spec.holderIdentity === identity ? (previous.spec.acquireTime ?? micro(now)) : micro(now),
        renewTime: micro(now),
        leaseTransitions:
          previous === undefined
            ? 0
            : (previous.spec.leaseTransitions ?? 0) + (previous.spec.holderIdentity === identity ? 0 : 1)
      }
    })

    const wrote = (lease: Lease, now: number) => {
      written = lease
      observed = { key: recordKey(lease), at: now }
      return true
    }

    /** One attempt; true when we hold the lease afterwards. */
    const tryAcquireOrRenew = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (written !== undefined && (yield* SubscriptionRef.get(isLeader))) {
        const renewed = yield* Effect.option(api.update("Lease", namespace, ourLease(now, written)))
        if (renewed._tag === "Some") return wrote(renewed.value, now)
      }
      written = undefined
      const current = yield* api.get("Lease", namespace, leaseName).pipe(
        Effect.map((lease): Lease | undefined => lease),
        Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined))
      )
      if (current === undefined) return wrote(yield* api.create("Lease", namespace, ourLease(now, undefined)), now)
      const key = recordKey(current)
      if (observed?.key !== key) observed = { key, at: now }
      const holder = current.spec.holderIdentity ?? ""
      const expired = (observed?.at ?? now) + durationMs <= now
      if (holder !== identity && holder !== "" && !expired) return false
      return wrote(yield* api.update("Lease", namespace, ourLease(now, current)), now)
    }).pipe(Effect.catchAll(() => Effect.succeed(false)))

    const step = Effect.gen(function* () {
      const held = yield* tryAcquireOrRenew
      const now = yield* Clock.currentTimeMillis
      const wasLeader = yield* SubscriptionRef.get(isLeader)
      if (held) lastRenewal = now
      const leader = held || (wasLeader && now - lastRenewal < renewDeadlineMs)
      if (leader !== wasLeader) {
        yield* SubscriptionRef.set(isLeader, leader)
        yield* Effect.logInfo(leader ? `${identity} became the leader` : `${identity} lost the lease`)
      }
    })

    const release = Effect.gen(function* () {
      if (!(yield* SubscriptionRef.get(isLeader))) return
      yield* SubscriptionRef.set(isLeader, false)
      const current = yield* api.get("Lease", namespace, leaseName)
      if (current.spec.holderIdentity !== identity) return
      yield* api.update("Lease", namespace, { ...current, spec: { ...current.spec, holderIdentity: "" } })
    }).pipe(Effect.ignore)

    yield* Effect.addFinalizer(() => release)
    yield* step.pipe(Effect.repeat(Schedule.spaced(settings.retryPeriod)), Effect.forkScoped)
    return { isLeader, identity }
  })
