/**
 * The Job controller of the fake cluster, as kube-controller-manager's: a Job gets a Pod from its template,
 * a Pod that succeeds completes the Job, failures are retried up to `backoffLimit`, and a finished Job is
 * deleted `ttlSecondsAfterFinished` later.
 */
import { Clock, Effect, Layer, Option, Stream } from "effect"
import { controllerReference, isOwnedBy, type Job, type Pod } from "../../domain/Kube.ts"
import { MemoryCluster } from "./MemoryKubeApi.ts"

export const jobNameLabel = "job-name"

const finished = (job: Job): boolean =>
  (job.status?.conditions ?? []).some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True")

const randomSuffix = (): string => Math.random().toString(36).slice(2, 7).padEnd(5, "x")

export const run = (namespace: string) =>
  Effect.gen(function* () {
    const api = (yield* MemoryCluster).direct

    const podFor = (job: Job): Pod => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${job.metadata.name}-${randomSuffix()}`,
        namespace,
        labels: {
          ...job.spec.template.metadata?.labels,
          [jobNameLabel]: job.metadata.name,
          "batch.kubernetes.io/job-name": job.metadata.name,
          "controller-uid": job.metadata.uid ?? ""
        },
        ...(job.spec.template.metadata?.annotations === undefined
          ? {}
          : { annotations: job.spec.template.metadata.annotations }),
        ownerReferences: [controllerReference("batch/v1", "Job", job.metadata)]
      },
      spec: job.spec.template.spec
    })

    const reconcile = (name: string) =>
      Effect.gen(function* () {
        const job = yield* api.get("Job", namespace, name)
        if (job.metadata.deletionTimestamp !== undefined || finished(job)) return
        const pods = (yield* api.list("Pod", namespace, { labelSelector: `${jobNameLabel}=${name}` })).items.filter(
          (p) => isOwnedBy(p, job.metadata.uid)
        )
        const succeeded = pods.filter((p) => p.status?.phase === "Succeeded").length
        const failed = pods.filter((p) => p.status?.phase === "Failed").length
        const active = pods.length - succeeded - failed
        const at = new Date(yield* Clock.currentTimeMillis).toISOString()
        const backoffLimit = job.spec.backoffLimit ?? 6
        if (succeeded > 0 || failed > backoffLimit) {
          const condition =
            succeeded > 0
              ? { type: "Complete", status: "True" }
              : { type: "Failed", status: "True", reason: "BackoffLimitExceeded" }
          yield* api.patchStatus("Job", namespace, name, {
            active: 0,
            succeeded,
            failed,
            completionTime: at,
            conditions: [condition]
          })
          const ttl = job.spec.ttlSecondsAfterFinished
          if (ttl !== undefined)
            yield* Effect.forkDaemon(
              Effect.sleep(`${ttl} seconds`).pipe(
                Effect.andThen(api.delete("Job", namespace, name, { propagationPolicy: "Background" })),
                Effect.ignore
              )
            )
          return
        }
        if (active === 0) yield* api.create("Pod", namespace, podFor(job))
        yield* api.patchStatus("Job", namespace, name, {
          active: Math.max(active, 1),
          succeeded,
          failed,
          ...(job.status?.startTime === undefined ? { startTime: at } : {})
        })
      }).pipe(Effect.catchTag("KubeNotFound", () => Effect.void))

    const jobOf = (pod: Pod): string | undefined => pod.metadata.ownerReferences?.find((o) => o.kind === "Job")?.name

    const jobs = api
      .watch("Job", namespace, { resourceVersion: "0" })
      .pipe(Stream.filterMap((e) => (e.type === "ADDED" ? Option.some(e.object.metadata.name) : Option.none())))
    const pods = api
      .watch("Pod", namespace, { resourceVersion: "0" })
      .pipe(
        Stream.filterMap((e) =>
          e.type === "MODIFIED" || e.type === "DELETED" ? Option.fromNullable(jobOf(e.object)) : Option.none()
        )
      )
    yield* Stream.merge(jobs, pods).pipe(
      Stream.runForEach((name) => Effect.ignore(reconcile(name))),
      Effect.forkScoped
    )
  })

/** Runs the fake Job controller for `namespace` while the layer is alive. */
export const layer = (namespace = "the0"): Layer.Layer<never, never, MemoryCluster> =>
  Layer.scopedDiscard(run(namespace))
