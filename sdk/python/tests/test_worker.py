"""The Worker against a real `aurora dev`, over /workers/ws (docs/worker-protocol.md).

These need the server side of the remote worker protocol. Against a server without it, every
test here fails: the worker cannot connect (``the server refused the WebSocket upgrade: HTTP …``)
and the raw protocol tests cannot open the socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from aurora_sdk import AuthenticationError, Client, Fail, Graph, MetricError, PermissionDeniedError, Retry, Worker, plain
from aurora_sdk._urls import ws_url
from helpers import graph_or_none, wait_until

HERE = Path(__file__).parent


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def suite() -> str:
    """A label value only this test's workers carry, so only they get its tasks."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def workers(aurora, admin_token, suite):
    """Makes in-process workers (background threads) labelled for this test; stops them after."""
    started = []

    def make(setup, *, token=admin_token, labels=None, concurrency=4, connect=True):
        w = Worker(aurora.url, token=token, labels=labels if labels is not None else {"lang": "py", "suite": suite},
                   concurrency=concurrency, reconnect_min=0.2, reconnect_max=1.0, drain_timeout=5)
        setup(w)
        w.start()
        started.append(w)
        if connect and not w.wait_connected(10):
            pytest.fail(f"the worker did not connect to {w.url} within 10 s: {w.last_error or w.error!r}")
        return w

    yield make
    for w in started:
        w.stop(drain=False, timeout=10)


def listed(client: Client, name: str):
    return next((h for h in client.handlers() if h["name"] == name), None)


def wait_listed(client: Client, name: str, timeout: float = 5.0):
    return wait_until(lambda: listed(client, name), timeout, what=f"handler {name} listed by `handlers`")


def only_task(run):
    assert len(run["tasks"]) == 1
    return run["tasks"][0]


def history(client: Client, task_id: str):
    return client.query("query($id: ID!) { task(id: $id) { history { type data workerId } } }", {"id": task_id})["task"]["history"]


# -- registration ------------------------------------------------------------------------------


def test_handlers_are_listed_within_seconds_of_connecting(client, workers, suite):
    name = unique("py_resize")

    def setup(w):
        @w.handler(name, args=["string", "int64"], results=["string"], usage="resize(path, width) -> path")
        def resize(path, width):
            return f"{path}@{width}"

    t0 = time.monotonic()
    w = workers(setup)
    h = wait_listed(client, name)
    assert time.monotonic() - t0 < 10
    assert h == {"name": name, "usage": "resize(path, width) -> path", "argTypes": ["string", "int64"], "resultTypes": ["string"]}
    assert w.worker_id and w.worker_id.startswith("remote-")
    me = [x for x in client.workers() if x["id"] == w.worker_id]
    assert len(me) == 1, f"worker {w.worker_id} not in {client.workers()}"
    assert me[0]["labels"] == {"lang": "py", "suite": suite}
    assert me[0]["handlers"] == [name]
    w.stop(timeout=10)
    wait_until(lambda: listed(client, name) is None, 10, what=f"handler {name} withdrawn after the worker stopped")


# -- running tasks -----------------------------------------------------------------------------


def test_tasks_routed_by_labels_run_and_return_typed_results(client, workers, suite):
    name = unique("py_multi")

    def setup(w):
        @w.handler(name, args=["string", "int64"], results=["string", "int64", "float64", "bool", "[]string"])
        def multi(s, n):
            return (s * n, n + 1, n / 4, n > 1, [s] * n)

    w = workers(setup)
    wait_listed(client, name)
    run = client.wait(client.submit(Graph().task("t", name, "ab", 3, label_selector={"suite": suite})), timeout=30)
    assert run["state"] == "SUCCESS", run
    t = only_task(run)
    assert t["results"] == [
        {"type": "string", "value": "ababab"},
        {"type": "int64", "value": 4},
        {"type": "float64", "value": 0.75},
        {"type": "bool", "value": True},
        {"type": "[]string", "value": ["ab", "ab", "ab"]},
    ]
    assert t["attempts"] == 1
    assert t["workerId"] == w.worker_id


