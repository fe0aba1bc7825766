// Queries of the demo ticker: /status (price, ticks, config), /history?limit=N (recent prices).
"use strict"
const { query, state } = require("./sdk.js")

query.handler("/status", (req, config) => ({
  bot_id: process.env.BOT_ID,
  symbol: state.get("config", config).symbol,
  price: state.get("last_price", null),
  ticks: state.get("ticks", 0),
  starts: state.get("starts", 0),
  config: state.get("config", config)
}))

query.handler("/history", (req) => {
  const limit = Number.parseInt(req.get("limit", "10"), 10) || 10
  return state.get("history", []).slice(-limit)
})

query.run()
