/**
 * A run Pod's sidecar makes the final upload after the main container has ended (a scheduled run's `sync`): the dev
 * kubelet, as the kubelet, gives it the Pod's grace period after SIGTERM before SIGKILL, and the Pod is Succeeded
 * only once it has ended.
 */
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { Pod } from "../../../src/domain/Kube.ts"
import * as ProcessKubelet from "../../../src/layers/dev/ProcessKubelet.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const ns = "the0"
const podsDir = mkdtempSync(path.join(tmpdir(), "kubelet-grace-"))
const marks = mkdtempSync(path.join(tmpdir(), "kubelet-grace-marks-"))
const uploaded = path.join(marks, "uploaded")

describe("dev kubelet: a sidecar stopped after the main containers", () => {
  it.live("gets the Pod's grace period for its final upload; the Pod is Succeeded once it has ended", () =>
    Effect.gen(function* () {
      const api = yield* KubeApi
      const pod: Pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "run-1" },
        spec: {
          restartPolicy: "Never",
          terminationGracePeriodSeconds: 10,
          containers: [{ name: "bot", image: "x", command: [process.execPath, "-e", "setTimeout(() => {}, 300)"] }],
          initContainers: [
            {
              name: "sync",
              image: "x",
              restartPolicy: "Always",
              command: [
                process.execPath,
                "-e",
                // a final upload that takes 3 s, longer than the 2 s a stop without a grace period allows
                `process.on("SIGTERM", () => setTimeout(() => {
                   require("node:fs").writeFileSync(${JSON.stringify(uploaded)}, "done"); process.exit(0) }, 3000));
                 setInterval(() => {}, 1000)`
              ]
            }
          ]
        }
      }
      yield* api.create("Pod", ns, pod)
      let phase: string | undefined
      for (let i = 0; i < 150 && phase !== "Succeeded" && phase !== "Failed"; i++) {
        yield* Effect.sleep("100 millis")
        phase = (yield* api.get("Pod", ns, "run-1")).status?.phase
      }
      expect(phase).toBe("Succeeded")
      expect(existsSync(uploaded)).toBe(true)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        ProcessKubelet.layer({ namespace: ns, podsDir, runtime: { file: process.execPath, args: [] } }).pipe(
          Layer.provideMerge(MemoryKubeApi.layer())
        )
      )
    )
  )
})
