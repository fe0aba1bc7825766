/**
 * `dev`'s servers belong to the user who started it (README.md, "Dev mode"), checked with real HTTP requests
 * against a running dev: the admin API wants the per-run token from the data directory, JSON bodies only, and a
 * Host and Origin naming it; the QueryServer checks Host too; the health server listens on `--host` only; input is
 * capped (body, config, nesting, ids and field types, bundle paths, unpacked bundle size) with a 400 or 413 naming
 * the field.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { truncate } from "node:fs/promises"
import { request } from "node:http"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel, type Scope } from "effect"
import { tokenFile } from "../../../src/programs/dev/AdminToken.ts"
import { makeZip } from "../../../src/programs/dev/Bundle.ts"
import { type Answer, accepts, type Dev, raw, repo, startDev } from "./DevHarness.ts"

const bundle = repo("assets/demo/realtime-ticker")

const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(path.join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** A dev on a fresh data directory for the test's scope. */
const withDev = <A>(f: (dev: Dev) => Effect.Effect<A, unknown, Scope.Scope>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir("the0-dev-security-")
    return yield* f(yield* startDev(dir))
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

const errorOf = (answer: Answer): string => (answer.body as { error?: string }).error ?? answer.text

const adminRaw = (dev: Dev, method: string, route: string, headers: Record<string, string>, body?: string) =>
  raw({ port: dev.settings.adminPort, method, path: route, headers, ...(body === undefined ? {} : { body }) })

/** Every file under `dir`. */
const filesUnder = (dir: string): Array<string> => {
  const out: Array<string> = []
  const visit = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name)
      if (entry.isDirectory()) visit(full)
      else out.push(full)
    }
  }
  try {
    visit(dir)
  } catch {
    return out
  }
  return out
}

