"""Remote workers against built-in ones, on one `aurora dev` (AURORA_BIN, a release build):

* throughput: N independent no-op tasks (graphs of 100, all submitted at once), run by the
  built-in worker (`noop`, 16 slots) or by one Python worker process (`py_noop`, concurrency 16);
  tasks/s from the first submission to the last run's SUCCESS;
* latency: single-task runs one after another; submit → SUCCESS, taken from the ledger (from the
  run's GraphSubmitted to its TaskSucceeded, both as the ledger recorded them), p50 and p95.

Rounds alternate the two kinds, so both see the same machine; the figures are printed as a
Markdown table with the ratio of each pair. Run by `scripts/bench --remote`.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Tuple

from aurora_sdk import Client

HERE = Path(__file__).resolve().parent
PAYLOAD = "x" * 100


def start_dev(binary: str, data: Path, password: str, slots: int) -> Tuple[subprocess.Popen, str]:
    log = open(data / "aurora.log", "wb")
    proc = subprocess.Popen(
        [binary, "dev", "--listen", "127.0.0.1:0", "--data-dir", str(data / "data"), "--admin-password", password,
         "--set", f"worker.slots={slots}", "--set", "projector.schedule_to_start_secs=3600"],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
    )
    found: List[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            m = re.search(r"GraphiQL:\s+(http://127\.0\.0\.1:\d+)/graphql", raw.decode(errors="replace"))
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60) or not found:
        proc.kill()
        sys.exit(f"aurora dev did not start; see {data / 'aurora.log'}")
    return proc, found[0]


def start_worker(url: str, token: str, concurrency: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, AURORA_TOKEN=token)
    proc = subprocess.Popen([sys.executable, str(HERE / "noop_worker.py"), url, str(concurrency)], env=env,
                            stdout=subprocess.PIPE, stderr=open(log, "wb"))
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("connected "):
        proc.kill()
        sys.exit(f"the Python worker did not connect; see {log}")
    return proc


def graph(handler: str, n: int) -> Dict:
    task = lambda i: {"key": f"t{i}", "name": handler, "args": [{"type": "string", "value": PAYLOAD}]}  # noqa: E731
    return {"tasks": [task(i) for i in range(n)], "edges": []}


def throughput(client: Client, handler: str, tasks: int) -> float:
    per_graph = 100
    t0 = time.monotonic()
    ids = [client.submit(graph(handler, per_graph)) for _ in range(tasks // per_graph)]
    pending = set(ids)
    while pending:
        for gid in list(pending):
            state = client.graph(gid, "state")["state"]
            if state == "SUCCESS":
                pending.discard(gid)
            elif state in ("FAILURE", "CANCELLED"):
                sys.exit(f"run {gid} ended {state}")
        if pending:
            time.sleep(0.05)
    return (tasks // per_graph * per_graph) / (time.monotonic() - t0)


def recorded(e: Dict) -> datetime:
    return datetime.fromisoformat(e["recordedAt"].replace("Z", "+00:00"))


def latencies(client: Client, handler: str, runs: int) -> List[float]:
    out = []
    q = "query($id: ID!) { graph(id: $id) { state history { type recordedAt } } }"
    for _ in range(runs):
        gid = client.submit(graph(handler, 1))
        while True:
            g = client.query(q, {"id": gid})["graph"]
            if g and g["state"] == "SUCCESS":
                break
            time.sleep(0.01)
        events = {e["type"]: recorded(e) for e in g["history"]}
        out.append((events["TaskSucceeded"] - events["GraphSubmitted"]).total_seconds() * 1000)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=5000, help="tasks per throughput round")
    p.add_argument("--runs", type=int, default=200, help="single-task runs per latency round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=16)
    a = p.parse_args()
    binary = os.environ.get("AURORA_BIN") or sys.exit("set AURORA_BIN to a release aurora")
    password = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="aurora-remote-bench-") as d:
        data = Path(d)
        server, url = start_dev(binary, data, password, a.concurrency)
        worker = None
        try:
            client = Client(url)
            client.login("admin", password)
            worker = start_worker(url, client.token or "", a.concurrency, data / "worker.log")
            handlers = {"built-in": "noop", "python": "py_noop"}
            tput: Dict[str, List[float]] = {k: [] for k in handlers}
            lat: Dict[str, List[float]] = {k: [] for k in handlers}
            # Warm-up, not measured.
            for h in handlers.values():
                throughput(client, h, 500)
                latencies(client, h, 20)
            for r in range(a.rounds):
                order = list(handlers.items()) if r % 2 == 0 else list(handlers.items())[::-1]
                for kind, h in order:
                    tput[kind].append(throughput(client, h, a.tasks))
                    lat[kind] += latencies(client, h, a.runs)
                    print(f"round {r + 1}: {kind}: {tput[kind][-1]:.0f} tasks/s, p50 {statistics.median(lat[kind]):.1f} ms",
                          file=sys.stderr, flush=True)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)
            server.send_signal(signal.SIGTERM)
            server.wait(30)

    def q(xs: List[float], f: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(f * len(xs)))]

    rows = []
    for kind in handlers:
        rows.append((kind, statistics.median(tput[kind]), q(lat[kind], 0.5), q(lat[kind], 0.95)))
    (_, bt, b50, b95), (_, pt, p50, p95) = rows
    print(f"\nRemote worker benchmark: {a.rounds} rounds of {a.tasks} no-op tasks and {a.runs} single-task runs, "
          f"concurrency {a.concurrency}, aurora dev (embedded), {os.cpu_count()} cores\n")
    print("| handler | tasks/s (median of rounds) | submit → SUCCESS p50 | p95 |")
    print("|---|---|---|---|")
    for kind, t, l50, l95 in rows:
        print(f"| {kind} | {t:.0f} | {l50:.1f} ms | {l95:.1f} ms |")
    print(f"| python ÷ built-in | {pt / bt:.2f}× | {p50 - b50:+.1f} ms | {p95 - b95:+.1f} ms |")
    print("\nper round, tasks/s: " + "; ".join(f"{k} {', '.join(f'{x:.0f}' for x in v)}" for k, v in tput.items()))


if __name__ == "__main__":
    main()
