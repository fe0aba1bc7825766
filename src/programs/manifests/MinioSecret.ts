/**
 * The Secret the controller maintains when the operator names none: the MinIO credentials it was started with,
 * under the keys bot Pods read through `secretKeyRef` (see `ManifestSettings.minioSecret`).
 */
import type { Secret } from "../../domain/Kube.ts"
import type { ManifestSettings } from "./ManifestSettings.ts"

export interface MinioCredentials {
  readonly accessKey: string
  readonly secretKey: string
}

export const minioSecretLabels: Readonly<Record<string, string>> = {
  "app.kubernetes.io/managed-by": "the0-runtime",
  "app.kubernetes.io/component": "minio-credentials"
}

const base64 = (text: string): string => Buffer.from(text, "utf8").toString("base64")

/** The controller-owned credentials Secret, `data` base64-encoded as on the wire. */
export const minioSecret = (settings: ManifestSettings, credentials: MinioCredentials): Secret => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: settings.minioSecret.name, namespace: settings.namespace, labels: minioSecretLabels },
  type: "Opaque",
  data: {
    [settings.minioSecret.accessKeyKey]: base64(credentials.accessKey),
    [settings.minioSecret.secretKeyKey]: base64(credentials.secretKey)
  }
})
