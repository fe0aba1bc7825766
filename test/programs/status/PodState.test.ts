/** One Pod's state and reasons: which container states and phases are failures, and which come first. */
import { describe, expect, it } from "@effect/vitest"
import { podState } from "../../../src/programs/status/PodState.ts"
import { container, pod, running } from "./StatusFixtures.ts"

describe("PodState", () => {
  it("a Pod being deleted is terminating whatever else it shows", () => {
    expect(podState(pod("a", { deleting: true, status: { phase: "Failed", reason: "Evicted" } }))).toEqual({
      state: "terminating",
      reasons: ["Pod being deleted"]
    })
  })

  it("running needs the Running phase and every main container running", () => {
    expect(podState(pod("a", { status: running }))).toEqual({ state: "running", reasons: [] })
    expect(podState(pod("a", { status: { phase: "Running", containerStatuses: [] } }))).toEqual({
      state: "starting",
      reasons: ["Pod Running"]
    })
    expect(
      podState(
        pod("a", {
          status: {
            phase: "Running",
            containerStatuses: [container("bot", { running: {} }), container("query-server", {})]
          }
        })
      )
    ).toEqual({ state: "starting", reasons: ["Pod Running"] })
  })

  it("a Pod without a status is starting, Pending", () => {
    expect(podState(pod("a"))).toEqual({ state: "starting", reasons: ["Pod Pending"] })
  })

  it("waiting to be created or initialised is starting; any other waiting reason is failing", () => {
    const waiting = (reason: string) =>
      podState(
        pod("a", { status: { phase: "Pending", containerStatuses: [container("bot", { waiting: { reason } })] } })
      )
    expect(waiting("ContainerCreating")).toEqual({
      state: "starting",
      reasons: ["Pod Pending", "bot: ContainerCreating"]
    })
    expect(waiting("PodInitializing")).toEqual({ state: "starting", reasons: ["Pod Pending", "bot: PodInitializing"] })
    expect(waiting("CreateContainerConfigError")).toEqual({
      state: "failing",
      reasons: ["bot: CreateContainerConfigError"]
    })
  })

  it("an init container that exited 0 is done; non-zero is failing; a main container that exited is failing", () => {
    const withInit = (exitCode: number) =>
      podState(
        pod("a", {
          status: {
            phase: "Pending",
            initContainerStatuses: [container("sync", { terminated: { exitCode, reason: "Completed" } })]
          }
        })
      )
    expect(withInit(0)).toEqual({ state: "starting", reasons: ["Pod Pending"] })
    expect(withInit(1)).toEqual({ state: "failing", reasons: ["sync: Completed (exit 1)"] })
    expect(
      podState(
        pod("a", {
          status: { phase: "Running", containerStatuses: [container("bot", { terminated: { exitCode: 0 } })] }
        })
      )
    ).toEqual({ state: "failing", reasons: ["bot: terminated (exit 0)"] })
  })

  it("a terminal phase and the scheduler's refusal are failures, each reason kept, in that order", () => {
    expect(podState(pod("a", { status: { phase: "Succeeded" } }))).toEqual({
      state: "failing",
      reasons: ["Pod Succeeded"]
    })
    const refused = { type: "PodScheduled", status: "False" }
    expect(
      podState(
        pod("a", {
          status: {
            phase: "Failed",
            reason: "Evicted",
            conditions: [refused],
            containerStatuses: [container("bot", { waiting: { reason: "ImagePullBackOff", message: "no such image" } })]
          }
        })
      )
    ).toEqual({
      state: "failing",
      reasons: ["Pod Failed: Evicted", "not scheduled: Unschedulable", "bot: ImagePullBackOff: no such image"]
    })
    expect(
      podState(pod("a", { status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True" }] } }))
    ).toEqual({ state: "starting", reasons: ["Pod Pending"] })
  })
})
