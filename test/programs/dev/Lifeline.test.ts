/**
 * Nothing outlives `dev` (docs/operations.md, "Dev mode processes"), with `the0-runtime dev` as a real process and a
 * quiet bot (it writes nothing, so a closed stdout would never stop it) with a query server and its sync sidecar:
 * after `kill -9` of dev, no process of that run is left within 5 s (each container's lifeline); and when the
 * lifelines are lost too (their watchers killed first), the next dev on the same data directory stops what the
 * previous run left before starting the bot again, which then runs exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { processRecordFile } from "../../../src/layers/dev/ProcessKubelet.ts"
import * as AdminToken from "../../../src/programs/dev/AdminToken.ts"
import * as DevApp from "../../../src/programs/dev/DevApp.ts"
import { eventually, freePort, raw, repo } from "./DevHarness.ts"

interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly pgrp: number
  readonly start: string
  readonly cmdline: string
}

/** Every live process (zombies left out), from /proc. */
const processes = (): Array<Proc> => {
  const out: Array<Proc> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (fields[0] === "Z") continue
      out.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        pgrp: Number(fields[2]),
        start: fields[19] ?? "",
        cmdline: readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ")
      })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** The processes of a dev run: its descendants and every member of their process groups but dev's own. */
const processesOf = (dev: number): Array<Proc> => {
  const all = processes()
  const tree = new Set([dev])
  for (let grown = true; grown; ) {
    grown = false
    for (const p of all)
      if (tree.has(p.ppid) && !tree.has(p.pid)) {
        tree.add(p.pid)
        grown = true
      }
  }
  const own = all.find((p) => p.pid === dev)?.pgrp
  const groups = new Set(all.filter((p) => tree.has(p.pid) && p.pgrp !== own).map((p) => p.pgrp))
  return all.filter((p) => p.pid !== dev && (tree.has(p.pid) || groups.has(p.pgrp)))
}

const stillAlive = (snapshot: ReadonlyArray<Proc>): Array<Proc> => {
  const now = new Map(processes().map((p) => [`${p.pid}/${p.start}`, p]))
  return snapshot.filter((p) => now.has(`${p.pid}/${p.start}`))
}

/** The container processes dev started: its children leading their own process group. */
const containerLeaders = (dev: number): Array<Proc> => processes().filter((p) => p.ppid === dev && p.pgrp === p.pid)

/** A bot that writes nothing: it waits forever; its queries answer from the demo ticker's query.js. */
const quietBundle = (dir: string): string => {
  const demo = repo("assets/demo/realtime-ticker")
  for (const file of ["query.js", "sdk.js", "package.json"]) copyFileSync(path.join(demo, file), path.join(dir, file))
  writeFileSync(
    path.join(dir, "bot-config.yaml"),
    "name: quiet\nversion: 1.0.0\ntype: realtime\nruntime: nodejs20\nentrypoints:\n  bot: main.js\n  query: query.js\n"
  )
  writeFileSync(path.join(dir, "main.js"), "exports.main = () => new Promise(() => setInterval(() => {}, 60000))\n")
  return dir
}

/** `the0-runtime dev` as a process on `dataDir`, with the bot running; killed when the scope closes. */
const startDev = (
  dataDir: string
): Effect.Effect<{ readonly child: ChildProcess; readonly pid: number }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const adminPort = yield* freePort
    const args = ["dev", "--data-dir", dataDir, "--admin-port", String(adminPort), "--grace-period", "5"]
    args.push("--query-port", String(yield* freePort), "--health-port", String(yield* freePort))
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(repo("bin/the0-runtime"), args, { stdio: ["ignore", "ignore", "inherit"] })),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    const admin = (method: string, route: string, body?: unknown) =>
      Effect.gen(function* () {
        const token = yield* Effect.orElseSucceed(AdminToken.read(dataDir), () => "")
        return yield* raw({
          port: adminPort,
          method,
          path: route,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        }).pipe(Effect.catchAllDefect(() => Effect.succeed(undefined)))
      })
    const exited = Effect.async<never>((resume) => {
      child.once("exit", (code, signal) => resume(Effect.die(new Error(`dev exited early: ${code ?? signal}`))))
    })
    yield* Effect.raceFirst(
      eventually(
        "dev's admin API",
        60,
        Effect.map(admin("GET", "/bots"), (r) => (r?.status === 200 ? r : undefined))
      ),
      exited
    )
    const listed = yield* admin("GET", "/bots")
    if (Array.isArray(listed?.body) && listed.body.length === 0) {
      const added = yield* admin("POST", "/bots", {
        path: quietBundle(mkdtempSync(path.join(dataDir, "..", "quiet-"))),
        id: "quiet",
        config: {}
      })
      expect(added?.status).toBe(201)
    }
    yield* eventually(
      "the quiet bot running",
      90,
      Effect.map(admin("GET", "/bots/quiet"), (r) =>
        (r?.body as { state?: string } | undefined)?.state === "running" ? true : undefined
      )
    )
    return { child, pid: child.pid ?? 0 }
  })

const killHard = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

describe("nothing outlives dev", () => {
  it.live(
    "kill -9 of dev: its containers end within 5 s; leftovers of a run without lifelines are stopped by the next",
    () =>
      Effect.gen(function* () {
        const root = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(path.join(tmpdir(), "the0-dev-lifeline-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const dataDir = path.join(root, "data")
        // whatever the outcome, no process of these runs is left behind by the test
        const seen: Array<Proc> = []
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            for (const p of stillAlive(seen))
              try {
                process.kill(p.pid, "SIGKILL")
              } catch {
                // gone meanwhile
              }
          })
        )

        // the first run: its lifelines end everything once dev is killed
        const first = yield* startDev(dataDir)
        const ofFirst = processesOf(first.pid)
        seen.push(...ofFirst)
        expect(containerLeaders(first.pid).length).toBe(3)
        yield* killHard(first.child)
        for (let waited = 0; waited < 5000 && stillAlive(ofFirst).length > 0; waited += 100)
          yield* Effect.sleep("100 millis")
        expect(stillAlive(ofFirst).map((p) => p.cmdline)).toEqual([])

        // the second run loses its lifelines (their watchers killed), then dev is killed: the quiet bot stays
        const second = yield* startDev(dataDir)
        const ofSecond = processesOf(second.pid)
        seen.push(...ofSecond)
        expect(containerLeaders(second.pid).length).toBe(3)
        const watchers = ofSecond.filter((p) => p.cmdline.includes("kill -s KILL 0"))
        expect(watchers.length).toBe(3)
        for (const watcher of watchers) process.kill(watcher.pid, "SIGKILL")
        yield* killHard(second.child)
        yield* Effect.sleep("1 second")
        const left = stillAlive(ofSecond)
        expect(left.length).toBeGreaterThan(0)

        // the third run stops them before starting the bot: one process group per container, none of the second's
        const third = yield* startDev(dataDir)
        seen.push(...processesOf(third.pid))
        expect(stillAlive(left)).toEqual([])
        const leaders = containerLeaders(third.pid)
        expect(leaders.length).toBe(3)
        const record = JSON.parse(readFileSync(processRecordFile(DevApp.layout(dataDir).pods), "utf8")) as {
          groups: ReadonlyArray<{ pid: number }>
        }
        expect(record.groups.map((g) => g.pid).sort()).toEqual(leaders.map((p) => p.pid).sort())
      }).pipe(Effect.scoped),
    300_000
  )
})
