/**
 * Whether one bot Pod runs, is on its way, is being deleted or will not run as it is, and why
 * (docs/operations.md, "`the0-runtime status`").
 */
import type { Pod } from "../../domain/Kube.ts"
import { describeContainer, podView } from "./PodView.ts"

export type PodState = "running" | "starting" | "failing" | "terminating"

/** Container waiting reasons of a container on its way; any other waiting reason is a failure. */
const startingReasons: ReadonlySet<string> = new Set(["ContainerCreating", "PodInitializing"])

/** Fields of a Pod condition the API server returns that the domain types leave out. */
type ServerCondition = { readonly type: string; readonly status: string; readonly reason?: string; message?: string }

/**
 * Why a Pod will not run as it is: a terminal phase (the controller recreates it), the scheduler's refusal, a
 * container waiting for any reason but being created or initialised (CrashLoopBackOff, ImagePullBackOff,
 * CreateContainerConfigError…), an init container that exited non-zero, or a main container that has exited.
 */
const podProblems = (pod: Pod): ReadonlyArray<string> => {
  const view = podView(pod)
  const problems: Array<string> = []
  if (view.phase === "Failed" || view.phase === "Succeeded")
    problems.push(`Pod ${view.phase}${view.reason === undefined ? "" : `: ${view.reason}`}`)
  for (const condition of (pod.status?.conditions ?? []) as ReadonlyArray<ServerCondition>)
    if (condition.type === "PodScheduled" && condition.status === "False")
      problems.push(
        `not scheduled: ${condition.reason ?? "Unschedulable"}${condition.message === undefined ? "" : `: ${condition.message}`}`
      )
  for (const c of view.containers) {
    const failed =
      (c.state === "waiting" && !startingReasons.has(c.reason ?? "")) ||
      (c.state === "terminated" && (!c.init || c.exitCode !== 0))
    if (failed) problems.push(describeContainer(c))
  }
  return problems
}

/** Terminating before failing, failing before running; anything else is starting, with the containers it waits on. */
export const podState = (pod: Pod): { readonly state: PodState; readonly reasons: ReadonlyArray<string> } => {
  if (pod.metadata.deletionTimestamp !== undefined) return { state: "terminating", reasons: ["Pod being deleted"] }
  const problems = podProblems(pod)
  if (problems.length > 0) return { state: "failing", reasons: problems }
  const main = (pod.status?.containerStatuses ?? []).filter((c) => c.state?.running !== undefined)
  const running =
    pod.status?.phase === "Running" && main.length > 0 && main.length === (pod.status?.containerStatuses ?? []).length
  if (running) return { state: "running", reasons: [] }
  const waiting = podView(pod)
    .containers.filter((c) => c.state === "waiting" && c.reason !== undefined)
    .map(describeContainer)
  return { state: "starting", reasons: [`Pod ${pod.status?.phase ?? "Pending"}`, ...waiting] }
}
