/**
 * The Kubernetes Event of the query side (docs/operations.md, "Kubernetes Events"): a query Job that failed gets a
 * Warning `QueryJobFailed` naming the bot and the failure, written by the QueryServer's EventRecorder. The Job itself
 * is deleted right after, so the Event is what is left of it in `kubectl get events`.
 */
import { kindInfo } from "../../domain/Kube.ts"
import type { EventInput } from "../controller/EventRecorder.ts"

export const queryJobFailedReason = "QueryJobFailed"

export interface FailedJob {
  readonly namespace: string
  readonly name: string
  readonly uid?: string | undefined
}

/** The Event on a query Job of `botId` that failed; `failure` is what the caller was answered. */
export const queryJobFailed = (job: FailedJob, botId: string, failure: string): EventInput => ({
  regarding: {
    apiVersion: kindInfo.Job.apiVersion,
    kind: "Job",
    name: job.name,
    namespace: job.namespace,
    ...(job.uid === undefined ? {} : { uid: job.uid })
  },
  type: "Warning",
  reason: queryJobFailedReason,
  action: "Query",
  note: `query of bot ${botId} failed: ${failure}`
})