describe("dev admin API: only the user who started dev", () => {
  it.live(
    "a per-run token in the data directory (mode 0600) is required on every request",
    () =>
      withDev((dev) =>
        Effect.gen(function* () {
          const file = tokenFile(dev.settings.dataDir)
          expect(statSync(file).mode & 0o777).toBe(0o600)
          expect(dev.token).toMatch(/^[0-9a-f]{64}$/)
          const auth = { authorization: `Bearer ${dev.token}` }

          const none = yield* adminRaw(dev, "GET", "/bots", {})
          expect(none.status).toBe(403)
          expect(errorOf(none)).toContain("missing or wrong token")
          const wrong = yield* adminRaw(dev, "GET", "/bots", { authorization: `Bearer ${"0".repeat(64)}` })
          expect(wrong.status).toBe(403)
          expect(errorOf(wrong)).toContain("missing or wrong token")
          const health = yield* adminRaw(dev, "GET", "/health", {})
          expect(health.status).toBe(403)
          const disable = yield* adminRaw(dev, "POST", "/bots/x/disable", {})
          expect(disable.status).toBe(403)

          const good = yield* adminRaw(dev, "GET", "/bots", auth)
          expect(good.status).toBe(200)
          expect(good.body).toEqual([])
        })
      ),
    60_000
  )

  it.live(
    "a web page cannot add a bot: text/plain bodies, foreign Host and Origin are refused with 403",
    () =>
      withDev((dev) =>
        Effect.gen(function* () {
          const auth = { authorization: `Bearer ${dev.token}` }
          const port = dev.settings.adminPort
          const add = JSON.stringify({ path: bundle, config: {} })

          const plain = yield* adminRaw(dev, "POST", "/bots", { ...auth, "content-type": "text/plain" }, add)
          expect(plain.status).toBe(403)
          expect(errorOf(plain)).toContain("only application/json request bodies are accepted, not text/plain")
          const untyped = yield* adminRaw(dev, "POST", "/bots", auth, add)
          expect(untyped.status).toBe(403)
          expect(errorOf(untyped)).toContain("only application/json")

          const evilHost = yield* adminRaw(dev, "GET", "/bots", { ...auth, host: "evil.example" })
          expect(evilHost.status).toBe(403)
          expect(errorOf(evilHost)).toBe("Host evil.example is not this server")
          const otherPort = yield* adminRaw(dev, "GET", "/bots", { ...auth, host: `127.0.0.1:${port + 1}` })
          expect(otherPort.status).toBe(403)
          const evilOrigin = yield* adminRaw(dev, "POST", "/bots", {
            ...auth,
            "content-type": "application/json",
            origin: "http://evil.example"
          })
          expect(evilOrigin.status).toBe(403)
          expect(errorOf(evilOrigin)).toBe("Origin http://evil.example is not this server")
          expect((yield* dev.admin("GET", "/bots")).body).toEqual([])

          for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `LOCALHOST:${port}`]) {
            const fine = yield* adminRaw(dev, "GET", "/bots", { ...auth, host, origin: `http://localhost:${port}` })
            expect(fine.status).toBe(200)
          }
        })
      ),
    60_000
  )

  it.live(
    "each run writes a new token; the previous one no longer works",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("the0-dev-token-")
        const first = yield* Effect.scoped(Effect.map(startDev(dir), (dev) => dev.token))
        const second = yield* startDev(dir)
        expect(second.token).not.toBe(first)
        const old = yield* adminRaw(second, "GET", "/bots", { authorization: `Bearer ${first}` })
        expect(old.status).toBe(403)
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)),
    60_000
  )

  it.live(
    "dev's QueryServer refuses a foreign Host or Origin (DNS rebinding); the health server listens on --host only",
    () =>
      withDev((dev) =>
        Effect.gen(function* () {
          const port = dev.settings.queryPort
          const evil = yield* raw({ port, method: "GET", path: "/health", headers: { host: "evil.example:80" } })
          expect(evil.status).toBe(403)
          expect(errorOf(evil)).toBe("Host evil.example:80 is not this server")
          const evilOrigin = yield* raw({
            port,
            method: "POST",
            path: "/query",
            headers: { origin: "http://evil.example", "content-type": "application/json" },
            body: JSON.stringify({ bot_id: "x", query_path: "/status" })
          })
          expect(evilOrigin.status).toBe(403)
          const fine = yield* raw({ port, method: "GET", path: "/health", headers: { host: `localhost:${port}` } })
          expect(fine.status).toBe(200)

          // bound to 127.0.0.1, not every interface: 127.0.0.2 (also loopback on Linux) is not answered
          expect(yield* accepts("127.0.0.1", dev.settings.healthPort)).toBe(true)
          expect(yield* accepts("127.0.0.2", dev.settings.healthPort)).toBe(false)
          expect(yield* accepts("127.0.0.2", dev.settings.queryPort)).toBe(false)
          expect(yield* accepts("127.0.0.2", dev.settings.adminPort)).toBe(false)
        })
      ),
    60_000
  )
})

