/** The leader: the Lease's holder, held while its renewal is within the lease duration. */
import { describe, expect, it } from "@effect/vitest"
import { leaderStatus } from "../../../src/programs/status/LeaderStatus.ts"
import { lease, now } from "./StatusFixtures.ts"

describe("LeaderStatus", () => {
  it("held up to and including renewTime + leaseDurationSeconds, not a millisecond after", () => {
    const spec = {
      holderIdentity: "a",
      renewTime: "2026-03-01T09:59:45Z",
      leaseDurationSeconds: 15,
      leaseTransitions: 2
    }
    expect(leaderStatus(lease(spec), now)).toEqual({
      lease: "the0-runtime-leader",
      holder: "a",
      renewTime: "2026-03-01T09:59:45Z",
      leaseDurationSeconds: 15,
      transitions: 2,
      held: true
    })
    expect(leaderStatus(lease(spec), now + 1).held).toBe(false)
  })

  it("an empty or absent holder, or no renewal, is not held", () => {
    const renewTime = "2026-03-01T09:59:59Z"
    expect(leaderStatus(lease({ holderIdentity: "", renewTime, leaseDurationSeconds: 15 }), now)).toEqual({
      lease: "the0-runtime-leader",
      renewTime,
      leaseDurationSeconds: 15,
      held: false
    })
    expect(leaderStatus(lease({ renewTime, leaseDurationSeconds: 15 }), now).held).toBe(false)
    expect(leaderStatus(lease({ holderIdentity: "a", leaseDurationSeconds: 15 }), now)).toEqual({
      lease: "the0-runtime-leader",
      holder: "a",
      leaseDurationSeconds: 15,
      held: false
    })
  })
})
