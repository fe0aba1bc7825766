/**
 * cgroup v1 memory and CPU groups made by a test for the processes it starts, with a container's limits as the
 * kubelet sets them (memory.limit_in_bytes; cpu.cfs_quota_us over a 100 ms period). Needs root and cgroup v1.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"

const root = "/sys/fs/cgroup"
const periodMicros = 100_000

/** A Kubernetes quantity as bytes ("128Mi") or as millicores ("100m", "2"). */
export const quantity = {
  bytes: (value: string): number => {
    const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(value)
    if (match === null) throw new Error(`not a memory quantity: ${value}`)
    const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] as "Ki" | "Mi" | "Gi"] ?? 1
    return Number(match[1]) * unit
  },
  millicores: (value: string): number => {
    const match = /^(\d+)(m)?$/.exec(value)
    if (match === null) throw new Error(`not a CPU quantity: ${value}`)
    return match[2] === "m" ? Number(match[1]) : Number(match[1]) * 1000
  }
}

export interface Group {
  readonly name: string
  /** `sh -c` arguments that move the shell into the group, then exec the command. */
  readonly wrap: (command: string, args: ReadonlyArray<string>) => [string, Array<string>]
  /** How many processes the kernel OOM-killed in this group. */
  readonly oomKills: () => number
  /** The group's peak memory use (memory.max_usage_in_bytes). */
  readonly peakBytes: () => number
  /** Kills what still runs in the group, then removes it. */
  readonly remove: () => Promise<void>
}

export const cgroupV1Available = (): boolean =>
  existsSync(path.join(root, "memory/memory.limit_in_bytes")) && existsSync(path.join(root, "cpu/cpu.cfs_quota_us"))

export const makeGroup = (name: string, limits: { memoryBytes: number; millicores: number }): Group => {
  const memory = path.join(root, "memory", name)
  const cpu = path.join(root, "cpu", name)
  mkdirSync(memory, { recursive: true })
  mkdirSync(cpu, { recursive: true })
  writeFileSync(path.join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes))
  writeFileSync(path.join(cpu, "cpu.cfs_period_us"), String(periodMicros))
  writeFileSync(path.join(cpu, "cpu.cfs_quota_us"), String((limits.millicores * periodMicros) / 1000))
  const read = (file: string) => readFileSync(file, "utf8")
  return {
    name,
    wrap: (command, args) => [
      "sh",
      ["-c", `echo $$ > ${memory}/cgroup.procs && echo $$ > ${cpu}/cgroup.procs && exec "$@"`, "sh", command, ...args]
    ],
    oomKills: () => Number(/oom_kill (\d+)/.exec(read(path.join(memory, "memory.oom_control")))?.[1] ?? "0"),
    peakBytes: () => Number(read(path.join(memory, "memory.max_usage_in_bytes"))),
    remove: async () => {
      for (const dir of [memory, cpu]) {
        if (!existsSync(dir)) continue
        // whatever still runs in the group (a bot child left behind by a failed test) is killed first
        for (let attempt = 0; attempt < 50; attempt++) {
          const pids = read(path.join(dir, "cgroup.procs"))
            .split("\n")
            .filter((pid) => pid !== "")
          if (pids.length === 0) break
          for (const pid of pids) {
            try {
              process.kill(Number(pid), "SIGKILL")
            } catch {}
          }
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        rmdirSync(dir)
      }
    }
  }
}
