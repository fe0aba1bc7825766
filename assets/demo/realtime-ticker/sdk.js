// The small part of the0's SDK contract (runtime spec §7.5) these demo bots use, with no dependency: state files
// under STATE_DIR, metric lines on stdout, log lines on stderr, the query protocol (server on THE0_QUERY_PORT,
// on THE0_QUERY_HOST when set, as dev sets it; one-shot with QUERY_PATH writing result.json).
"use strict"
const fs = require("node:fs")
const http = require("node:http")
const path = require("node:path")

const stateDir = () => process.env.STATE_DIR || "/state/.the0-state"
const checkKey = (key) => {
  if (!key) throw new Error("State key cannot be empty")
  if (/[\\/]|\.\./.test(key)) throw new Error("State key cannot contain path separators or '..'")
}

exports.state = {
  get(key, fallback) {
    checkKey(key)
    try {
      return JSON.parse(fs.readFileSync(path.join(stateDir(), `${key}.json`), "utf8"))
    } catch {
      return fallback
    }
  },
  set(key, value) {
    checkKey(key)
    if (process.env.QUERY_PATH !== undefined)
      throw new Error("State modifications are not allowed during query execution. Queries are read-only.")
    fs.mkdirSync(stateDir(), { recursive: true })
    // written aside and renamed, so a stop in the middle never leaves a half-written file behind
    const target = path.join(stateDir(), `${key}.json`)
    fs.writeFileSync(`${target}.tmp`, JSON.stringify(value))
    fs.renameSync(`${target}.tmp`, target)
  }
}

exports.metric = (type, data) =>
  process.stdout.write(`${JSON.stringify({ _metric: type, ...data, timestamp: new Date().toISOString() })}\n`)

exports.log = (message, data = {}, level = "info") =>
  process.stderr.write(`${JSON.stringify({ level, message, ...data, timestamp: new Date().toISOString() })}\n`)

const handlers = new Map()
exports.query = {
  handler(route, fn) {
    handlers.set(route, fn)
  },
  run() {
    const config = (() => {
      try {
        return JSON.parse(process.env.BOT_CONFIG || "{}")
      } catch {
        return {}
      }
    })()
    if (!handlers.has("/health")) handlers.set("/health", () => ({ status: "ok" }))
    if (!handlers.has("/info")) handlers.set("/info", () => ({ available_queries: [...handlers.keys()] }))
    const answer = async (route, params) => {
      const handler = handlers.get(route)
      if (!handler) return [404, { status: "error", error: `No handler for path: ${route}` }]
      try {
        return [200, { status: "ok", data: await handler({ path: route, params, get: (k, d) => params[k] ?? d }, config) }]
      } catch (error) {
        return [500, { status: "error", error: String(error && error.message) }]
      }
    }
    const oneShot = process.env.QUERY_PATH
    if (oneShot || process.env.BOT_TYPE !== "realtime") {
      let params = {}
      try {
        params = JSON.parse(process.env.QUERY_PARAMS || "{}")
      } catch {}
      answer(oneShot || "/info", params).then(([status, body]) => {
        const dir = process.env.THE0_QUERY_DIR || "/query"
        fs.mkdirSync(dir, { recursive: true })
        fs.writeFileSync(path.join(dir, "result.json"), JSON.stringify(body))
        process.exit(status === 200 ? 0 : 1)
      })
      return
    }
    const port = Number(process.env.THE0_QUERY_PORT || 9476)
    http
      .createServer((request, response) => {
        const url = new URL(request.url || "/", "http://localhost")
        answer(url.pathname, Object.fromEntries(url.searchParams)).then(([status, body]) => {
          response.writeHead(status, { "Content-Type": "application/json" })
          response.end(JSON.stringify(body))
        })
      })
      .listen(port, process.env.THE0_QUERY_HOST || "0.0.0.0", () => exports.log(`query server listening on port ${port}`))
  }
}
