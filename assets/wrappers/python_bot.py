#!/usr/bin/env python3
"""the0 bot launcher for Python bots (runtime spec §7.2), our own implementation of the0's contract.

chdir to /$CODE_MOUNT_DIR, put it and its vendor/ on sys.path, load $SCRIPT_PATH as module "main" and run
main(bot_id, config) with positional arguments in a worker thread (a coroutine function is run with asyncio).
Unlike the0's wrapper, a bot that raises or calls sys.exit(n) with n != 0 (the SDK's error() does) makes this
process exit non-zero, and a result file the bot wrote itself is not overwritten. SIGTERM/SIGINT end the run with
a "terminated" result and exit code 0, as in the0.
"""

import asyncio
import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import threading
import traceback

MOUNT_DIR = os.environ.get("CODE_MOUNT_DIR", "bot")
WORK_DIR = "/" + MOUNT_DIR
RESULT_FILE = os.path.join(WORK_DIR, "result.json")

shutdown = threading.Event()


def on_signal(signum, _frame):
    name = signal.Signals(signum).name
    print(f"SIGNAL: Received {name} ({signum}), setting shutdown event.", file=sys.stderr, flush=True)
    shutdown.set()


def write_result(result):
    try:
        with open(RESULT_FILE, "w") as handle:
            json.dump(result, handle)
    except Exception as error:  # noqa: BLE001 - reported, never fatal
        print(f"RESULT_ERROR: Failed to write result file: {error}", file=sys.stderr, flush=True)


def result_mtime():
    try:
        return os.stat(RESULT_FILE).st_mtime_ns
    except OSError:
        return None


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        os.chdir(WORK_DIR)
    except Exception as error:  # noqa: BLE001
        print(f"CHDIR_ERROR: Failed to change directory to {WORK_DIR}: {error}", file=sys.stderr, flush=True)
        return 1
    sys.path.insert(0, WORK_DIR)
    vendor = os.path.join(WORK_DIR, "vendor")
    if os.path.isdir(vendor):
        sys.path.insert(0, vendor)
    logging.basicConfig(level=logging.INFO)

    try:
        config = json.loads(os.environ.get("BOT_CONFIG") or "{}")
    except Exception as error:  # noqa: BLE001
        print(f"CONFIG_ERROR: Failed to parse BOT_CONFIG: {error}", file=sys.stderr, flush=True)
        return 1
    bot_id = os.environ.get("BOT_ID", "")
    script_path = os.environ.get("SCRIPT_PATH", "main.py")

    try:
        spec = importlib.util.spec_from_file_location("main", os.path.join(WORK_DIR, script_path))
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {script_path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["main"] = module
        spec.loader.exec_module(module)
        bot_main = getattr(module, "main")
    except BaseException as error:  # noqa: BLE001 - includes SystemExit from top-level code
        print(f"IMPORT_ERROR: Failed to load {script_path}: {error}", file=sys.stderr, flush=True)
        traceback.print_exc()
        write_result({"status": "error", "message": f"Failed to load {script_path}: {error}"})
        return 1

    outcome = {"code": 0, "error": None}
    before = result_mtime()

    def run_bot():
        try:
            value = bot_main(bot_id, config)
            if inspect.iscoroutine(value):
                asyncio.run(value)
        except SystemExit as exit_request:
            code = exit_request.code
            if code is None:
                outcome["code"] = 0
            elif isinstance(code, int) and 0 <= code <= 255:
                outcome["code"] = code
            else:
                outcome["code"] = 1
            if not isinstance(code, int) and code is not None:
                print(code, file=sys.stderr, flush=True)
        except BaseException as error:  # noqa: BLE001
            traceback.print_exc()
            outcome["code"] = 1
            outcome["error"] = error

    worker = threading.Thread(target=run_bot, name="bot", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=1.0)
        if shutdown.is_set():
            print("SIGNAL: Shutdown detected, terminating bot.", file=sys.stderr, flush=True)
            write_result({"status": "terminated", "message": "Bot execution terminated by signal"})
            return 0

    wrote_own_result = result_mtime() != before
    if outcome["code"] == 0:
        if not wrote_own_result:
            write_result({"status": "success", "message": "Bot executed successfully"})
        return 0
    if outcome["error"] is not None:
        write_result({"status": "error", "message": str(outcome["error"])})
    elif not wrote_own_result:
        write_result({"status": "error", "message": f"Bot exited with code {outcome['code']}"})
    return outcome["code"]


if __name__ == "__main__":
    sys.stdout.flush()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
