#!/usr/bin/env node
// the0 bot launcher for Node.js bots (runtime spec §7.3), our own implementation of the0's contract:
// chdir to /$CODE_MOUNT_DIR, load /$CODE_MOUNT_DIR/$SCRIPT_PATH, call main(botId, config) with positional
// arguments (a bot that takes none and calls the SDK's parse() works too), write the result file, exit 0 on
// success and 1 on failure. A third argument carries { signal }, aborted on SIGTERM/SIGINT; a bot that has not
// finished a few seconds after that is stopped with a "terminated" result, as the Python launcher does.
"use strict"

const fs = require("node:fs")
const path = require("node:path")
const { pathToFileURL } = require("node:url")

const mountDir = process.env.CODE_MOUNT_DIR || "bot"
const workDir = `/${mountDir}`
const resultFile = path.join(workDir, "result.json")
const stopTimeoutMs = Number(process.env.THE0_WRAPPER_STOP_TIMEOUT_MS || 3000)

const writeResult = (result) => {
  try {
    fs.writeFileSync(resultFile, JSON.stringify(result))
  } catch (error) {
    process.stderr.write(`RESULT_ERROR: Failed to write result file: ${error && error.message}\n`)
  }
}

const controller = new AbortController()
let finished = false
const onSignal = (name) => () => {
  process.stderr.write(`SIGNAL: Received ${name}, triggering abort.\n`)
  controller.abort()
  setTimeout(() => {
    if (finished) return
    process.stderr.write("SIGNAL: Bot did not finish after the abort, exiting.\n")
    writeResult({ status: "terminated", message: "Bot execution terminated by signal" })
    process.exit(0)
  }, stopTimeoutMs).unref()
}
process.on("SIGTERM", onSignal("SIGTERM"))
process.on("SIGINT", onSignal("SIGINT"))

try {
  process.chdir(workDir)
} catch (error) {
  process.stderr.write(`CHDIR_ERROR: Failed to change directory to ${workDir}: ${error && error.message}\n`)
  process.exit(1)
}

const botId = process.env.BOT_ID || ""
const scriptPath = process.env.SCRIPT_PATH || "main"
let config
try {
  config = JSON.parse(process.env.BOT_CONFIG || "{}")
} catch (error) {
  process.stderr.write(`CONFIG_ERROR: Failed to parse BOT_CONFIG: ${error && error.message}\n`)
  process.exit(1)
}

const load = async (file) => {
  try {
    return require(file)
  } catch (error) {
    if (error && (error.code === "ERR_REQUIRE_ESM" || error.code === "ERR_REQUIRE_ASYNC_MODULE")) {
      return import(pathToFileURL(file).href)
    }
    throw error
  }
}

const fail = (prefix, error) => {
  const message = error && error.message ? error.message : String(error)
  process.stderr.write(`${prefix}: ${message}\n${error && error.stack ? `${error.stack}\n` : ""}`)
  writeResult({ status: "error", message })
  process.exit(1)
}

const run = async () => {
  let mod
  try {
    mod = await load(path.join(workDir, scriptPath))
  } catch (error) {
    fail("IMPORT_ERROR: Failed to load bot module", error)
    return
  }
  const main = mod && typeof mod.main === "function" ? mod.main : mod && typeof mod.default === "function" ? mod.default : mod
  if (typeof main !== "function") {
    fail("IMPORT_ERROR", new Error(`${scriptPath} does not export a main function`))
    return
  }
  try {
    const result = await main(botId, config, { signal: controller.signal })
    finished = true
    writeResult(result || { status: "success", message: "Bot executed successfully" })
    process.exit(0)
  } catch (error) {
    finished = true
    fail("EXECUTE_ERROR: Bot execution failed", error)
  }
}

run()
