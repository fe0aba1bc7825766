/**
 * The live client against an HTTP server on loopback that answers as an API server under API Priority and Fairness
 * does: 429 with `Retry-After` (or a server error with it) for requests it did not act on. The client waits what it
 * was told, sends again, gives up after `throttledRetries`, and counts it all (docs/operations.md, "API request
 * pacing").
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { Pod } from "../../../src/domain/Kube.ts"
import * as KubeConnection from "../../../src/layers/live/KubeConnection.ts"
import * as LiveKubeApi from "../../../src/layers/live/LiveKubeApi.ts"
import { exposition, Metrics } from "../../../src/programs/Metrics.ts"

interface Answer {
  readonly status: number
  readonly retryAfter?: string
}

/** A server answering the n-th request with `answers[n]` (the last one from then on); when each request came. */
const server = (answers: ReadonlyArray<Answer>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly arrivals: Array<number>; readonly close: () => void }>((resume) => {
      const arrivals: Array<number> = []
      const s = http.createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          const answer = answers[Math.min(arrivals.length, answers.length - 1)] ?? { status: 500 }
          arrivals.push(Date.now())
          const headers: Record<string, string> = { "Content-Type": "application/json" }
          if (answer.retryAfter !== undefined) headers["Retry-After"] = answer.retryAfter
          res.writeHead(answer.status, headers)
          res.end(
            answer.status < 300
              ? JSON.stringify({ metadata: { name: "p" } })
              : JSON.stringify({ kind: "Status", code: answer.status, reason: "TooManyRequests", message: "slow down" })
          )
        })
      })
      s.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ port: (s.address() as AddressInfo).port, arrivals, close: () => s.close() }))
      )
    }),
    (s) => Effect.sync(s.close)
  )

const clientOf = (port: number) =>
  Effect.gen(function* () {
    const connection = KubeConnection.make({
      server: `http://127.0.0.1:${port}`,
      namespace: "ns",
      tls: {},
      authHeaders: () => Promise.resolve({})
    })
    return yield* LiveKubeApi.make(connection, { qps: 0, burst: 0 })
  })

const pod: Pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [] } }

describe("LiveKubeApi pacing (loopback HTTP server)", () => {
  it.live("a 429 with Retry-After is sent again after the wait the server asked, and counted", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const s = yield* server([{ status: 429, retryAfter: "1" }, { status: 429, retryAfter: "0" }, { status: 201 }])
        const api = yield* clientOf(s.port)
        const created = yield* api.create("Pod", "ns", pod)
        expect(created.metadata.name).toBe("p")
        expect(s.arrivals.length).toBe(3)
        const [first = 0, second = 0] = s.arrivals
        expect(second - first).toBeGreaterThanOrEqual(950)
        expect(api.traffic?.throttled()).toBe(2)
        expect([...(api.traffic?.requests().values() ?? [])]).toEqual([
          { verb: "POST", code: 429, count: 2 },
          { verb: "POST", code: 201, count: 1 }
        ])
        expect(api.traffic?.inFlight()).toBe(0)
        // and the metrics read them at each scrape
        const metrics = yield* Metrics
        if (api.traffic !== undefined) metrics.observeKubeTraffic(api.traffic)
        const text = yield* exposition
        expect(text).toContain('the0_kube_requests_total{verb="POST",code="429"} 2')
        expect(text).toContain('the0_kube_requests_total{verb="POST",code="201"} 1')
        expect(text).toContain("the0_kube_throttled_total 2")
        expect(text).toContain("the0_kube_requests_in_flight 0")
      }).pipe(Effect.provide(Metrics.layer))
    )
  )

  it.live("a server error with Retry-After is sent again; one without goes back to the caller at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const s = yield* server([{ status: 503, retryAfter: "0" }, { status: 500 }])
        const api = yield* clientOf(s.port)
        const result = yield* Effect.either(api.get("Pod", "ns", "p"))
        expect(Either.isLeft(result) && result.left.code).toBe(500)
        expect(s.arrivals.length).toBe(2)
        expect(api.traffic?.throttled()).toBe(1)
      })
    )
  )

  it.live("a server that keeps answering 429 is given up on after throttledRetries, with its error", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const s = yield* server([{ status: 429, retryAfter: "0" }])
        const api = yield* clientOf(s.port)
        const result = yield* Effect.either(api.delete("Pod", "ns", "p"))
        expect(Either.isLeft(result) && [result.left._tag, result.left.code]).toEqual(["KubeError", 429])
        expect(s.arrivals.length).toBe(LiveKubeApi.throttledRetries + 1)
      })
    )
  )

  it.effect("the wait asked: 1 s for a 429 without Retry-After, at most 60 s, none for other answers", () =>
    Effect.sync(() => {
      expect(LiveKubeApi.waitAsked({ status: 429, body: "" })).toBe(1)
      expect(LiveKubeApi.waitAsked({ status: 429, body: "", retryAfterSeconds: 3 })).toBe(3)
      expect(LiveKubeApi.waitAsked({ status: 429, body: "", retryAfterSeconds: 600 })).toBe(60)
      expect(LiveKubeApi.waitAsked({ status: 503, body: "", retryAfterSeconds: 2 })).toBe(2)
      expect(LiveKubeApi.waitAsked({ status: 500, body: "" })).toBeUndefined()
      expect(LiveKubeApi.waitAsked({ status: 409, body: "", retryAfterSeconds: 2 })).toBeUndefined()
      expect(KubeConnection.retryAfterSeconds("2", 0)).toBe(2)
      expect(KubeConnection.retryAfterSeconds(new Date(5_000).toUTCString(), 0)).toBe(5)
      expect(KubeConnection.retryAfterSeconds("soon", 0)).toBeUndefined()
      expect(KubeConnection.retryAfterSeconds(undefined, 0)).toBeUndefined()
    })
  )
})