def test_args_arrive_as_python_values_of_the_declared_types(client, workers, suite):
    name, var, anyname = unique("py_types"), unique("py_var"), unique("py_any")
    got = {}

    def setup(w):
        @w.handler(name, args=["int64", "float64", "string", "bool", "[]int64", "[]string", "uint8", "float32", "float64", "[]float64"])
        def types(*args):
            got["types"] = args

        @w.handler(var, args=["string", "...int64"], results=["int64"])
        def variadic(s, *ns):
            got["variadic"] = (s, ns)
            return sum(ns)

        @w.handler(anyname, args=["any", "any"])
        def anything(a, b):
            got["any"] = (a, b)

    workers(setup)
    wait_listed(client, anyname)
    sel = {"suite": suite}
    g = (
        Graph()
        .task("types", name, 7, 2.5, "s", True, [1, 2], ["a", "b"], ("uint8", 255), ("float32", 1.5), ("int64", 2),
              ("[]float64", [1, 2.5]), label_selector=sel)
        .task("var", var, "x", 1, [2, 3], label_selector=sel)
        .task("any", anyname, ("uint16", 9), ["p", "q"], label_selector=sel)
    )
    run = client.wait(client.submit(g), timeout=30)
    assert run["state"] == "SUCCESS", run
    args = got["types"]
    assert args == (7, 2.5, "s", True, [1, 2], ["a", "b"], 255, 1.5, 2.0, [1.0, 2.5])
    assert [type(a) for a in args] == [int, float, str, bool, list, list, int, float, float, list]
    assert [type(x) for x in args[4]] == [int, int] and [type(x) for x in args[9]] == [float, float]
    assert got["variadic"] == ("x", (1, 2, 3))
    assert plain({t["key"]: t for t in run["tasks"]}["var"]["results"]) == [6]
    assert got["any"] == (9, ["p", "q"])


def test_retry_retries_then_succeeds(client, workers, suite):
    name = unique("py_retry")

    def setup(w):
        @w.handler(name, results=["int64"], context=True)
        def flaky(ctx):
            if ctx.attempt == 1:
                raise Retry("not yet")
            return ctx.attempt

    workers(setup)
    wait_listed(client, name)
    run = client.wait(client.submit(Graph().task("t", name, label_selector={"suite": suite}, retry_count=2, retry_backoff_ms=100)), timeout=30)
    t = only_task(run)
    assert (run["state"], t["state"], t["attempts"]) == ("SUCCESS", "SUCCESS", 2)
    assert t["results"] == [{"type": "int64", "value": 2}]
    retry = [e for e in history(client, t["id"]) if e["type"] == "TaskRetry"]
    assert len(retry) == 1 and retry[0]["data"]["error"] == "not yet"


def test_an_exception_fails_the_task_with_its_message_and_traceback(client, workers, suite):
    name = unique("py_raise")

    def setup(w):
        @w.handler(name, args=["string"])
        def boom(what):
            raise ValueError(f"nope: {what}")

    workers(setup)
    wait_listed(client, name)
    run = client.wait(client.submit(Graph().task("t", name, "disk", label_selector={"suite": suite})), timeout=30)
    t = only_task(run)
    assert (run["state"], t["state"], t["attempts"]) == ("FAILURE", "FAILURE", 1)
    assert t["error"] == "ValueError: nope: disk"
    failed = [e for e in history(client, t["id"]) if e["type"] == "TaskFailed"]
    assert len(failed) == 1
    assert 'raise ValueError(f"nope: {what}")' in failed[0]["data"]["traceback"]


def test_fail_and_bad_results_fail_at_once_despite_retries(client, workers, suite):
    fail, bad = unique("py_fail"), unique("py_bad")

    def setup(w):
        @w.handler(fail)
        def give_up():
            raise Fail("the input is unusable")

        @w.handler(bad, results=["int64"])
        def wrong():
            return "not a number"

    workers(setup)
    wait_listed(client, bad)
    sel = {"suite": suite}
    run = client.wait(client.submit(Graph().task("f", fail, label_selector=sel, retry_count=3, retry_backoff_ms=100)
                                    .task("b", bad, label_selector=sel, retry_count=3, retry_backoff_ms=100)), timeout=30)
    tasks = {t["key"]: t for t in run["tasks"]}
    assert run["state"] == "FAILURE"
    assert (tasks["f"]["state"], tasks["f"]["attempts"], tasks["f"]["error"]) == ("FAILURE", 1, "the input is unusable")
    assert (tasks["b"]["state"], tasks["b"]["attempts"]) == ("FAILURE", 1)
    assert tasks["b"]["error"] == f"{bad}: result 0: expected int64, got str 'not a number'"


# -- cancellation and progress ----------------------------------------------------------------


