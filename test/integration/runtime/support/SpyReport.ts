/**
 * What the Node fixture bot's `spy` mode reports (test/fixtures/bots/node-bot/spy.js): its env, every
 * /proc/<pid>/environ and cmdline it could read, every file on the Pod's volumes; and what in such a report a bot
 * must not have been able to see.
 */
export interface SpyReport {
  readonly env: Record<string, string>
  readonly volumes: ReadonlyArray<string>
  readonly processes: ReadonlyArray<{ pid: number; cmdline: string | null; environ: string | null }>
  readonly files: ReadonlyArray<{ path: string; content: string | null }>
}

/**
 * The leaks in `report`: any of `secrets` anywhere, any of `foreign` (another bot's objects) anywhere, an
 * object-store variable in its env, or a process of the containers that hold the credentials.
 */
export const leaks = (
  report: SpyReport,
  secrets: ReadonlyArray<string>,
  foreign: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const text = JSON.stringify(report)
  return [
    ...secrets.filter((secret) => text.includes(secret)).map((_, i) => `credential #${i + 1}`),
    ...foreign.filter((marker) => text.includes(marker)).map((marker) => `another bot's object (${marker})`),
    ...Object.keys(report.env).filter((name) => /^MINIO_|^THE0_OBJECT_STORE/.test(name)),
    ...report.processes
      .filter((p) => /daemon (sync|restore|query-result)|MINIO_/.test(`${p.cmdline ?? ""} ${p.environ ?? ""}`))
      .map((p) => `process ${p.pid}: ${p.cmdline?.replaceAll("\0", " ")}`)
  ]
}

/** That the spy did look: its own container's processes and their environs, and files on the volumes. */
export const looked = (report: SpyReport): boolean =>
  report.processes.length >= 2 &&
  report.processes.every((p) => p.environ !== null && p.cmdline !== null) &&
  report.processes.some((p) => p.cmdline?.includes("execute") === true) &&
  report.files.some((f) => f.path.endsWith("/main.js"))
