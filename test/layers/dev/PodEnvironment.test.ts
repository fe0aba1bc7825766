/**
 * In `dev` the object store's location (`THE0_OBJECT_STORE_DIR`) is the counterpart of the MinIO credentials: the
 * process kubelet gives it only to the containers whose spec holds the credentials (the `restore` init container
 * and the sidecars), never to the `bot` or `query-server` containers, in their env or their arguments.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { Container, Pod } from "../../../src/domain/Kube.ts"
import * as ProcessKubelet from "../../../src/layers/dev/ProcessKubelet.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const ns = "the0"
const podsDir = mkdtempSync(path.join(tmpdir(), "kubelet-env-"))
const objectsDir = mkdtempSync(path.join(tmpdir(), "kubelet-objects-"))

/** A container that writes its env and argv to /data/<name>.json, then stays up (or ends, for an init container). */
const reporter = (name: string, extra: Partial<Container>, stay: boolean): Container => ({
  name,
  image: "x",
  command: [
    process.execPath,
    "-e",
    `require("node:fs").writeFileSync("/data/${name}.json".replace("/data", process.env.DATA),
       JSON.stringify({ env: process.env, argv: process.argv }));
     ${stay ? "setInterval(() => {}, 1000)" : ""}`
  ],
  volumeMounts: [{ name: "data", mountPath: "/data" }],
  ...extra,
  env: [{ name: "DATA", value: "/data" }, ...(extra.env ?? [])]
})

const credentials = [
  { name: "MINIO_ENDPOINT", value: "dev:9000" },
  { name: "MINIO_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "creds", key: "access" } } }
]

describe("dev kubelet: the object store's location", () => {
  it.live("reaches the containers that hold the credentials, and no other", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      yield* api.create("Secret", ns, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "creds" },
        data: { access: Buffer.from("dev-access").toString("base64") }
      })
      const pod: Pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "env-pod" },
        spec: {
          restartPolicy: "Always",
          terminationGracePeriodSeconds: 2,
          volumes: [{ name: "data", emptyDir: {} }],
          initContainers: [
            reporter("restore", { env: credentials }, false),
            reporter("sync", { env: credentials, restartPolicy: "Always" }, true)
          ],
          containers: [reporter("bot", {}, true), reporter("query-server", {}, true)]
        }
      }
      yield* api.create("Pod", ns, pod)
      const dataDir = () => path.join(podsDir, readdirSync(podsDir)[0] ?? "", "data")
      const read = (name: string) => JSON.parse(readFileSync(path.join(dataDir(), `${name}.json`), "utf8"))
      let reports: Record<string, { env: Record<string, string>; argv: ReadonlyArray<string> }> = {}
      for (let i = 0; i < 200 && Object.keys(reports).length < 4; i++) {
        reports = Object.fromEntries(
          ["restore", "sync", "bot", "query-server"].flatMap((name) => {
            try {
              return [[name, read(name)]]
            } catch {
              return []
            }
          })
        )
        yield* Effect.sleep("100 millis")
      }
      expect(Object.keys(reports).sort()).toStrictEqual(["bot", "query-server", "restore", "sync"])
      for (const name of ["restore", "sync"]) {
        expect(reports[name]?.env.THE0_OBJECT_STORE_DIR, name).toBe(objectsDir)
        expect(reports[name]?.env.MINIO_ACCESS_KEY, name).toBe("dev-access")
      }
      for (const name of ["bot", "query-server"]) {
        const report = reports[name]
        expect(report?.env.THE0_WRAPPERS_DIR, name).toBe("/wrappers")
        expect(JSON.stringify(report), name).not.toContain(objectsDir)
        expect(
          Object.keys(report?.env ?? {}).filter((key) => /MINIO|OBJECT_STORE/.test(key)),
          name
        ).toStrictEqual([])
      }
      yield* api.delete("Pod", ns, "env-pod")
    }).pipe(
      Effect.scoped,
      Effect.provide(
        ProcessKubelet.layer({
          namespace: ns,
          podsDir,
          runtime: { file: process.execPath, args: [] },
          env: { THE0_OBJECT_STORE_DIR: objectsDir, THE0_WRAPPERS_DIR: "/wrappers" }
        }).pipe(Layer.provideMerge(MemoryKubeApi.layer()))
      )
    )
  )
})