def test_cancelling_the_run_stops_the_handler(client, workers, suite):
    sync_name, async_name = unique("py_wait"), unique("py_nap")
    started = {"sync": threading.Event(), "async": threading.Event()}
    seen = {}

    def setup(w):
        @w.handler(sync_name, context=True)
        def wait(ctx):
            started["sync"].set()
            seen["sync"] = (ctx.cancelled.wait(30), ctx.cancel_reason, time.monotonic())

        @w.handler(async_name, context=True)
        async def nap(ctx):
            started["async"].set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                seen["async"] = (ctx.cancelled.is_set(), ctx.cancel_reason, time.monotonic())
                raise

    workers(setup)
    wait_listed(client, async_name)
    sel = {"suite": suite}
    gid = client.submit(Graph().task("s", sync_name, label_selector=sel).task("a", async_name, label_selector=sel))
    assert started["sync"].wait(10) and started["async"].wait(10), "the handlers did not start"
    t0 = time.monotonic()
    client.cancel(gid, reason="changed my mind")
    run = client.wait(gid, timeout=20)
    assert run["state"] == "CANCELLED"
    assert all(t["state"] == "CANCELLED" for t in run["tasks"])
    wait_until(lambda: "sync" in seen and "async" in seen, 5, what="both handlers stopped")
    for kind in ("sync", "async"):
        was_set, reason, at = seen[kind]
        assert was_set and reason == "cancelled", (kind, seen[kind])
        assert at - t0 < 5, f"the {kind} handler was stopped {at - t0:.1f} s after the cancel"


def test_progress_shows_in_graph_events_and_on_the_task(client, workers, suite):
    name = unique("py_progress")
    go = threading.Event()

    def setup(w):
        @w.handler(name, results=["string"], context=True)
        def slow(ctx):
            ctx.progress(0.5, "half way")
            go.wait(20)
            return "done"

    workers(setup)
    wait_listed(client, name)
    gid = client.submit(Graph().task("p", name, label_selector={"suite": suite}))
    try:
        tid = wait_until(lambda: only_task(graph_or_none(client, gid, "tasks { id }") or {"tasks": [{"id": None}]})["id"],
                         10, what="the task in the read model")

        def progress():
            t = client.query("query($id: ID!) { task(id: $id) { progress { attempt fraction message } } }", {"id": tid})["task"]
            return t and t["progress"]

        p = wait_until(progress, 5, what="TaskRun.progress")
        assert p == {"attempt": 1, "fraction": 0.5, "message": "half way"}
    finally:
        go.set()
    events = list(client.watch(gid, timeout=30))
    types = [e["type"] for e in events]
    assert types[-1] == "GraphSucceeded"
    prog = [e for e in events if e["type"] == "TaskProgress"]
    assert len(prog) == 1
    assert prog[0]["data"] == {"attempt": 1, "fraction": 0.5, "message": "half way"}
    assert prog[0]["state"] == "STARTED"
    assert types.index("TaskStarted") < types.index("TaskProgress") < types.index("TaskSucceeded")


def test_metric_updates_show_on_the_servers_metrics_and_bad_ones_raise(aurora, client, workers, suite):
    name = unique("py_metrics")

    def setup(w):
        @w.handler(name, results=["string"], context=True)
        def counts(ctx):
            ctx.metric("sdk_jobs_total", {"kind": suite}).inc(2)
            problems = []
            for bad in (
                lambda: ctx.metric("sdk_jobs_totl", {"kind": suite}).inc(),
                lambda: ctx.metric("sdk_jobs_total", {"sort": suite}).inc(),
                lambda: ctx.metric("sdk_jobs_total", {"kind": suite}).set(3),
                lambda: ctx.metric("sdk_jobs_total", {"kind": suite}).inc(-1),
            ):
                try:
                    bad()
                    problems.append("accepted")
                except MetricError as e:
                    problems.append(str(e))
            return " | ".join(problems)

    workers(setup)
    wait_listed(client, name)
    run = client.wait(client.submit(Graph().task("m", name, label_selector={"suite": suite})), timeout=30)
    assert run["state"] == "SUCCESS", run
    said = plain(only_task(run)["results"])[0].split(" | ")
    assert said == [
        "metric `sdk_jobs_totl` is not declared in the server's [[metrics]] (declared: sdk_jobs_total)",
        "metric `sdk_jobs_total` takes the labels [kind], not [sort]",
        "metric `sdk_jobs_total` is a counter: use inc, not set",
        "metric `sdk_jobs_total` is a counter: it only goes up, not by -1",
    ], said
    line = f'sdk_jobs_total{{kind="{suite}"}} 2'

    def exposed():
        with httpx.Client(timeout=10) as h:
            return line in h.get(f"{aurora.url}/metrics").text

    wait_until(exposed, 5, what=f"`{line}` on {aurora.url}/metrics")


