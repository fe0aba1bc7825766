/**
 * The text pieces of the human screens of `the0-runtime status` (docs/operations.md, "`the0-runtime status`"):
 * tables with padded columns, label and value lines, and times said as ages.
 */

/** Columns padded to their widest cell; the last column is not padded. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

/** Label and value pairs, the values aligned, without a header. */
export const fields = (rows: ReadonlyArray<readonly [string, string]>): string =>
  table(["", ""], rows).split("\n").slice(1).join("\n")

/**
 * How long before (or after) `now` a time is: seconds under 2 minutes, minutes under 2 hours, hours under 2 days,
 * days beyond; `-` for none, the text itself when it is not a time.
 */
export const ago = (iso: string | undefined, now: number): string => {
  if (iso === undefined) return "-"
  const seconds = Math.round((now - Date.parse(iso)) / 1000)
  if (Number.isNaN(seconds)) return iso
  const span =
    Math.abs(seconds) < 120
      ? `${Math.abs(seconds)}s`
      : Math.abs(seconds) < 7200
        ? `${Math.round(Math.abs(seconds) / 60)}m`
        : Math.abs(seconds) < 172_800
          ? `${Math.round(Math.abs(seconds) / 3600)}h`
          : `${Math.round(Math.abs(seconds) / 86_400)}d`
  return seconds >= 0 ? `${span} ago` : `in ${span}`
}
