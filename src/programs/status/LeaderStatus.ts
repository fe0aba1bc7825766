/**
 * The leader line of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"): the leader-election
 * Lease's holder, and whether it renewed within the lease duration.
 */
import type { Lease } from "../../domain/Kube.ts"

export interface LeaderStatus {
  readonly lease: string
  readonly holder?: string
  readonly renewTime?: string
  readonly leaseDurationSeconds?: number
  readonly transitions?: number
  /** A holder renewed the Lease within its duration. */
  readonly held: boolean
}

/** An empty holder is no holder (a released Lease). */
export const leaderStatus = (lease: Lease, now: number): LeaderStatus => {
  const { holderIdentity, renewTime, leaseDurationSeconds, leaseTransitions } = lease.spec
  const renewed = renewTime === undefined ? Number.NaN : Date.parse(renewTime)
  return {
    lease: lease.metadata.name,
    ...(holderIdentity === undefined || holderIdentity === "" ? {} : { holder: holderIdentity }),
    ...(renewTime === undefined ? {} : { renewTime }),
    ...(leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds }),
    ...(leaseTransitions === undefined ? {} : { transitions: leaseTransitions }),
    held: holderIdentity !== undefined && holderIdentity !== "" && renewed + (leaseDurationSeconds ?? 0) * 1000 >= now
  }
}
