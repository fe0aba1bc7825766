/**
 * The Kubernetes objects this program reads and writes, in their JSON wire shape (timestamps are RFC 3339
 * strings). Only the fields we use are typed; everything else a server returns is kept as it is.
 */

export interface OwnerReference {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean
  readonly blockOwnerDeletion?: boolean
}

/** The reference a Kubernetes controller puts on what it makes: the owner, as its controller, blocking its deletion. */
export const controllerReference = (
  apiVersion: string,
  kind: string,
  owner: { readonly name: string; readonly uid?: string }
): OwnerReference => ({
  apiVersion,
  kind,
  name: owner.name,
  uid: owner.uid ?? "",
  controller: true,
  blockOwnerDeletion: true
})

/** Whether `object` names the object with `uid` among its owners. */
export const isOwnedBy = (object: { readonly metadata: ObjectMeta }, uid: string | undefined): boolean =>
  (object.metadata.ownerReferences ?? []).some((o) => o.uid === uid)

export interface ObjectMeta {
  readonly name: string
  readonly generateName?: string
  readonly namespace?: string
  readonly uid?: string
  readonly resourceVersion?: string
  readonly generation?: number
  readonly creationTimestamp?: string
  readonly deletionTimestamp?: string
  readonly deletionGracePeriodSeconds?: number
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  readonly ownerReferences?: ReadonlyArray<OwnerReference>
  readonly finalizers?: ReadonlyArray<string>
  readonly managedFields?: ReadonlyArray<unknown>
}

export interface EnvVar {
  readonly name: string
  readonly value?: string
  readonly valueFrom?: {
    readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean }
    readonly fieldRef?: { readonly fieldPath: string }
  }
}

export interface ResourceRequirements {
  readonly limits?: Readonly<Record<string, string>>
  readonly requests?: Readonly<Record<string, string>>
}

export interface SecurityContext {
  readonly runAsNonRoot?: boolean
  readonly runAsUser?: number
  readonly runAsGroup?: number
  readonly fsGroup?: number
  readonly readOnlyRootFilesystem?: boolean
  readonly allowPrivilegeEscalation?: boolean
  readonly capabilities?: { readonly drop?: ReadonlyArray<string>; readonly add?: ReadonlyArray<string> }
  readonly seccompProfile?: { readonly type: string }
}

export interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: number | string; readonly scheme?: string }
  readonly initialDelaySeconds?: number
  readonly periodSeconds?: number
  readonly failureThreshold?: number
  readonly timeoutSeconds?: number
}

export interface Container {
  readonly name: string
  readonly image: string
  readonly imagePullPolicy?: string
  readonly command?: ReadonlyArray<string>
  readonly args?: ReadonlyArray<string>
  readonly workingDir?: string
  readonly env?: ReadonlyArray<EnvVar>
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort: number; readonly protocol?: string }>
  readonly resources?: ResourceRequirements
  readonly volumeMounts?: ReadonlyArray<{
    readonly name: string
    readonly mountPath: string
    readonly readOnly?: boolean
  }>
  readonly securityContext?: SecurityContext
  readonly startupProbe?: Probe
  readonly readinessProbe?: Probe
  readonly livenessProbe?: Probe
  readonly restartPolicy?: string
}

export interface Volume {
  readonly name: string
  readonly emptyDir?: { readonly medium?: string; readonly sizeLimit?: string }
}

export interface PodSpec {
  readonly restartPolicy?: "Always" | "OnFailure" | "Never"
  readonly initContainers?: ReadonlyArray<Container>
  readonly containers: ReadonlyArray<Container>
  readonly volumes?: ReadonlyArray<Volume>
  readonly securityContext?: SecurityContext
  readonly automountServiceAccountToken?: boolean
  readonly serviceAccountName?: string
  readonly terminationGracePeriodSeconds?: number
  readonly nodeName?: string
  readonly nodeSelector?: Readonly<Record<string, string>>
  readonly enableServiceLinks?: boolean
}

export interface ContainerStatus {
  readonly name: string
  readonly ready: boolean
  readonly started?: boolean
  readonly restartCount: number
  readonly state?: {
    readonly waiting?: { readonly reason?: string; readonly message?: string }
    readonly running?: { readonly startedAt?: string }
    readonly terminated?: { readonly exitCode: number; readonly reason?: string; readonly finishedAt?: string }
  }
}

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown"

export interface PodStatus {
  readonly phase?: PodPhase
  readonly podIP?: string
  readonly hostIP?: string
  readonly startTime?: string
  readonly reason?: string
  readonly message?: string
  readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string }>
  readonly initContainerStatuses?: ReadonlyArray<ContainerStatus>
  readonly containerStatuses?: ReadonlyArray<ContainerStatus>
}

export interface Pod {
  readonly apiVersion: "v1"
  readonly kind: "Pod"
  readonly metadata: ObjectMeta
  readonly spec: PodSpec
  readonly status?: PodStatus
}

export interface PodTemplateSpec {
  readonly metadata?: Omit<ObjectMeta, "name"> & { readonly name?: string }
  readonly spec: PodSpec
}

