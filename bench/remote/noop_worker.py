"""The benchmark's Python worker: one no-op handler, `py_noop(string)`, at the given concurrency.

    python noop_worker.py SERVER CONCURRENCY      (token in AURORA_TOKEN)

Prints "connected <worker_id>" once welcomed; SIGTERM drains and exits.
"""

from __future__ import annotations

import sys
import threading

from aurora_sdk import Worker


def main() -> None:
    server, concurrency = sys.argv[1], int(sys.argv[2])
    w = Worker(server, labels={"bench": "python"}, concurrency=concurrency)

    @w.handler("py_noop", args=["string"], results=[])
    def noop(payload):  # the same work as the built-in noop: none
        return None

    def announce() -> None:
        if w.wait_connected(60):
            print(f"connected {w.worker_id}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    w.run()


if __name__ == "__main__":
    main()
