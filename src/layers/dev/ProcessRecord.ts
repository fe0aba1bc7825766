/**
 * The record of the container processes a dev kubelet runs (docs/operations.md, "Dev mode processes"): a JSON file
 * naming its owner (the kubelet's own process) and the process group of each running container, each by pid and
 * start time (`/proc/<pid>/stat`, field 22: ticks since boot). The file is rewritten at every spawn and exit and
 * removed when the kubelet closes.
 *
 * At start a kubelet reads the record a previous run left: if its owner is still alive, another `dev` uses the
 * directory and this one refuses to start; otherwise every recorded group whose leader is still the recorded
 * process (same pid, same start time) is killed with every descendant of its members (the runtime starts a bot in
 * a process group of its own), so that a pid the system has since given to another process is never signalled.
 * Where `/proc` is missing (not Linux) no identity can be checked and nothing is killed.
 */
import { readdirSync, readFileSync } from "node:fs"
import { readFile, rename, rm, writeFile } from "node:fs/promises"
import { Data, Effect, Schema } from "effect"

/** A process by pid and start time (`null` when it cannot be read). */
export const ProcessId = Schema.Struct({ pid: Schema.Int, start: Schema.NullOr(Schema.String) })
export type ProcessId = typeof ProcessId.Type

const RecordFile = Schema.Struct({ owner: ProcessId, groups: Schema.Array(ProcessId) })

export class DataDirInUse extends Data.TaggedError("DataDirInUse")<{ readonly message: string }> {}

interface Stat {
  readonly state: string
  readonly ppid: number
  readonly pgrp: number
  readonly start: string
}

/** A live process's state and start time from `/proc/<pid>/stat`, or `undefined` (gone, or no `/proc`). */
const statOf = (pid: number): Stat | undefined => {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  // the command name, in parentheses, may hold spaces and parentheses: the fields follow its last ")"
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  const [state, ppid, pgrp] = fields
  const start = fields[19]
  return state === undefined || start === undefined
    ? undefined
    : { state, ppid: Number(ppid), pgrp: Number(pgrp), start }
}

/** The members of process group `pgid` and all their descendants, from `/proc` (zombies left out). */
const groupTree = (pgid: number): Array<number> => {
  const children = new Map<number, Array<number>>()
  const tree: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry)
    const stat = Number.isInteger(pid) ? statOf(pid) : undefined
    if (stat === undefined || stat.state === "Z") continue
    if (stat.pgrp === pgid) tree.push(pid)
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid])
  }
  for (let i = 0; i < tree.length; i++)
    for (const child of children.get(tree[i] ?? 0) ?? []) if (!tree.includes(child)) tree.push(child)
  return tree
}

/** `pid` with its start time now. */
export const identify = (pid: number): ProcessId => ({ pid, start: statOf(pid)?.start ?? null })

/** Whether `id` is still that very process, and alive (not a zombie). */
export const isAlive = (id: ProcessId): boolean => {
  if (id.start === null) return false
  const stat = statOf(id.pid)
  return stat !== undefined && stat.start === id.start && stat.state !== "Z"
}

export interface ProcessTable {
  /** Records the process group led by `pid` (a container just spawned). */
  readonly add: (pid: number) => void
  /** Forgets it (the container has ended). */
  readonly remove: (pid: number) => void
}

/** A record in `file` owned by this process; closing the scope removes the file (after any write under way). */
export const make = (file: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const owner = identify(process.pid)
      const groups = new Map<number, ProcessId>()
      // writes are chained so the file always ends as the last change left it
      const chain = { writing: Promise.resolve() }
      const save = () => {
        const text = JSON.stringify({ owner, groups: [...groups.values()] })
        chain.writing = chain.writing
          .then(async () => {
            await writeFile(`${file}.tmp`, text, { mode: 0o600 })
            await rename(`${file}.tmp`, file)
          })
          .catch(() => undefined)
      }
      save()
      const table: ProcessTable = {
        add: (pid) => {
          groups.set(pid, identify(pid))
          save()
        },
        remove: (pid) => {
          if (groups.delete(pid)) save()
        }
      }
      return { table, chain }
    }),
    ({ chain }) => Effect.promise(() => chain.writing.then(() => rm(file, { force: true })))
  ).pipe(Effect.map(({ table }) => table))

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Stops what a previous run recorded in `file` left running (SIGKILL to each verified group, then waits up to 5 s
 * for the leaders to be gone); fails when the recording run is still alive. Returns the groups it killed.
 */
export const reapLeftovers = (file: string): Effect.Effect<ReadonlyArray<ProcessId>, DataDirInUse> =>
  Effect.gen(function* () {
    const text = yield* Effect.promise(() => readFile(file, "utf8").catch(() => undefined))
    if (text === undefined) return []
    const decoded = yield* Effect.either(Schema.decodeUnknown(Schema.parseJson(RecordFile))(text))
    if (decoded._tag === "Left") {
      yield* Effect.logWarning(`dev kubelet: ignoring the unreadable process record ${file}: ${decoded.left.message}`)
      return []
    }
    const { owner, groups } = decoded.right
    if (isAlive(owner))
      return yield* new DataDirInUse({
        message: `another dev (pid ${owner.pid}) is running on this data directory (${file} is its process record)`
      })
    const alive = groups.filter(isAlive)
    const killed = alive.flatMap((group) => groupTree(group.pid).map(identify))
    for (const id of killed.filter(isAlive))
      try {
        process.kill(id.pid, "SIGKILL")
      } catch (error) {
        yield* Effect.logWarning(`dev kubelet: cannot stop process ${id.pid}: ${errorText(error)}`)
      }
    for (let waited = 0; waited < 5000 && killed.some(isAlive); waited += 50) yield* Effect.sleep("50 millis")
    if (alive.length > 0)
      yield* Effect.logWarning(
        `dev kubelet: stopped ${alive.length} process group(s) a previous run left: ${alive.map((g) => g.pid).join(", ")}`
      )
    return alive
  })
