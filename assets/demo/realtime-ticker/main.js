// Demo realtime bot: a simulated price for config.symbol, one tick every config.interval_ms, kept in state so it
// continues where it left off after a restart; a metric line per tick; stops cleanly on SIGTERM.
"use strict"
const { state, metric, log } = require("./sdk.js")

exports.main = async (botId, config, options) => {
  const symbol = config.symbol || "BTC/USD"
  const interval = Number(config.interval_ms) || 1000
  let price = state.get("last_price", Number(config.base_price) || 100)
  let ticks = state.get("ticks", 0)
  const history = state.get("history", [])
  const restarts = state.get("starts", 0) + 1
  state.set("starts", restarts)
  state.set("config", config)
  log("ticker started", { botId, symbol, price, ticks, starts: restarts })
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      price = Math.round(price * (1 + (Math.random() - 0.5) / 100) * 100) / 100
      ticks += 1
      history.push({ t: new Date().toISOString(), price })
      while (history.length > 20) history.shift()
      state.set("last_price", price)
      state.set("ticks", ticks)
      state.set("history", history)
      metric("price", { symbol, value: price })
    }, interval)
    options?.signal?.addEventListener("abort", () => {
      clearInterval(timer)
      log("ticker stopping", { ticks, price })
      resolve()
    })
  })
  return { status: "success", message: `stopped after ${ticks} ticks` }
}