def test_a_metric_update_the_server_refuses_closes_4400(aurora, admin_token):
    got, code, reason = raw_session(
        aurora,
        hello(admin_token),
        {"type": "metric", "attempt_id": "x", "name": "nope_total", "labels": {}, "inc": 1},
    )
    assert got[0]["type"] == "welcome" and {"name": "sdk_jobs_total", "kind": "counter", "help": "Jobs run by the SDK's tests", "labels": ["kind"]} in got[0]["metrics"], got
    assert code == 4400, (code, reason)
    assert "metric `nope_total` is not declared" in reason, reason


# -- refusals ------------------------------------------------------------------------------------


def raw_session(aurora, *messages, timeout: float = 15.0):
    """Opens /workers/ws, sends ``messages`` (dicts as JSON, strings as is), and reads until the
    server closes. Returns (messages received, close code, close reason)."""
    received = []
    with connect(ws_url(aurora.url, "/workers/ws"), subprotocols=["aurora-worker.v1"], open_timeout=5) as ws:  # type: ignore[list-item]
        for m in messages:
            ws.send(m if isinstance(m, str) else json.dumps(m))
        try:
            while True:
                received.append(json.loads(ws.recv(timeout=timeout)))
        except ConnectionClosed as e:
            assert e.rcvd is not None, "the server dropped the connection without a close frame"
            return received, e.rcvd.code, e.rcvd.reason
        except TimeoutError:
            pytest.fail(f"the server did not close the connection within {timeout} s; got {received}")


def hello(token=None, **worker):
    worker.setdefault("handlers", [{"name": "x", "args": [], "results": []}])
    m = {"type": "hello", "protocol": 1, "worker": worker}
    if token is not None:
        m["token"] = token
    return m


def test_connecting_without_a_token_is_closed_4401(aurora, monkeypatch):
    received, code, reason = raw_session(aurora, hello())
    assert code == 4401
    assert "token" in reason
    assert received == [{"type": "error", "code": 4401, "message": received[0]["message"]}]
    assert reason == received[0]["message"][:123]
    received, code, reason = raw_session(aurora, hello("aur_" + "0" * 64))
    assert code == 4401 and "token" in reason

    monkeypatch.delenv("AURORA_TOKEN", raising=False)
    w = Worker(aurora.url)
    w.add_handler(unique("py_x"), lambda: None)
    w.start()
    assert w.join(10), "a worker without a token kept reconnecting"
    assert isinstance(w.error, AuthenticationError) and w.error.close_code == 4401


def test_a_viewers_token_is_closed_4403(aurora, viewer_token, client):
    name = unique("py_viewer")
    received, code, reason = raw_session(aurora, hello(viewer_token, handlers=[{"name": name}]))
    assert code == 4403
    assert "viewer" in reason
    assert received and received[0]["type"] == "error" and received[0]["code"] == 4403
    assert listed(client, name) is None, "a refused worker's handler was listed"
    assert not [w for w in client.workers() if name in w["handlers"]]

    w = Worker(aurora.url, token=viewer_token)
    w.add_handler(unique("py_x"), lambda: None)
    w.start()
    assert w.join(10)
    assert isinstance(w.error, PermissionDeniedError) and w.error.close_code == 4403
    assert "viewer" in w.error.message


@pytest.mark.parametrize(
    "message, names",
    [
        ("this is not json", ["JSON"]),
        ('["an", "array"]', ["object"]),
        ({"type": "heartbeat"}, ["hello"]),
        ({"type": "hello", "protocol": 99, "token": "t", "worker": {"handlers": []}}, ["99", "1"]),
        ("HELLO_WITH_BAD_TYPE", ["int65"]),
        ("HELLO_WITHOUT_HANDLERS", ["handlers"]),
    ],
)
def test_malformed_messages_are_closed_4400_naming_the_problem(aurora, admin_token, message, names):
    if message == "HELLO_WITH_BAD_TYPE":
        message = hello(admin_token, handlers=[{"name": "x", "args": ["int65"]}])
    elif message == "HELLO_WITHOUT_HANDLERS":
        message = {"type": "hello", "protocol": 1, "token": admin_token, "worker": {}}
    received, code, reason = raw_session(aurora, message)
    assert code == 4400, (code, reason)
    assert received and received[0]["type"] == "error" and received[0]["code"] == 4400
    for n in names:
        assert n in received[0]["message"], (n, received[0]["message"])


