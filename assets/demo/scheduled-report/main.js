// Demo scheduled bot: each run writes a small report for config.symbol and counts its runs in state.
"use strict"
const { state, metric, log } = require("./sdk.js")

exports.main = async (botId, config) => {
  const runs = state.get("runs", 0) + 1
  const report = { run: runs, symbol: config.symbol || "ETH/USD", at: new Date().toISOString() }
  state.set("runs", runs)
  state.set("last_report", report)
  metric("report", report)
  log("report written", report)
  return { status: "success", message: `report ${runs} written` }
}
