/**
 * What a previous dev run left is stopped at start, by the record it kept (docs/operations.md, "Dev mode
 * processes"): a recorded process group whose leader is still the recorded process is killed, whole, with the
 * descendants that left it; a recorded pid now held by another process (another start time) is left alone; a record
 * whose owner still runs is refused.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { identify, isAlive, reapLeftovers } from "../../../src/layers/dev/ProcessRecord.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(path.join(tmpdir(), "process-record-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A process group (a shell and its `sleep`) and a child of the shell in a session of its own, killed at the end. */
const group = (): Effect.Effect<ChildProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<ChildProcess>((resume) => {
      const child = spawn("/bin/sh", ["-c", "sleep 1000 & setsid sleep 1001 & echo started; wait"], {
        detached: true,
        stdio: ["ignore", "pipe", "ignore"]
      })
      child.stdout?.once("data", () => resume(Effect.succeed(child)))
    }),
    (child) =>
      Effect.sync(() => {
        for (const pid of [...childrenOf(child.pid ?? 0), -(child.pid ?? 0)])
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // already gone
          }
      })
  )

/** The live processes whose field `index` (after the command name) of /proc/<pid>/stat is `value`. */
const withField = (index: number, value: number): Array<number> => {
  const out: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const text = readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
      if (fields[0] !== "Z" && Number(fields[index]) === value) out.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

const members = (pgid: number) => withField(2, pgid)
const childrenOf = (pid: number) => withField(1, pid)

/** Waits up to 5 s for no process of group `pgid` to be left. */
const gone = (pgid: number) =>
  Effect.gen(function* () {
    for (let waited = 0; waited < 5000 && members(pgid).length > 0; waited += 50) yield* Effect.sleep("50 millis")
    expect(members(pgid)).toEqual([])
  })

describe("dev process record", () => {
  it.live("a verified leftover group is killed whole; a pid held by another process is not touched", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "processes.json")
      const leftover = yield* group()
      const stranger = yield* group()
      const leftoverId = identify(leftover.pid ?? 0)
      const strangerId = identify(stranger.pid ?? 0)
      expect(members(leftoverId.pid)).toHaveLength(2)
      const escaped = childrenOf(leftoverId.pid)
        .map(identify)
        .filter((id) => !members(leftoverId.pid).includes(id.pid))
      expect(escaped).toHaveLength(1)
      // the owner: a process that has ended; the stranger recorded with another start time (its pid reused)
      const ended = spawn("/bin/true")
      yield* Effect.async<void>((resume) => void ended.once("close", () => resume(Effect.void)))
      const record = {
        owner: { pid: ended.pid, start: "1" },
        groups: [leftoverId, { pid: strangerId.pid, start: String(Number(strangerId.start) + 1) }]
      }
      writeFileSync(file, JSON.stringify(record))

      const killed = yield* reapLeftovers(file)
      expect(killed).toEqual([leftoverId])
      expect(isAlive(leftoverId)).toBe(false)
      yield* gone(leftoverId.pid)
      expect(escaped.filter(isAlive)).toEqual([])
      expect(isAlive(strangerId)).toBe(true)
      expect(members(strangerId.pid)).toHaveLength(2)
    }).pipe(Effect.scoped)
  )

  it.live("a record whose owner still runs is refused, and nothing is killed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "processes.json")
      const running = yield* group()
      const runningId = identify(running.pid ?? 0)
      writeFileSync(file, JSON.stringify({ owner: identify(process.pid), groups: [runningId] }))
      const refused = yield* Effect.flip(reapLeftovers(file))
      expect(refused.message).toBe(
        `another dev (pid ${process.pid}) is running on this data directory (${file} is its process record)`
      )
      expect(isAlive(runningId)).toBe(true)
    }).pipe(Effect.scoped)
  )
})