def test_an_unknown_message_after_welcome_is_closed_4400(aurora, admin_token):
    received, code, reason = raw_session(aurora, hello(admin_token, handlers=[{"name": unique("py_p")}]), {"type": "pause"})
    assert received[0]["type"] == "welcome"
    assert code == 4400 and "pause" in reason


def test_no_hello_within_10_seconds_is_closed_4408(aurora):
    t0 = time.monotonic()
    received, code, reason = raw_session(aurora, timeout=20)
    assert code == 4408
    assert 9 <= time.monotonic() - t0 < 15


def test_welcome_then_heartbeats_are_answered(aurora, admin_token):
    with connect(ws_url(aurora.url, "/workers/ws"), subprotocols=["aurora-worker.v1"], open_timeout=5) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "aurora-worker.v1"
        ws.send(json.dumps(hello(admin_token, handlers=[{"name": unique("py_hb")}])))
        welcome = json.loads(ws.recv(timeout=5))
        assert welcome["type"] == "welcome" and welcome["protocol"] == 1
        assert welcome["worker_id"].startswith("remote-") and len(welcome["worker_id"]) == len("remote-") + 12
        assert 1000 <= welcome["heartbeat_ms"] <= 60000
        ws.send('{"type":"heartbeat"}')
        assert json.loads(ws.recv(timeout=5)) == {"type": "heartbeat"}


