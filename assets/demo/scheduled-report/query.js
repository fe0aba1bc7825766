// Queries of the demo report bot, answered by a one-shot query Job: /status (runs, last report).
"use strict"
const { query, state } = require("./sdk.js")

query.handler("/status", () => ({
  bot_id: process.env.BOT_ID,
  runs: state.get("runs", 0),
  last_report: state.get("last_report", null)
}))

query.run()