export interface JobSpec {
  readonly backoffLimit?: number
  readonly ttlSecondsAfterFinished?: number
  readonly activeDeadlineSeconds?: number
  readonly template: PodTemplateSpec
}

export interface JobStatus {
  readonly active?: number
  readonly succeeded?: number
  readonly failed?: number
  readonly startTime?: string
  readonly completionTime?: string
  readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string; readonly reason?: string }>
}

export interface Job {
  readonly apiVersion: "batch/v1"
  readonly kind: "Job"
  readonly metadata: ObjectMeta
  readonly spec: JobSpec
  readonly status?: JobStatus
}

export interface CronJob {
  readonly apiVersion: "batch/v1"
  readonly kind: "CronJob"
  readonly metadata: ObjectMeta
  readonly spec: {
    readonly schedule: string
    readonly timeZone?: string
    readonly concurrencyPolicy?: "Allow" | "Forbid" | "Replace"
    readonly suspend?: boolean
    readonly startingDeadlineSeconds?: number
    readonly successfulJobsHistoryLimit?: number
    readonly failedJobsHistoryLimit?: number
    readonly jobTemplate: { readonly metadata?: PodTemplateSpec["metadata"]; readonly spec: JobSpec }
  }
  readonly status?: {
    readonly active?: ReadonlyArray<{ readonly name: string; readonly namespace?: string; readonly uid?: string }>
    readonly lastScheduleTime?: string
    readonly lastSuccessfulTime?: string
  }
}

export interface Lease {
  readonly apiVersion: "coordination.k8s.io/v1"
  readonly kind: "Lease"
  readonly metadata: ObjectMeta
  readonly spec: {
    readonly holderIdentity?: string
    readonly leaseDurationSeconds?: number
    readonly acquireTime?: string
    readonly renewTime?: string
    readonly leaseTransitions?: number
  }
}

export interface Secret {
  readonly apiVersion: "v1"
  readonly kind: "Secret"
  readonly metadata: ObjectMeta
  readonly type?: string
  /** Values are base64, as on the wire. */
  readonly data?: Readonly<Record<string, string>>
}

/** A reference to an object, as an Event's `regarding` carries it. */
export interface ObjectReference {
  readonly apiVersion?: string
  readonly kind: string
  readonly name: string
  readonly namespace?: string
  readonly uid?: string
}

/** Repeats of one Event: how many times it was observed in all, and when last (a MicroTime). */
export interface EventSeries {
  readonly count: number
  readonly lastObservedTime: string
}

/** An events.k8s.io/v1 Event (not one of the kinds we manage: written only, through its own KubeApi calls). */
export interface KubeEvent {
  readonly apiVersion: "events.k8s.io/v1"
  readonly kind: "Event"
  readonly metadata: ObjectMeta
  /** When the Event was first observed, a MicroTime (RFC 3339 with exactly six fractional digits). */
  readonly eventTime: string
  readonly series?: EventSeries
  readonly reportingController: string
  readonly reportingInstance: string
  /** What was done or failed to be done (`Create`, `Delete`...). */
  readonly action: string
  /** Why, in UpperCamelCase (`Created`, `ConfigChanged`...). */
  readonly reason: string
  readonly regarding: ObjectReference
  /** Human-readable, at most 1 kB. */
  readonly note?: string
  readonly type: "Normal" | "Warning"
}

/** A MicroTime (what Event times are) from epoch milliseconds. */
export const microTime = (millis: number): string => new Date(millis).toISOString().replace(/Z$/, "000Z")

export interface KindMap {
  readonly Pod: Pod
  readonly CronJob: CronJob
  readonly Job: Job
  readonly Lease: Lease
  readonly Secret: Secret
}

export type Kind = keyof KindMap
export type KubeObject = KindMap[Kind]

export const kinds: ReadonlyArray<Kind> = ["Pod", "CronJob", "Job", "Lease", "Secret"]

/** Where each kind lives in the API. */
export const kindInfo: Readonly<
  Record<Kind, { readonly apiVersion: string; readonly group: string; readonly plural: string }>
> = {
  Pod: { apiVersion: "v1", group: "", plural: "pods" },
  Secret: { apiVersion: "v1", group: "", plural: "secrets" },
  CronJob: { apiVersion: "batch/v1", group: "batch", plural: "cronjobs" },
  Job: { apiVersion: "batch/v1", group: "batch", plural: "jobs" },
  Lease: { apiVersion: "coordination.k8s.io/v1", group: "coordination.k8s.io", plural: "leases" }
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"

export type WatchEvent<K extends Kind> =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: KindMap[K] }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string }

export interface ObjectList<K extends Kind> {
  readonly items: ReadonlyArray<KindMap[K]>
  readonly resourceVersion: string
}

export type PropagationPolicy = "Foreground" | "Background" | "Orphan"

/** The object without the server's bookkeeping noise that a cache need not keep. */
export const stripManagedFields = <O extends KubeObject>(object: O): O => {
  if (object.metadata.managedFields === undefined) return object
  const { managedFields: _dropped, ...metadata } = object.metadata
  return { ...object, metadata }
}