def recv_type(ws, kind: str, timeout: float):
    """The next message of type ``kind`` (heartbeats and other messages before it are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {kind} message within {timeout} s")
        m = json.loads(ws.recv(timeout=left))
        if m["type"] == kind:
            return m


def test_a_resent_outcome_that_was_recorded_changes_nothing(aurora, admin_token, client, suite):
    name = unique("py_resend")
    declaration = hello(admin_token, labels={"suite": suite}, handlers=[{"name": name, "results": ["int64"]}])
    url = ws_url(aurora.url, "/workers/ws")
    with connect(url, subprotocols=["aurora-worker.v1"], open_timeout=5) as ws:  # type: ignore[list-item]
        ws.send(json.dumps(declaration))
        first_id = recv_type(ws, "welcome", 5)["worker_id"]
        wait_listed(client, name)
        gid = client.submit(Graph().task("t", name, label_selector={"suite": suite}))
        task = recv_type(ws, "task", 15)
        assert (task["handler"], task["attempt"], task["args"], task["key"]) == (name, 1, [], "t")
        assert task["attempt_id"] == f"{task['task_id']}/1" and task["graph_id"] == gid
        result = {"type": "result", "attempt_id": task["attempt_id"], "results": [{"type": "int64", "value": 7}]}
        ws.send(json.dumps(result))
        assert recv_type(ws, "ack", 10) == {"type": "ack", "attempt_id": task["attempt_id"], "status": "recorded"}
    run = client.wait(gid, timeout=15)
    before = history(client, task["task_id"])
    assert [e["type"] for e in before][-1] == "TaskSucceeded"
    assert before[-1]["workerId"] == first_id
    with connect(url, subprotocols=["aurora-worker.v1"], open_timeout=5) as ws:  # type: ignore[list-item]
        ws.send(json.dumps(declaration))
        assert recv_type(ws, "welcome", 5)["worker_id"] != first_id
        ws.send(json.dumps(result))
        assert recv_type(ws, "ack", 10) == {"type": "ack", "attempt_id": task["attempt_id"], "status": "recorded"}
        changed = dict(result, results=[{"type": "int64", "value": 8}])
        ws.send(json.dumps(changed))
        assert recv_type(ws, "ack", 10)["status"] == "recorded", "an outcome of a recorded attempt is acked, not recorded"
        stranger = {"type": "failure", "attempt_id": f"{uuid.uuid4()}/1", "error": "x"}
        ws.send(json.dumps(stranger))
        ack = recv_type(ws, "ack", 10)
        assert (ack["attempt_id"], ack["status"]) == (stranger["attempt_id"], "superseded")
    assert history(client, task["task_id"]) == before
    assert plain(client.graph(gid)["tasks"][0]["results"]) == [7] == plain(only_task(run)["results"])


# -- worker processes ----------------------------------------------------------------------------


def spawn(aurora, token, handler, status: Path, seconds: float, labels) -> subprocess.Popen:
    env = dict(os.environ, AURORA_TOKEN=token, WORKER_LABELS=json.dumps(labels))
    log = open(status.with_suffix(".log"), "wb")
    return subprocess.Popen([sys.executable, str(HERE / "worker_script.py"), aurora.url, handler, str(status), str(seconds)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def events_of(status: Path):
    if not status.exists():
        return []
    return [json.loads(line) for line in status.read_text().splitlines() if line.strip()]


def first_event(status: Path, kind: str, timeout: float, proc: subprocess.Popen):
    def find():
        if proc.poll() is not None:
            raise AssertionError(f"the worker process exited ({proc.returncode}): {status.with_suffix('.log').read_text()[-2000:]}")
        return next((e for e in events_of(status) if e["event"] == kind), None)

    return wait_until(find, timeout, what=f"{kind} in {status.name}")


def test_a_sigkilled_worker_s_task_runs_again_on_another_worker(aurora, admin_token, client, tmp_path, suite):
    name = unique("py_crash")
    labels = {"lang": "py", "suite": suite}
    a = spawn(aurora, admin_token, name, tmp_path / "a.jsonl", 120, labels)
    b = None
    try:
        a_id = first_event(tmp_path / "a.jsonl", "connected", 15, a)["worker_id"]
        wait_listed(client, name)
        sel = {"suite": suite}
        gid = client.submit(Graph().task("t", name, label_selector=sel).task("u", name, label_selector=sel).edge("t", "u"))
        started = first_event(tmp_path / "a.jsonl", "started", 15, a)
        assert started["attempt"] == 1
        b = spawn(aurora, admin_token, name, tmp_path / "b.jsonl", 0, labels)
        b_id = first_event(tmp_path / "b.jsonl", "connected", 15, b)["worker_id"]
        t0 = time.monotonic()
        a.send_signal(signal.SIGKILL)
        a.wait(5)
        t = wait_until(lambda: next((x for x in (graph_or_none(client, gid) or {"tasks": []})["tasks"]
                                     if x["key"] == "t" and x["state"] == "SUCCESS"), None), 10, what="t taken over")
        assert time.monotonic() - t0 < 10, f"the task ran again {time.monotonic() - t0:.1f} s after the kill"
        run = client.wait(gid, timeout=15)
        assert run["state"] == "SUCCESS"
        assert t["attempts"] == 2
        assert plain(t["results"]) == [f"{b_id}:2"]
        received = [e for e in history(client, t["id"]) if e["type"] == "TaskReceived"]
        assert [(e["data"]["attempt"], e["data"]["worker_id"]) for e in received] == [(1, a_id), (2, b_id)]
        assert received[1]["data"].get("takeover") is True
        # The invariants: each task ended once, and the successor was dispatched and ran once.
        terminal = {"TaskSucceeded", "TaskFailed", "TaskCancelled", "TaskSkipped"}
        for task in run["tasks"]:
            types = [e["type"] for e in history(client, task["id"])]
            assert sum(ty in terminal for ty in types) == 1, (task["key"], types)
            assert types.count("TaskPending") == 1, (task["key"], types)
        u = next(x for x in run["tasks"] if x["key"] == "u")
        assert (u["state"], u["attempts"], plain(u["results"])) == ("SUCCESS", 1, [f"{b_id}:1"])
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(5)


def test_sigterm_lets_the_running_task_finish_then_exits(aurora, admin_token, client, tmp_path, suite):
    name = unique("py_drain")
    status = tmp_path / "w.jsonl"
    p = spawn(aurora, admin_token, name, status, 2, {"lang": "py", "suite": suite})
    try:
        w_id = first_event(status, "connected", 15, p)["worker_id"]
        wait_listed(client, name)
        gid = client.submit(Graph().task("t", name, label_selector={"suite": suite}))
        first_event(status, "started", 15, p)
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        assert [e["event"] for e in events_of(status)] == ["connected", "started", "finished", "exited"]
        run = client.wait(gid, timeout=10)
        t = only_task(run)
        assert (run["state"], t["attempts"], t["workerId"]) == ("SUCCESS", 1, w_id)
        assert plain(t["results"]) == [f"{w_id}:1"]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
