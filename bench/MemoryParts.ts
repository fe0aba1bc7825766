/**
 * What the benches on the memory layers share: the bot document they write, the ids they number, the world the
 * controller runs in, and its settings (a resync an hour, so only what a bench does is measured).
 */
import { Layer } from "effect"
import * as MemoryBotStore from "../src/layers/memory/MemoryBotStore.ts"
import * as MemoryEventBus from "../src/layers/memory/MemoryEventBus.ts"
import * as MemoryKubeApi from "../src/layers/memory/MemoryKubeApi.ts"
import * as ControllerSettings from "../src/programs/controller/ControllerSettings.ts"
import { Metrics } from "../src/programs/Metrics.ts"

export const ns = "the0"

/** A realtime bot's document, without its id. */
export const doc = (id: string) => ({
  config: { symbol: "BTC/USD", interval: "1m", risk: 0.01 },
  custom: {
    version: "1.0.0",
    filePath: `user-1/${id}/v1.0.0.zip`,
    config: { name: `bot-${id}`, runtime: "python3.11", entrypoints: { bot: "main.py", query: "query.py" } }
  }
})

/** The i-th bot's id: sorted as numbered. */
export const id = (i: number) => `b${i.toString(36).padStart(6, "0")}`

/** The fake cluster (a history long enough for 10,000 bots), the store, metrics and the event bus. */
export const world = Layer.mergeAll(
  MemoryKubeApi.layer({ historyLimit: 200_000 }),
  MemoryBotStore.layer,
  Metrics.layer,
  MemoryEventBus.layerWithControl
)

export const settings: ControllerSettings.ControllerSettings = {
  ...ControllerSettings.defaults,
  resyncInterval: "1 hour",
  leaderElection: { ...ControllerSettings.defaults.leaderElection, identity: "bench" }
}
