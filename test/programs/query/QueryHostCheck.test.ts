/**
 * The QueryServer's Host check (programs/HostGuard.ts) is a setting: off in the controller (behind a Kubernetes
 * Service, any Host is answered), on in `dev` (a foreign Host or Origin is 403, naming it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as QueryServer from "../../../src/programs/query/QueryServer.ts"
import * as QuerySettings from "../../../src/programs/query/QuerySettings.ts"
import { freePort, raw } from "../dev/DevHarness.ts"
import { botPodInformer, settings, world } from "./QueryEnv.ts"

const healthWithHost = (checkHost: boolean, host: string) =>
  Effect.gen(function* () {
    const botPods = yield* botPodInformer
    yield* botPods.synced
    const port = yield* freePort
    yield* Layer.build(QueryServer.layer({ settings: { ...settings, port, checkHost }, botPods }))
    return yield* raw({ port, method: "GET", path: "/health", headers: { host: host.replace("PORT", String(port)) } })
  })

describe("QueryServer Host check", () => {
  it("is off by default (the controller's QueryServer)", () => {
    expect(QuerySettings.defaults.checkHost).toBe(false)
  })

  it.scopedLive("off: any Host is answered", () =>
    Effect.gen(function* () {
      expect((yield* healthWithHost(false, "evil.example")).status).toBe(200)
      expect((yield* healthWithHost(false, "the0-query.the0.svc:9477")).status).toBe(200)
    }).pipe(Effect.provide(world))
  )

  it.scopedLive("on: only the bound address or localhost with the port", () =>
    Effect.gen(function* () {
      const evil = yield* healthWithHost(true, "evil.example")
      expect(evil.status).toBe(403)
      expect((evil.body as { error: string }).error).toBe("Host evil.example is not this server")
      expect((yield* healthWithHost(true, "127.0.0.1:PORT")).status).toBe(200)
      expect((yield* healthWithHost(true, "localhost:PORT")).status).toBe(200)
      expect((yield* healthWithHost(true, "localhost")).status).toBe(403)
    }).pipe(Effect.provide(world))
  )
})
