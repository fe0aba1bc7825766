/** The world a controller test runs in: the fake cluster with a kubelet, the memory store, metrics. */
import { Effect, Layer, Logger } from "effect"
import type { Bot, BotSchedule } from "../../../src/domain/Bot.ts"
import * as MemoryBotStore from "../../../src/layers/memory/MemoryBotStore.ts"
import * as MemoryJobController from "../../../src/layers/memory/MemoryJobController.ts"
import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import * as MemoryKubelet from "../../../src/layers/memory/MemoryKubelet.ts"
import * as ControllerSettings from "../../../src/programs/controller/ControllerSettings.ts"
import { Metrics } from "../../../src/programs/Metrics.ts"
import { BotStore } from "../../../src/services/BotStore.ts"
import { KubeApi } from "../../../src/services/KubeApi.ts"

export const ns = "the0"

export const settings: ControllerSettings.ControllerSettings = {
  ...ControllerSettings.defaults,
  manifest: { ...ControllerSettings.defaults.manifest, runtimeImage: "runtime:test" }
}

export const world = (kubelet: MemoryKubelet.KubeletOptions = { autoRun: true, autoTerminate: true }) =>
  Layer.mergeAll(MemoryKubelet.layer(kubelet), MemoryJobController.layer(ns)).pipe(
    Layer.provideMerge(Layer.mergeAll(MemoryKubeApi.layer(), MemoryBotStore.layer, Metrics.layer))
  )

/** Collects the message of every log line into `lines`, instead of printing it. */
export const captureLogs = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
  )

/** Lets forked fibers (watches, workers, simulators) run to quiescence without moving the clock. */
export const settle = Effect.repeatN(Effect.yieldNow(), 300)

export const bot = (id: string, config: Record<string, unknown> = {}, version = "1.0.0"): Bot => ({
  id,
  config: { symbol: "BTC/USD", ...config },
  custom: {
    version,
    filePath: `user-1/${id}/v${version}.zip`,
    config: { name: `bot-${id}`, runtime: "python3.11", entrypoints: { bot: "main.py", query: "query.py" } }
  }
})

export const schedule = (
  id: string,
  cron: string | null = "0 9 * * *",
  config: Record<string, unknown> = {}
): BotSchedule => {
  const base = bot(id, config)
  return { ...base, config: cron === null ? (base.config ?? {}) : { ...base.config, schedule: cron } }
}

export const pods = Effect.flatMap(KubeApi, (api) => api.list("Pod", ns)).pipe(Effect.map((l) => l.items))
export const podNames = Effect.map(pods, (items) => items.map((p) => p.metadata.name).sort())
export const cronJobs = Effect.flatMap(KubeApi, (api) => api.list("CronJob", ns)).pipe(Effect.map((l) => l.items))

export const putBot = (doc: Bot) =>
  Effect.flatMap(BotStore, (s) =>
    s.bots.upsert(doc.id, { config: doc.config ?? {}, ...(doc.custom === undefined ? {} : { custom: doc.custom }) })
  )
export const putSchedule = (doc: BotSchedule) =>
  Effect.flatMap(BotStore, (s) =>
    s.schedules.upsert(doc.id, {
      config: doc.config ?? {},
      ...(doc.custom === undefined ? {} : { custom: doc.custom })
    })
  )

/** the0's API payload for a new realtime bot (docs/contracts.md, "Event payloads"), as published on NATS. */
export const createdPayload = (id: string) => {
  const doc = bot(id)
  return new TextEncoder().encode(
    JSON.stringify({
      id,
      config: { name: `bot-${id}`, type: "realtime", version: "1.0.0", ...doc.config },
      custom: { ...doc.custom, config: { ...doc.custom?.config, type: "realtime" } }
    })
  )
}
