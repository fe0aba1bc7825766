/**
 * Where bot Pods read their MinIO credentials from (docs/operations.md, "MinIO credentials"). Generated Pods never
 * carry a credential literally: they reference a Secret. Which one, in this order:
 *
 * 1. the Secret the operator names (`--minio-secret-name` and its key flags);
 * 2. the Secret the controller's own `MINIO_ACCESS_KEY` and `MINIO_SECRET_KEY` come from, read from its own Pod
 *    (the pods permission every deployment grants; the Pod's name is `POD_NAME` or the hostname), as under the0's
 *    Helm chart, whose Role has no permission on Secrets;
 * 3. otherwise a Secret the controller writes itself with the credentials it was started with (which needs
 *    `create`/`update` on Secrets: the project's own Role grants it).
 */
import { Effect, Option, Schedule } from "effect"
import type { Pod } from "../../domain/Kube.ts"
import { KubeApi, type KubeApiError } from "../../services/KubeApi.ts"
import { controllerOwnedMinioSecret, type MinioCredentialsSecret } from "../manifests/ManifestSettings.ts"

/** The Secret (and keys) that the env of one of `pod`'s containers takes both MinIO credentials from. */
export const secretOfPod = (pod: Pod): Option.Option<MinioCredentialsSecret> => {
  for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    const ref = (name: string) => container.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef
    const access = ref("MINIO_ACCESS_KEY")
    const secret = ref("MINIO_SECRET_KEY")
    if (access !== undefined && secret !== undefined && access.name === secret.name)
      return Option.some({ name: access.name, accessKeyKey: access.key, secretKeyKey: secret.key })
  }
  return Option.none()
}

/** No answer, throttled or a server error: worth asking again (a 403 or a 404 is an answer). */
const transient = (error: KubeApiError): boolean =>
  error._tag === "KubeError" && (error.code === 0 || error.code === 429 || error.code >= 500)

export type Source =
  | { readonly _tag: "Named"; readonly secret: MinioCredentialsSecret }
  | { readonly _tag: "OwnPod"; readonly secret: MinioCredentialsSecret; readonly pod: string }
  | { readonly _tag: "Owned"; readonly secret: MinioCredentialsSecret; readonly why: string }

/**
 * The source for a controller configured with `configured` in `namespace`, running (if in a Pod) as `podName`.
 * Reading the own Pod may fail (not in a cluster, no permission): that is not an error, only the reason the
 * controller falls back to a Secret of its own. An API server that does not answer is asked again for about 30 s.
 */
export const resolve = (
  configured: MinioCredentialsSecret,
  namespace: string,
  podName: string
): Effect.Effect<Source, never, KubeApi> =>
  Effect.gen(function* () {
    if (configured.name !== controllerOwnedMinioSecret.name) return { _tag: "Named", secret: configured } as const
    const api = yield* KubeApi
    const own = yield* api.get("Pod", namespace, podName).pipe(
      // an API server that is not answering yet must not settle it for the life of the process
      Effect.retry({ schedule: Schedule.exponential("500 millis"), times: 6, while: transient }),
      Effect.map((pod) =>
        Option.match(secretOfPod(pod), {
          onNone: () => ({ found: Option.none(), why: `Pod ${namespace}/${podName} takes them from no single Secret` }),
          onSome: (secret) => ({ found: Option.some(secret), why: "" })
        })
      ),
      Effect.catchAll((error) =>
        Effect.succeed({
          found: Option.none<MinioCredentialsSecret>(),
          why: `cannot read Pod ${namespace}/${podName}: ${error.message}`
        })
      )
    )
    return Option.match(own.found, {
      onSome: (secret) => ({ _tag: "OwnPod", secret, pod: podName }) as const,
      onNone: () => ({ _tag: "Owned", secret: configured, why: own.why }) as const
    })
  })

/** The log line that says which Secret bot Pods read and why. */
export const describe = (source: Source): string => {
  switch (source._tag) {
    case "Named":
      return `bot Pods read MinIO credentials from Secret ${source.secret.name} (--minio-secret-name)`
    case "OwnPod":
      return `bot Pods read MinIO credentials from Secret ${source.secret.name} (keys ${source.secret.accessKeyKey}, ${source.secret.secretKeyKey}), where this controller's Pod ${source.pod} takes them from`
    case "Owned":
      return `bot Pods read MinIO credentials from Secret ${source.secret.name}, which this controller writes (${source.why}); that needs create and update on Secrets`
  }
}
