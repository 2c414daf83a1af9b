"""Celery driver for Aurora's benchmarks: runs one workload (W1-W5) against a Celery worker it starts.

The benchmark harness (bench/src/peer.rs) runs this file once per workload and repetition and talks
to it in JSON lines on stdout / plain lines on stdin:

    driver -> {"event": "ready", "worker_pid": PID}   the worker is up and answers pings
    harness -> go                                     (the harness samples CPU, then says go)
    driver -> {"event": "result", ...figures}          the workload is done
    harness -> stop                                    (after sampling CPU again); the driver stops
                                                       its worker and exits

Celery is configured as a user who wants durability would: durable queues, persistent messages,
publisher confirms, acks_late, task_track_started, results in Redis, prefork with the harness's slot
count. The same module is the worker's app (`celery -A celery_driver worker`).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from celery import Celery, chain, chord, group

PREFIX = os.environ.get("BENCH_CELERY_PREFIX", "aurora-bench.celery.")
WORK, HOLD, DRAIN = PREFIX + "work", PREFIX + "hold", PREFIX + "drain"
RESULT = "0123456789abcdef"  # 16 bytes, as Aurora's `noop`

app = Celery(
    "aurora_bench",
    broker=os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
    backend=os.environ.get("BENCH_CELERY_BACKEND", "redis://127.0.0.1:6379/13"),
)
app.conf.update(
    task_acks_late=True,
    task_track_started=True,
    task_default_queue=WORK,
    task_default_delivery_mode="persistent",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    result_expires=3600,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop(payload):
    return RESULT


@app.task(name="join")
def join(counter_key):
    """The fan-in task of W5: counts its own runs in Redis, so the harness can check 'exactly once'."""
    app.backend.client.incr(counter_key)
    return RESULT


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def start_worker(slots, queue):
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, "-m", "celery", "-A", "celery_driver", "worker", "--pool", "prefork",
           "-c", str(slots), "-Q", queue, "-n", f"bench-{uuid.uuid4().hex[:8]}@%h",
           "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"]
    log = open(os.environ.get("BENCH_CELERY_LOG", os.devnull), "ab")
    worker = subprocess.Popen(cmd, cwd=here, stdout=log, stderr=log, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the Celery worker exited at start with {worker.returncode}")
        replies = app.control.ping(timeout=0.5)
        if replies:
            return worker, list(replies[0].keys())[0]
    worker.kill()
    raise SystemExit("the Celery worker did not answer pings within 60 s")


def stop_worker(worker):
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def wait_all_succeeded(ids, timeout):
    """Polls the result backend until every task id shows SUCCESS (cheap: only the unfinished tail)."""
    client = app.backend.client
    keys = [app.backend.get_key_for_task(i) for i in ids]
    deadline = time.monotonic() + timeout
    done = 0
    while done < len(keys):
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(keys) - done} of {len(keys)} Celery tasks not SUCCESS within {timeout} s")
        chunk = keys[done:done + 1000]
        for raw in client.mget(chunk):
            if raw is None or json.loads(raw).get("status") != "SUCCESS":
                break
            done += 1
        else:
            continue
        time.sleep(0.01)


def submit_concurrently(requests, clients, send):
    """Calls send() `requests` times from `clients` threads; returns each call's latency (seconds).
    Celery's apply_async takes a producer from the app's pool, so threads do not share a channel."""
    def timed(_):
        t = time.perf_counter()
        send()
        return time.perf_counter() - t
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(timed, range(requests)))


def w1(args, payload):
    started = time.perf_counter()
    single = submit_concurrently(args.n, args.clients, lambda: noop.apply_async((payload,)))
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    batch = lambda: group(noop.s(payload) for _ in range(args.batch)).apply_async()
    batched = submit_concurrently(args.n // args.batch, args.clients, batch)
    batched_s = time.perf_counter() - started
    return {"single_seconds": single_s, "single_latencies": single,
            "batched_seconds": batched_s, "batched_latencies": batched, "batch": args.batch}


def w2(args, payload, worker_name):
    started = time.perf_counter()
    ids = [noop.apply_async((payload,), queue=DRAIN).id for _ in range(args.n)]
    enqueue_s = time.perf_counter() - started
    started = time.perf_counter()
    app.control.add_consumer(DRAIN, reply=True, destination=[worker_name])
    wait_all_succeeded(ids, timeout=args.timeout)
    return {"enqueue_seconds": enqueue_s, "drain_seconds": time.perf_counter() - started}


def w3(args, payload):
    latencies = []
    for _ in range(args.n):
        t = time.perf_counter()
        noop.delay(payload).get(timeout=args.timeout)
        latencies.append(time.perf_counter() - t)
    return {"latencies": latencies}


def w4(args, payload):
    started = time.perf_counter()
    chain(*(noop.si(payload) for _ in range(args.n))).apply_async().get(timeout=args.timeout)
    return {"seconds": time.perf_counter() - started}


def w5(args, payload):
    latencies, keys = [], []
    for _ in range(args.reps):
        key = f"{PREFIX}join-runs.{uuid.uuid4().hex}"
        keys.append(key)
        t = time.perf_counter()
        flow = chain(noop.si(payload), chord([noop.si(payload) for _ in range(args.n)], join.si(key)))
        flow.apply_async().get(timeout=args.timeout)
        latencies.append(time.perf_counter() - t)
    time.sleep(0.5)  # a duplicate join would land here
    runs = [int(app.backend.client.get(k) or 0) for k in keys]
    return {"latencies": latencies, "join_runs": runs}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", required=True, choices=["W1", "W2", "W3", "W4", "W5"])
    p.add_argument("--n", type=int, required=True, help="tasks (W1-W3), chain length (W4), fan-out width (W5)")
    p.add_argument("--batch", type=int, default=100, help="W1: tasks per batched request")
    p.add_argument("--clients", type=int, default=8, help="W1: threads submitting at once")
    p.add_argument("--reps", type=int, default=20, help="W5: fan-out/fan-in runs")
    p.add_argument("--slots", type=int, default=16, help="prefork processes")
    p.add_argument("--payload-bytes", type=int, default=100)
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()

    with app.connection_for_write() as conn:
        for q in (WORK, HOLD, DRAIN):
            conn.default_channel.queue_declare(q, durable=True, auto_delete=False)
            conn.default_channel.queue_purge(q)
    worker, name = start_worker(args.slots, HOLD if args.workload == "W2" else WORK)
    try:
        emit({"event": "ready", "worker_pid": worker.pid})
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("expected `go` on stdin")
        payload = "x" * args.payload_bytes
        run = {"W1": lambda: w1(args, payload), "W2": lambda: w2(args, payload, name),
               "W3": lambda: w3(args, payload), "W4": lambda: w4(args, payload), "W5": lambda: w5(args, payload)}
        figures = run[args.workload]()
        emit({"event": "result", "workload": args.workload, **figures})
        sys.stdin.readline()  # `stop`, after the harness has sampled CPU
    finally:
        stop_worker(worker)


if __name__ == "__main__":
    main()
