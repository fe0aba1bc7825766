/**
 * the0's QueryServer and realtime-proxy cases (its tests `query/server_test.go` and
 * `query/realtime_test.go`), through HTTP on loopback, against the memory world and a query container that answers
 * like the0's SDK server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MemoryBotStore } from "../../../src/layers/memory/MemoryBotStore.ts"
import { MemoryCluster } from "../../../src/layers/memory/MemoryKubeApi.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { rfc3339Nano } from "../../../src/programs/query/QueryServer.ts"
import {
  answerWith,
  bot,
  botQueryServer,
  eventually,
  jobs,
  putBot,
  putSchedule,
  results,
  runRealtimePod,
  serve,
  simulateQueryPods,
  world
} from "./QueryEnv.ts"

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

const realtimeBot = (handlers: Record<string, (params: Record<string, string>) => unknown>, id = "bot-123") =>
  Effect.gen(function* () {
    const sdk = yield* botQueryServer(handlers)
    yield* putBot(bot(id))
    yield* runRealtimePod(bot(id), sdk.port)
    return sdk
  })

describe("QueryServer (the0 server_test cases)", () => {
  it("timestamps are Go's RFC3339Nano in UTC, trailing zeros dropped, each millisecond its own", () => {
    expect(rfc3339Nano(1500)).toBe("1970-01-01T00:00:01.5Z")
    expect(rfc3339Nano(1500)).toBe("1970-01-01T00:00:01.5Z")
    expect(rfc3339Nano(0)).toBe("1970-01-01T00:00:00Z")
    expect(rfc3339Nano(1)).toBe("1970-01-01T00:00:00.001Z")
  })

  it.scopedLive("/health answers 200 application/json {status: ok} for any method", () =>
    Effect.gen(function* () {
      const { request } = yield* serve()
      for (const method of ["GET", "POST", "PUT", "DELETE"]) {
        const answer = yield* request("/health", { method })
        expect(answer.status).toBe(200)
        expect(answer.contentType).toBe("application/json")
        expect(answer.json).toEqual({ status: "ok" })
      }
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a realtime query succeeds with 200, the bot's data, a nanosecond duration and a timestamp", () =>
    Effect.gen(function* () {
      yield* realtimeBot({ "/price": () => ({ price: 100.5, volume: 1000 }) })
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/price" })),
          (a) => a.status === 200,
          () => "not yet routed to the Pod"
        )
      )
      expect(answer.contentType).toBe("application/json")
      expect(answer.json.status).toBe("ok")
      expect(answer.json.data).toEqual({ price: 100.5, volume: 1000 })
      expect(Number.isInteger(answer.json.duration)).toBe(true)
      expect(answer.json.duration).toBeGreaterThan(0)
      expect(answer.json.timestamp).toMatch(rfc3339)
      expect(answer.json).not.toHaveProperty("error")
      expect(yield* jobs).toEqual([])
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("missing bot_id or query_path is 400 with the0's message and error body shape", () =>
    Effect.gen(function* () {
      const { post } = yield* serve()
      const noBot = yield* post(JSON.stringify({ query_path: "/price" }))
      expect(noBot.status).toBe(400)
      expect(noBot.json.status).toBe("error")
      expect(noBot.json.error).toBe("bot_id is required")
      expect(noBot.json.duration).toBe(0)
      expect(noBot.json.timestamp).toMatch(rfc3339)
      const noPath = yield* post(JSON.stringify({ bot_id: "bot-123" }))
      expect(noPath.status).toBe(400)
      expect(noPath.json.error).toBe("query_path is required")
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("invalid JSON and an empty body are 400 invalid request body with Go's decoder message", () =>
    Effect.gen(function* () {
      const { post } = yield* serve()
      const invalid = yield* post("{invalid json}")
      expect(invalid.status).toBe(400)
      expect(invalid.json.status).toBe("error")
      expect(invalid.json.error).toBe(
        "invalid request body: invalid character 'i' looking for beginning of object key string"
      )
      const empty = yield* post("")
      expect(empty.status).toBe(400)
      expect(empty.json.error).toBe("invalid request body: EOF")
      const fractional = yield* post(JSON.stringify({ bot_id: "b", query_path: "/p", timeout_sec: 1.5 }))
      expect(fractional.json.error).toBe(
        "invalid request body: json: cannot unmarshal number 1.5 into Go struct field Request.timeout_sec of type int"
      )
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("non-POST methods on /query are 405 method not allowed", () =>
    Effect.gen(function* () {
      const { request } = yield* serve()
      for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
        const answer = yield* request("/query", { method })
        expect(answer.status).toBe(405)
        expect(answer.json.status).toBe("error")
        expect(answer.json.error).toBe("method not allowed")
      }
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("an unknown bot is 404 bot not found; no query entrypoint is 404 with the0's messages", () =>
    Effect.gen(function* () {
      yield* putBot(bot("no-query", { bot: "main.py" }))
      yield* putBot({ id: "no-entrypoints", config: {}, custom: { version: "1", filePath: "x.zip", config: {} } })
      yield* putBot({ ...bot("disabled"), config: { enabled: false } })
      const { post } = yield* serve()
      const missing = yield* post(JSON.stringify({ bot_id: "bot-999", query_path: "/price" }))
      expect(missing.status).toBe(404)
      expect(missing.json.error).toBe("bot not found: bot-999")
      const noQuery = yield* post(JSON.stringify({ bot_id: "no-query", query_path: "/price" }))
      expect(noQuery.status).toBe(404)
      expect(noQuery.json.error).toBe("bot no-query does not have a query entrypoint")
      const noEntrypoints = yield* post(JSON.stringify({ bot_id: "no-entrypoints", query_path: "/price" }))
      expect(noEntrypoints.json.error).toBe("bot no-entrypoints does not have entrypoints configured")
      const disabled = yield* post(JSON.stringify({ bot_id: "disabled", query_path: "/price" }))
      expect(disabled.json.error).toBe("bot not found: disabled")
      expect(yield* jobs).toEqual([])
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("an error answer from the bot is 500 with its message", () =>
    Effect.gen(function* () {
      yield* realtimeBot({
        "/boom": () => {
          throw new Error("execution failed")
        }
      })
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/boom" })),
          (a) => a.status === 500,
          () => "not yet routed"
        )
      )
      expect(answer.json.status).toBe("error")
      expect(answer.json.error).toBe("Error: execution failed")
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a bot with a ready Pod is answered from the Pod cache: the store is not read (even when down)", () =>
    Effect.gen(function* () {
      yield* realtimeBot({ "/price": () => 7 })
      const { post } = yield* serve()
      const body = JSON.stringify({ bot_id: "bot-123", query_path: "/price" })
      yield* eventually(
        Effect.filterOrFail(
          post(body),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      yield* (yield* MemoryBotStore).setDown(true)
      const answer = yield* post(body)
      expect(answer.status).toBe(200)
      expect(answer.json.data).toBe(7)
      const unknown = yield* post(JSON.stringify({ bot_id: "bot-999", query_path: "/price" }))
      expect(unknown.status).toBe(503)
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("the proxy keeps its connections to a bot: 5 rounds of 20 concurrent queries open 20 at most", () =>
    Effect.gen(function* () {
      const sdk = yield* realtimeBot({ "/price": () => 1 })
      const { post } = yield* serve()
      const body = JSON.stringify({ bot_id: "bot-123", query_path: "/price" })
      yield* eventually(
        Effect.filterOrFail(
          post(body),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      for (let round = 0; round < 5; round++) {
        const answers = yield* Effect.all(
          Array.from({ length: 20 }, () => post(body)),
          { concurrency: "unbounded" }
        )
        expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 200))
      }
      expect(sdk.connections()).toBeLessThanOrEqual(20)
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a path without / is normalised; params and timeout_sec pass through to the bot", () =>
    Effect.gen(function* () {
      const sdk = yield* realtimeBot({ "/price": (params) => params })
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "price", params: { symbol: "BTC" }, timeout_sec: 60 })),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      expect(answer.json.data).toEqual({ symbol: "BTC" })
      expect(sdk.seen.at(-1)?.path).toBe("/price")
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("any other path is Go's 404 page not found, text/plain", () =>
    Effect.gen(function* () {
      const { request } = yield* serve()
      for (const path of ["/", "/queries", "/query/", "/metrics"]) {
        const answer = yield* request(path)
        expect(answer.status).toBe(404)
        expect(answer.contentType).toBe("text/plain; charset=utf-8")
        expect(answer.text).toBe("404 page not found\n")
      }
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a store outage is 503 with a message, never a silent 404", () =>
    Effect.gen(function* () {
      const { post } = yield* serve()
      yield* (yield* MemoryBotStore).setDown(true)
      const answer = yield* post(JSON.stringify({ bot_id: "bot-1", query_path: "/x" }))
      expect(answer.status).toBe(503)
      expect(answer.json.error).toMatch(/^cannot look up bot bot-1: /)
    }).pipe(Effect.provide(world))
  )
})

describe("realtime proxy (the0 realtime_test cases, and our params fix)", () => {
  it.scopedLive("POSTs to the path on the query container; params arrive as the JSON body and the query string", () =>
    Effect.gen(function* () {
      const sdk = yield* realtimeBot({ "/portfolio": (params) => ({ positions: [{ symbol: params.symbol }] }) })
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/portfolio", params: { symbol: "BTC", amount: 100 } })),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      expect(answer.json.data).toEqual({ positions: [{ symbol: "BTC" }] })
      const seen = sdk.seen.at(-1)
      expect(seen?.method).toBe("POST")
      expect(seen?.path).toBe("/portfolio")
      expect(JSON.parse(seen?.body ?? "")).toEqual({ symbol: "BTC", amount: 100 })
      expect(seen?.query).toEqual({ symbol: "BTC", amount: "100" })
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a query string in query_path is kept and the params are appended to it", () =>
    Effect.gen(function* () {
      const sdk = yield* realtimeBot({ "/p": (params) => params })
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/p?a=b", params: { c: "d" } })),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      expect(answer.json.data).toEqual({ a: "b", c: "d" })
      expect(sdk.seen.at(-1)?.body).toBe('{"c":"d"}')
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("no params: no body", () =>
    Effect.gen(function* () {
      const sdk = yield* realtimeBot({ "/p": () => 1 })
      const { post } = yield* serve()
      yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/p" })),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      expect(sdk.seen.at(-1)?.body).toBe("")
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("an unreachable query container is 500 failed to execute query request", () =>
    Effect.gen(function* () {
      const sdk = yield* botQueryServer({})
      yield* putBot(bot("bot-123"))
      // a port nothing listens on: the server's own, closed right after binding
      yield* runRealtimePod(bot("bot-123"), 1)
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/p", timeout_sec: 1 })),
          (a) => a.status === 500 && String(a.json.error).startsWith("failed to execute query request"),
          (a) => a
        )
      )
      expect(answer.json.error).toBe(
        'failed to execute query request: Post "http://127.0.0.1:1/p": dial tcp 127.0.0.1:1: connect: connection refused'
      )
      expect(sdk.seen).toEqual([])
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a query_path with a space or a non-ASCII character reaches the bot percent-encoded", () =>
    Effect.gen(function* () {
      const sdk = yield* realtimeBot({ "/a%20b/%C3%A9": () => "found" })
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/a b/é", params: { q: "x y" } })),
          (a) => a.status === 200,
          (a) => a
        )
      )
      expect(answer.json.data).toBe("found")
      expect(sdk.seen.at(-1)?.path).toBe("/a%20b/%C3%A9")
      expect(sdk.seen.at(-1)?.query).toEqual({ q: "x y" })
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a client that hangs up during a realtime query: the request to the bot is abandoned", () =>
    Effect.gen(function* () {
      let held = 0
      let abandoned = 0
      const sdk = yield* botQueryServer({ "/ready": () => "ok" }, (req, _res) => {
        if (req.url?.startsWith("/hold") !== true) return false
        held++
        req.socket.once("close", () => {
          abandoned++
        })
        return true
      })
      yield* putBot(bot("bot-123"))
      yield* runRealtimePod(bot("bot-123"), sdk.port)
      const { post } = yield* serve()
      yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/ready" })),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      const client = new AbortController()
      const pending = Effect.runFork(
        post(JSON.stringify({ bot_id: "bot-123", query_path: "/hold" }), { signal: client.signal })
      )
      yield* eventually(
        Effect.filterOrFail(
          Effect.sync(() => held),
          (n) => n === 1,
          () => "not at the bot yet"
        )
      )
      client.abort()
      yield* eventually(
        Effect.filterOrFail(
          Effect.sync(() => abandoned),
          (n) => n === 1,
          () => "still held"
        )
      )
      pending.unsafeInterruptAsFork(pending.id())
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a non-JSON answer is 500 failed to parse query response with the body", () =>
    Effect.gen(function* () {
      const sdk = yield* botQueryServer({}, (_req, res) => {
        res.setHeader("content-type", "application/json")
        res.end("not valid json")
        return true
      })
      yield* putBot(bot("bot-123"))
      yield* runRealtimePod(bot("bot-123"), sdk.port)
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/p" })),
          (a) => a.status === 500,
          () => "not yet routed"
        )
      )
      expect(answer.json.error).toBe(
        "failed to parse query response: invalid character 'o' in literal null (expecting 'u') (body: not valid json)"
      )
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a query container that does not answer in timeout_sec is 500 context deadline exceeded", () =>
    Effect.gen(function* () {
      const sdk = yield* botQueryServer({}, () => true)
      yield* putBot(bot("bot-123"))
      yield* runRealtimePod(bot("bot-123"), sdk.port)
      const { post } = yield* serve()
      yield* eventually(
        Effect.filterOrFail(
          Effect.sync(() => sdk.seen.length),
          (n) => n >= 0
        )
      )
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/slow", timeout_sec: 1 })),
          (a) => a.status === 500 && String(a.json.error).includes("deadline"),
          (a) => a
        )
      )
      expect(answer.json.error).toBe(
        `failed to execute query request: Post "http://127.0.0.1:${sdk.port}/slow": context deadline exceeded`
      )
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("the SDK's 404 for an unknown path comes back as 500 with its message", () =>
    Effect.gen(function* () {
      yield* realtimeBot({})
      const { post } = yield* serve()
      const answer = yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/nope" })),
          (a) => a.status === 500,
          () => "not yet routed"
        )
      )
      expect(answer.json.error).toBe("No handler for path: /nope")
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("a Pod that is not Running, not ready, terminating or a query-Job Pod is never proxied to", () =>
    Effect.gen(function* () {
      const sdk = yield* botQueryServer({ "/p": () => "realtime" })
      yield* putBot(bot("bot-123"))
      const pod = yield* runRealtimePod(bot("bot-123"), sdk.port)
      const cluster = yield* MemoryCluster
      yield* cluster.direct.patchStatus("Pod", "the0", pod.metadata.name, {
        containerStatuses: (pod.status?.containerStatuses ?? []).map((s) =>
          s.name === "query-server" ? { ...s, ready: false } : s
        )
      })
      yield* simulateQueryPods(answerWith({ status: "ok", data: "from-job" }))
      const { post } = yield* serve()
      const answer = yield* post(JSON.stringify({ bot_id: "bot-123", query_path: "/p", timeout_sec: 5 }))
      expect(answer.status).toBe(200)
      expect(answer.json.data).toBe("from-job")
      expect(sdk.seen).toEqual([])
      yield* eventually(Effect.filterOrFail(jobs, (j) => j.length === 0))
      expect(yield* results).toEqual([])
    }).pipe(Effect.provide(world))
  )
})

describe("limits, auth and metrics", () => {
  it.scopedLive("a body over the limit is 413 with a message, by Content-Length or by what arrives", () =>
    Effect.gen(function* () {
      const { post } = yield* serve({ maxBodyBytes: 64 })
      const big = JSON.stringify({ bot_id: "b", query_path: "/p", params: { pad: "x".repeat(200) } })
      const declared = yield* post(big)
      expect(declared.status).toBe(413)
      expect(declared.json.error).toBe("request body too large: the limit is 64 bytes")
      expect(declared.header("connection")).toBe("close")
      const chunks = new TextEncoder().encode(big)
      const streamed = yield* post(chunks, {
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(chunks)
            controller.close()
          }
        }),
        duplex: "half"
      } as RequestInit)
      expect(streamed.status).toBe(413)
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("with a token, /query needs it (401 otherwise) and /health does not", () =>
    Effect.gen(function* () {
      const { post, request } = yield* serve({ authToken: "s3cret" })
      expect((yield* request("/health")).status).toBe(200)
      const anonymous = yield* post(JSON.stringify({ bot_id: "x", query_path: "/p" }))
      expect(anonymous.status).toBe(401)
      expect(anonymous.json.error).toBe("unauthorized: a valid bearer token is required")
      expect(anonymous.header("www-authenticate")).toBe('Bearer realm="the0-query"')
      const wrong = yield* post(JSON.stringify({ bot_id: "x", query_path: "/p" }), {
        headers: { authorization: "Bearer nope" }
      })
      expect(wrong.status).toBe(401)
      const right = yield* post(JSON.stringify({ bot_id: "x", query_path: "/p" }), {
        headers: { authorization: "Bearer s3cret" }
      })
      expect(right.status).toBe(404)
      expect((yield* request("/other")).status).toBe(401)
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("requests are counted by route, mode and status", () =>
    Effect.gen(function* () {
      yield* realtimeBot({ "/p": () => 1 })
      yield* putSchedule(bot("sched-1"))
      yield* simulateQueryPods(answerWith({ status: "ok", data: 2 }))
      const { post, request } = yield* serve()
      yield* eventually(
        Effect.filterOrFail(
          post(JSON.stringify({ bot_id: "bot-123", query_path: "/p" })),
          (a) => a.status === 200,
          () => "not yet routed"
        )
      )
      yield* post(JSON.stringify({ bot_id: "sched-1", query_path: "/p", timeout_sec: 5 }))
      yield* post(JSON.stringify({ bot_id: "bot-999", query_path: "/p" }))
      yield* post(JSON.stringify({ bot_id: "bot-999", query_path: "/p" }))
      yield* post(JSON.stringify({ query_path: "/p" }))
      yield* request("/health")
      const metrics = yield* Metrics
      const text = yield* Effect.promise(() => metrics.registry.metrics())
      expect(text).toContain('the0_query_requests_total{route="/query",mode="realtime",status="200"} 1')
      expect(text).toContain('the0_query_requests_total{route="/query",mode="job",status="200"} 1')
      expect(text).toContain('the0_query_requests_total{route="/query",mode="none",status="404"} 2')
      expect(text).toContain('the0_query_requests_total{route="/query",mode="none",status="400"} 1')
      expect(text).toContain('the0_query_requests_total{route="/health",mode="none",status="200"} 1')
      expect(text).toContain("the0_query_request_duration_seconds_bucket")
      expect(text).toContain("the0_query_jobs_in_flight 0")
      expect(text).toMatch(/the0_query_results_cleaned_total\{outcome="removed"\} [1-9]/)
    }).pipe(Effect.provide(world))
  )
})
