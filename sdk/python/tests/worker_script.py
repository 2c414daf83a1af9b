"""A worker process for test_worker.py (run as a subprocess so it can be SIGKILLed / SIGTERMed).

    python worker_script.py SERVER HANDLER STATUS_FILE SECONDS

Offers HANDLER() -> string, which records {"event": "started", ...} in STATUS_FILE (JSON lines),
sleeps SECONDS and returns "<worker_id>:<attempt>". The token comes from AURORA_TOKEN, labels
from WORKER_LABELS (JSON). Writes {"event": "connected", "worker_id": ...} once welcomed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from aurora_sdk import Worker


def main() -> None:
    server, handler, status_file, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    lock = threading.Lock()

    def record(**fields) -> None:
        with lock, open(status_file, "a") as f:
            f.write(json.dumps(fields) + "\n")

    w = Worker(server, labels=json.loads(os.environ.get("WORKER_LABELS", "{}")), concurrency=2, drain_timeout=20)

    @w.handler(handler, results=["string"], context=True)
    def run(ctx):
        record(event="started", attempt=ctx.attempt, task_id=ctx.task_id, worker_id=w.worker_id)
        time.sleep(seconds)
        record(event="finished", attempt=ctx.attempt)
        return f"{w.worker_id}:{ctx.attempt}"

    def announce() -> None:
        if w.wait_connected(60):
            record(event="connected", worker_id=w.worker_id)

    threading.Thread(target=announce, daemon=True).start()
    w.run()
    record(event="exited")


if __name__ == "__main__":
    main()