describe("dev admin API: input limits", () => {
  it.live(
    "a body over 64 MiB is answered 413 without being read: declared, or streamed",
    () =>
      withDev((dev) =>
        Effect.gen(function* () {
          const headers = {
            authorization: `Bearer ${dev.token}`,
            "content-type": "application/json"
          }
          // declares 100 MiB, sends 1 KiB: the answer comes without the rest
          const declared = yield* Effect.async<Answer>((resume) => {
            const req = request(
              {
                host: "127.0.0.1",
                port: dev.settings.adminPort,
                method: "POST",
                path: "/bots",
                headers: { ...headers, "content-length": String(100 * 1024 * 1024) }
              },
              (res) => {
                const chunks: Array<Buffer> = []
                res.on("data", (c: Buffer) => chunks.push(c))
                res.on("end", () => {
                  const text = Buffer.concat(chunks).toString("utf8")
                  resume(
                    Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, text, body: JSON.parse(text) })
                  )
                })
              }
            )
            req.on("error", () => {})
            req.write(Buffer.alloc(1024, 0x20))
            return Effect.sync(() => req.destroy())
          })
          expect(declared.status).toBe(413)
          expect(errorOf(declared)).toContain("larger than 67108864 bytes (64 MiB)")
          expect(declared.headers.connection).toBe("close")

          // chunked, no declared length: 1 MiB at a time until the server answers (and closes the connection,
          // which may reset it while we write: the answer is taken as far as it came)
          const streamOnce = Effect.async<{ status: number; sent: number; text: string }>((resume) => {
            let sent = 0
            let status = 0
            const chunks: Array<Buffer> = []
            let done = false
            const finish = () => {
              if (done) return
              done = true
              resume(Effect.succeed({ status, sent, text: Buffer.concat(chunks).toString("utf8") }))
            }
            const req = request(
              {
                host: "127.0.0.1",
                port: dev.settings.adminPort,
                method: "POST",
                path: "/bots",
                headers: { ...headers, "transfer-encoding": "chunked" }
              },
              (res) => {
                status = res.statusCode ?? 0
                res.on("data", (c: Buffer) => chunks.push(c))
                res.on("end", finish)
                res.on("close", finish)
                res.on("error", finish)
              }
            )
            // a reset that overtakes the answer ends the attempt with status 0 (TCP gives no order between them)
            req.on("error", finish)
            req.on("close", finish)
            const chunk = Buffer.alloc(1024 * 1024, 0x20)
            const pump = () => {
              while (status === 0 && sent < 200 * 1024 * 1024) {
                sent += chunk.length
                if (!req.write(chunk)) {
                  req.once("drain", pump)
                  return
                }
              }
            }
            pump()
            return Effect.sync(() => req.destroy())
          })
          // the server lingers after answering (it reads on and closes later), so no reset overtakes the answer:
          // every attempt gets its 413
          for (let attempt = 1; attempt <= 5; attempt++) {
            const streamed = yield* streamOnce
            expect(streamed.status, `attempt ${attempt}`).toBe(413)
            expect(streamed.text).toContain("64 MiB")
            expect(streamed.sent).toBeLessThan(200 * 1024 * 1024)
          }

          // a client that sends on regardless, even after the server's end of the connection (a raw socket,
          // half-open allowed), is read only so far: the server closes the connection
          const sentRegardless = yield* Effect.async<number>((resume) => {
            let sent = 0
            let closed = false
            const finish = () => {
              if (closed) return
              closed = true
              resume(Effect.succeed(sent))
            }
            const socket = connect({ host: "127.0.0.1", port: dev.settings.adminPort, allowHalfOpen: true })
            socket.on("data", () => {})
            socket.on("error", finish)
            socket.on("close", finish)
            socket.write(
              `POST /bots HTTP/1.1\r\nhost: 127.0.0.1:${dev.settings.adminPort}\r\n` +
                `authorization: Bearer ${dev.token}\r\ncontent-type: application/json\r\n` +
                "transfer-encoding: chunked\r\n\r\n"
            )
            const chunk = Buffer.concat([
              Buffer.from(`${(1024 * 1024).toString(16)}\r\n`),
              Buffer.alloc(1024 * 1024, 0x20),
              Buffer.from("\r\n")
            ])
            const pump = () => {
              while (!closed && sent < 256 * 1024 * 1024) {
                sent += 1024 * 1024
                if (!socket.write(chunk)) {
                  socket.once("drain", pump)
                  return
                }
              }
              finish()
            }
            pump()
            return Effect.sync(() => socket.destroy())
          })
          expect(sentRegardless).toBeLessThan(128 * 1024 * 1024)
        })
      ),
    60_000
  )

  it.live(
    "config size, nesting depth, ids and field types are checked at the door, naming the field",
    () =>
      withDev((dev) =>
        Effect.gen(function* () {
          const big = { blob: "x".repeat(256 * 1024) }
          const tooBig = yield* dev.admin("POST", "/bots", { path: bundle, config: big })
          expect(tooBig.status).toBe(400)
          expect(errorOf(tooBig)).toMatch(/^"config" is \d+ bytes serialized; the limit is 262144 \(256 KiB\)$/)
          const tooBigPut = yield* dev.admin("PUT", "/bots/nope/config", { config: big })
          expect(tooBigPut.status).toBe(400)
          expect(errorOf(tooBigPut)).toContain('"config" is')

          const deep = `${'{"a":'.repeat(5000)}{}${"}".repeat(5000)}`
          const nested = yield* adminRaw(
            dev,
            "POST",
            "/bots",
            { authorization: `Bearer ${dev.token}`, "content-type": "application/json" },
            `{"path":${JSON.stringify(bundle)},"id":"deep-bot","config":${deep}}`
          )
          expect(nested.status).toBe(400)
          expect(errorOf(nested)).toBe('"config" nests deeper than 400 levels of arrays and objects')
          // nothing stored, nothing recorded
          expect(filesUnder(path.join(dev.settings.dataDir, "objects")).filter((f) => f.endsWith(".zip"))).toEqual([])
          expect((yield* dev.admin("GET", "/bots")).body).toEqual([])

          for (const id of ["UPPER", "a..b", "a.", "under_score", "-a", "x".repeat(64), ""]) {
            const refused = yield* dev.admin("POST", "/bots", { path: bundle, id, config: {} })
            expect(refused.status, id).toBe(400)
            expect(errorOf(refused), id).toContain(`"id" ${JSON.stringify(id)}: invalid bot ID`)
          }
          for (const id of [5, null, ["a"], { a: 1 }]) {
            const refused = yield* dev.admin("POST", "/bots", { path: bundle, id, config: {} })
            expect(refused.status).toBe(400)
            expect(errorOf(refused)).toBe(`"id" must be a string (a bot id), found ${JSON.stringify(id)}`)
          }
          const badPath = yield* dev.admin("POST", "/bots", { path: 5, config: {} })
          expect(badPath.status).toBe(400)
          expect(errorOf(badPath)).toBe('"path" must be a non-empty string, found 5')
          const badBundle = yield* dev.admin("POST", "/bots", { bundle: true, config: {} })
          expect(badBundle.status).toBe(400)
          expect(errorOf(badBundle)).toBe('"bundle" must be a non-empty string, found true')
          expect((yield* dev.admin("GET", "/bots")).body).toEqual([])
        })
      ),
    60_000
  )

  it.live(
    "a bundle path must be a regular file or directory (a FIFO is refused at once) of at most 64 MiB, unpacking to at most 64 MiB",
    () =>
      withDev((dev) =>
        Effect.gen(function* () {
          const dir = yield* tempDir("the0-dev-paths-")
          const fifo = path.join(dir, "bundle.zip")
          execFileSync("mkfifo", [fifo])
          const started = Date.now()
          const refused = yield* dev.admin("POST", "/bots", { path: fifo, config: {} })
          expect(refused.status).toBe(400)
          expect(errorOf(refused)).toContain("is not a regular file or a directory")
          expect(Date.now() - started).toBeLessThan(5000)

          const huge = path.join(dir, "huge.zip")
          writeFileSync(huge, "")
          yield* Effect.promise(() => truncate(huge, 64 * 1024 * 1024 + 1))
          const tooLarge = yield* dev.admin("POST", "/bots", { path: huge, config: {} })
          expect(tooLarge.status).toBe(400)
          expect(errorOf(tooLarge)).toBe(`bundle ${huge} is larger than 67108864 bytes (64 MiB), the limit`)

          // a small zip whose files unpack to over 64 MiB (a zip bomb) is refused by its declared sizes
          const bomb = path.join(dir, "bomb.zip")
          const yaml = "name: bomb\ntype: realtime\nruntime: nodejs20\nentrypoints:\n  bot: main.js\n"
          writeFileSync(
            bomb,
            makeZip([
              { name: "bot-config.yaml", data: new TextEncoder().encode(yaml), mode: 0o644 },
              { name: "main.js", data: new Uint8Array(), mode: 0o644 },
              { name: "data.bin", data: new Uint8Array(100 * 1024 * 1024), mode: 0o644 }
            ])
          )
          const unpacks = yield* dev.admin("POST", "/bots", { path: bomb, config: {} })
          expect(unpacks.status).toBe(400)
          expect(errorOf(unpacks)).toBe(
            `${bomb}: its files unpack to more than 67108864 bytes (64 MiB), the limit (reached at data.bin, 104857600 bytes); nothing was unpacked`
          )
          expect((yield* dev.admin("GET", "/bots")).body).toEqual([])

          // dev still answers (its file reads are not stuck behind the FIFO)
          expect((yield* dev.admin("GET", "/bots")).status).toBe(200)
        })
      ),
    60_000
  )
})
