/**
 * `the0-runtime dev` in this process for tests: the real layer on the embedded backends, on free loopback ports,
 * with raw HTTP (any Host, Origin, Content-Type, body) and the admin API's token read from the data directory as
 * the `dev` subcommands do.
 */
import { request } from "node:http"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { Effect, Layer, type Scope } from "effect"
import { devHostPortAnnotation } from "../../../src/domain/Labels.ts"
import * as DevBackends from "../../../src/layers/dev/DevBackends.ts"
import { tcpAccepts } from "../../../src/layers/dev/LoopbackPorts.ts"
import * as AdminToken from "../../../src/programs/dev/AdminToken.ts"
import * as DevApp from "../../../src/programs/dev/DevApp.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

export const repo = (relative: string) => fileURLToPath(new URL(`../../../${relative}`, import.meta.url))

export const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly text: string
  readonly body: unknown
}

export interface RawRequest {
  readonly port: number
  readonly method: string
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array
}

/** One HTTP request to 127.0.0.1 with exactly these headers (Node adds Host only when not given). */
export const raw = (options: RawRequest): Effect.Effect<Answer> =>
  Effect.async<Answer>((resume) => {
    const req = request(
      { host: "127.0.0.1", port: options.port, method: options.method, path: options.path, headers: options.headers },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let body: unknown
          try {
            body = JSON.parse(text)
          } catch {
            body = text
          }
          resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, text, body }))
        })
      }
    )
    req.on("error", (error) => resume(Effect.die(error)))
    req.end(options.body)
    return Effect.sync(() => req.destroy())
  })

export interface Dev {
  readonly settings: DevApp.DevSettings
  readonly token: string
  /** An admin API request as the `dev` subcommands send it (token, JSON body). */
  readonly admin: (method: string, route: string, body?: unknown) => Effect.Effect<Answer>
  readonly query: (botId: string, queryPath: string) => Effect.Effect<Answer>
  /** The host ports the dev kubelet gave the Pods' containers (from the Pods' annotations). */
  readonly podPorts: Effect.Effect<ReadonlyArray<number>>
}

/** Starts dev on `dataDir` in the current scope (closing the scope stops it, as Ctrl-C does). */
export const startDev = (dataDir: string): Effect.Effect<Dev, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const settings: DevApp.DevSettings = {
      dataDir,
      namespace: "the0",
      host: "127.0.0.1",
      queryPort: yield* freePort,
      adminPort: yield* freePort,
      healthPort: yield* freePort,
      demo: false,
      demoDir: repo("assets/demo"),
      gracePeriodSeconds: 20
    }
    const paths = DevApp.layout(dataDir)
    const backends = DevBackends.layer({
      namespace: settings.namespace,
      objectsDir: paths.objects,
      podsDir: paths.pods,
      runtime: { file: repo("bin/the0-runtime"), args: [] },
      wrappersDir: repo("assets/wrappers")
    })
    const context = yield* Layer.build(DevApp.layer(settings, backends))
    yield* Effect.provide(DevApp.start(settings), context)
    const token = yield* AdminToken.read(dataDir)
    const json = (port: number, method: string, route: string, headers: Record<string, string>, body?: unknown) =>
      raw({
        port,
        method,
        path: route,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
    return {
      settings,
      token,
      admin: (method, route, body) =>
        json(settings.adminPort, method, route, { authorization: `Bearer ${token}` }, body),
      query: (botId, queryPath) =>
        json(settings.queryPort, "POST", "/query", {}, { bot_id: botId, query_path: queryPath }),
      podPorts: Effect.flatMap(KubeApi, (api) => api.list("Pod", settings.namespace)).pipe(
        Effect.map((pods) =>
          pods.items.flatMap((pod) =>
            Object.entries(pod.metadata.annotations ?? {})
              .filter(([key]) => key.startsWith(devHostPortAnnotation(0).replace(/0$/, "")))
              .map(([, value]) => Number(value))
          )
        ),
        Effect.orDie,
        Effect.provide(context)
      )
    }
  })

/** Polls `check` every 250 ms until it returns a value, failing the test after `seconds`. */
export const eventually = <A>(what: string, seconds: number, check: Effect.Effect<A | undefined>) =>
  Effect.gen(function* () {
    const deadline = Date.now() + seconds * 1000
    while (Date.now() < deadline) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("250 millis")
    }
    return yield* Effect.die(new Error(`timed out after ${seconds} s waiting for ${what}`))
  })

/** Whether something accepts a TCP connection on `host:port`. */
export const accepts = tcpAccepts
