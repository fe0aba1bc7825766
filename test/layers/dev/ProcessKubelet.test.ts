/** The dev kubelet runs Pods as real processes: sidecar first, env and paths, restarts, graceful deletion. */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { Container, Pod } from "../../../src/domain/Kube.ts"
import { devHostPortAnnotation } from "../../../src/domain/Labels.ts"
import * as ProcessKubelet from "../../../src/layers/dev/ProcessKubelet.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

const ns = "the0"
const node = process.execPath
const podsDir = mkdtempSync(path.join(tmpdir(), "kubelet-pods-"))
const marks = mkdtempSync(path.join(tmpdir(), "kubelet-marks-"))

const script = (name: string, code: string, extra: Partial<Container> = {}): Container => ({
  name,
  image: "x",
  command: [node, "-e", code],
  volumeMounts: [{ name: "data", mountPath: "/data" }],
  ...extra
})

const pod = (name: string, spec: Partial<Pod["spec"]>): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name },
  spec: { containers: [], volumes: [{ name: "data", emptyDir: {} }], terminationGracePeriodSeconds: 5, ...spec }
})

const cluster = (podsDir: string) =>
  ProcessKubelet.layer({
    namespace: ns,
    podsDir,
    runtime: { file: node, args: [] },
    initialBackoff: "100 millis"
  }).pipe(Layer.provideMerge(MemoryKubeApi.layer()))

const eventually = <A>(what: string, check: Effect.Effect<A | undefined, unknown>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200; i++) {
      const value = yield* Effect.orElseSucceed(check, () => undefined)
      if (value !== undefined) return value
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

describe("dev process kubelet", () => {
  it.live(
    "sidecar ready first, then the main container with resolved env, rewritten paths and a mapped port",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create("Secret", ns, {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "creds" },
          data: { key: Buffer.from("s3cret").toString("base64") }
        })
        const sidecar = script(
          "sync",
          `require("node:http").createServer((q,s)=>s.end("ok")).listen(Number(process.argv[1]),"127.0.0.1");
           require("node:fs").writeFileSync(process.env.DATA + "/sidecar", String(Date.now()))`,
          {
            args: ["8079"],
            restartPolicy: "Always",
            env: [{ name: "DATA", value: "/data" }],
            startupProbe: { httpGet: { path: "/readyz", port: 8079 }, periodSeconds: 1, failureThreshold: 30 }
          }
        )
        const main = script(
          "bot",
          `const fs=require("node:fs");
           fs.writeFileSync(process.env.DATA + "/main", JSON.stringify({secret: process.env.SECRET,
             sidecarFirst: fs.existsSync(process.env.DATA + "/sidecar"), port: process.env.THE0_QUERY_PORT}));
           require("node:http").createServer((q,s)=>s.end("q")).listen(Number(process.env.THE0_QUERY_PORT),"0.0.0.0")`,
          {
            env: [
              { name: "DATA", value: "/data" },
              { name: "SECRET", valueFrom: { secretKeyRef: { name: "creds", key: "key" } } }
            ],
            ports: [{ name: "query", containerPort: 9476 }]
          }
        )
        yield* api.create("Pod", ns, pod("p1", { initContainers: [sidecar], containers: [main] }))
        const running = yield* eventually(
          "the Pod running and ready",
          Effect.map(api.get("Pod", ns, "p1"), (p) =>
            p.status?.phase === "Running" && p.status.containerStatuses?.[0]?.ready === true ? p : undefined
          )
        )
        expect(running.status?.podIP).toBe("127.0.0.1")
        const hostPort = running.metadata.annotations?.[devHostPortAnnotation(9476)]
        expect(Number(hostPort)).toBeGreaterThan(0)
        const dirs = readdirSync(podsDir)
        const written = JSON.parse(readFileSync(path.join(podsDir, dirs[0] ?? "", "data", "main"), "utf8"))
        expect(written).toEqual({ secret: "s3cret", sidecarFirst: true, port: hostPort })
        const answer = yield* Effect.promise(() => fetch(`http://127.0.0.1:${hostPort}/`).then((r) => r.text()))
        expect(answer).toBe("q")
      }).pipe(Effect.scoped, Effect.provide(cluster(podsDir))),
    60_000
  )

  it.live(
    "restartPolicy Always restarts a crashing container; deletion is graceful (SIGTERM) and removes the Pod",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        const crashing = script("crash", `process.exit(3)`)
        const graceful = script(
          "bot",
          `process.on("SIGTERM",()=>{require("node:fs").writeFileSync(process.env.MARK,"stopped");process.exit(0)});
           setInterval(()=>{},1000)`,
          { env: [{ name: "MARK", value: path.join(marks, "stopped") }] }
        )
        yield* api.create("Pod", ns, pod("p2", { containers: [crashing, graceful] }))
        yield* eventually(
          "a restart",
          Effect.map(api.get("Pod", ns, "p2"), (p) =>
            (p.status?.containerStatuses?.find((c) => c.name === "crash")?.restartCount ?? 0) >= 2 ? p : undefined
          )
        )
        yield* Effect.sleep("500 millis")
        yield* api.delete("Pod", ns, "p2")
        yield* eventually(
          "the Pod gone",
          Effect.map(Effect.either(api.get("Pod", ns, "p2")), (r) => (r._tag === "Left" ? true : undefined))
        )
        expect(readFileSync(path.join(marks, "stopped"), "utf8")).toBe("stopped")
      }).pipe(Effect.scoped, Effect.provide(cluster(mkdtempSync(path.join(tmpdir(), "kubelet-pods-"))))),
    60_000
  )

  it.live(
    "a restartPolicy Never Pod ends Succeeded or Failed with the exit code",
    () =>
      Effect.gen(function* () {
        const api = yield* KubeApi
        yield* api.create(
          "Pod",
          ns,
          pod("ok", { restartPolicy: "Never", containers: [script("bot", "process.exit(0)")] })
        )
        yield* api.create(
          "Pod",
          ns,
          pod("ko", { restartPolicy: "Never", containers: [script("bot", "process.exit(4)")] })
        )
        const phase = (name: string) =>
          Effect.map(api.get("Pod", ns, name), (p) =>
            p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined
          )
        expect((yield* eventually("ok done", phase("ok"))).status?.phase).toBe("Succeeded")
        const failed = yield* eventually("ko done", phase("ko"))
        expect(failed.status?.phase).toBe("Failed")
        expect(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(4)
      }).pipe(Effect.scoped, Effect.provide(cluster(mkdtempSync(path.join(tmpdir(), "kubelet-pods-"))))),
    60_000
  )
})
