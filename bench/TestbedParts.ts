/** What the benches on the testbed share: the bot document the0's API publishes, metrics scraping, the node's cordon. */
import { type CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node"

/** A realtime bot as the0's API publishes it (and ingest stores it). */
export const botDocument = (id: string) => ({
  id,
  config: { name: `bot-${id}`, type: "realtime", version: "1.0.0", symbol: "BTC/USD" },
  custom: {
    config: {
      name: `bot-${id}`,
      runtime: "python3.11",
      type: "realtime",
      version: "1.0.0",
      entrypoints: { bot: "main.py", query: "query.py" }
    },
    filePath: `user-1/${id}/1.0.0.zip`,
    version: "1.0.0"
  }
})

/** Prometheus text at `url` → value per series (name with labels), for the series whose name starts with `prefix`. */
export const scrape = async (url: string, prefix: string): Promise<Map<string, number>> => {
  const series = new Map<string, number>()
  const text = await fetch(url)
    .then((r) => r.text())
    .catch(() => "")
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue
    const at = line.lastIndexOf(" ")
    series.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return series
}

/**
 * Marks the testbed's node unschedulable (or schedulable again), so Pods stay Pending and nothing else changes. A
 * stopped node would turn NotReady and, five minutes on, have its Pods evicted, which the controller replaces.
 */
export const cordon = (core: CoreV1Api, node: string, unschedulable: boolean) =>
  core.patchNode(
    { name: node, body: { spec: { unschedulable } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
  )
