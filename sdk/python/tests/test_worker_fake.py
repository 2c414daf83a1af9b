"""The Worker against a scripted stand-in for the server (tests/fake_server.py): what it sends,
in which order, and how it reacts, message by message, as docs/worker-protocol.md says. These
need no Aurora server; test_worker.py runs the same Worker against a real one."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone

import pytest

from aurora_sdk import AuthenticationError, Fail, PermissionDeniedError, ProtocolError, Retry, Worker
from fake_server import FakeServer

TASK_ID = "5933ecb8-6fc6-53e2-9492-0754ae36512e"
GRAPH_ID = "01a233e1-4219-7773-825a-2f6d4d8df75d"


def task(handler, args, attempt=1, n=0, deadline=None):
    tid = TASK_ID[:-1] + str(n)
    return {
        "type": "task", "attempt_id": f"{tid}/{attempt}", "task_id": tid, "graph_id": GRAPH_ID, "key": f"k{n}",
        "handler": handler, "args": args, "attempt": attempt, "deadline": deadline,
        "trace_id": GRAPH_ID.replace("-", ""),
    }


@pytest.fixture
def fake():
    s = FakeServer()
    yield s
    s.stop()


@pytest.fixture
def make_worker(fake):
    workers = []

    def make(**kw):
        kw.setdefault("token", "aur_test")
        kw.setdefault("reconnect_min", 0.05)
        kw.setdefault("reconnect_max", 0.2)
        w = Worker(fake.url, **kw)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop(drain=False, timeout=5)


def test_hello_declares_the_worker_and_its_handlers(fake, make_worker):
    w = make_worker(name="py-1", labels={"lang": "py"}, concurrency=3)

    @w.handler("resize", args=["string", "int64"], results=["string"])
    def resize(path, width):
        """resize(path, width) -> the new path"""
        return f"{path}@{width}"

    @w.handler("total", args=["...float64"], results=["float64"], usage="adds them up")
    async def total(*xs):
        return sum(xs)

    w.start()
    c = fake.accept()
    assert c.path == "/workers/ws"
    assert c.subprotocol == "aurora-worker.v1"
    hello = c.recv_json()
    assert hello == {
        "type": "hello",
        "protocol": 1,
        "token": "aur_test",
        "worker": {
            "name": "py-1",
            "labels": {"lang": "py"},
            "concurrency": 3,
            "handlers": [
                {"name": "resize", "usage": "resize(path, width) -> the new path", "args": ["string", "int64"], "results": ["string"]},
                {"name": "total", "usage": "adds them up", "args": ["...float64"], "results": ["float64"]},
            ],
        },
    }
    assert not w.wait_connected(0.2), "connected before welcome"
    c.send_json({"type": "welcome", "protocol": 1, "worker_id": "remote-abc", "heartbeat_ms": 5000})
    assert w.wait_connected(5)
    assert w.worker_id == "remote-abc"


def test_a_task_runs_and_its_typed_result_is_sent_until_acked(fake, make_worker):
    w = make_worker()
    seen = {}

    @w.handler("mix", args=["string", "int64", "float64", "bool", "[]int64", "uint8"], results=["string", "[]float64", "bool"], context=True)
    def mix(ctx, s, i, f, b, xs, u):
        seen.update(ctx=ctx, args=(s, i, f, b, xs, u))
        return (f"{s}{i}", [f, 2], not b)

    w.start()
    c = fake.accept()
    c.welcome()
    c.send_json(task("mix", [
        {"type": "string", "value": "a"}, {"type": "int64", "value": 7}, {"type": "int64", "value": 2},
        {"type": "bool", "value": True}, {"type": "[]int64", "value": [1, 2]}, {"type": "uint8", "value": 255},
    ], deadline="2026-12-01T23:13:10.278692123Z"))
    r = c.recv_type("result")
    assert r == {
        "type": "result", "attempt_id": f"{TASK_ID[:-1]}0/1",
        "results": [{"type": "string", "value": "a7"}, {"type": "[]float64", "value": [2.0, 2.0]}, {"type": "bool", "value": False}],
    }
    s, i, f, b, xs, u = seen["args"]
    assert (s, i, f, b, xs, u) == ("a", 7, 2.0, True, [1, 2], 255)
    assert [type(v) for v in seen["args"]] == [str, int, float, bool, list, int]
    ctx = seen["ctx"]
    assert (ctx.task_id, ctx.graph_id, ctx.attempt, ctx.key) == (f"{TASK_ID[:-1]}0", GRAPH_ID, 1, "k0")
    assert ctx.deadline == datetime(2026, 12, 1, 23, 13, 10, 278692, tzinfo=timezone.utc)
    assert not ctx.cancelled.is_set()
    c.send_json({"type": "ack", "attempt_id": r["attempt_id"], "status": "recorded"})
    deadline = time.monotonic() + 2
    while w._unacked and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not w._unacked


def asks_retry(x):
    raise Retry("again please")


def fails(x):
    raise Fail("bad input")


def raises(x):
    raise ValueError("nope")


def wrong_type(x):
    return "not an int"


def too_big(x):
    return 2**63


@pytest.mark.parametrize(
    "fn, expected",
    [
        (asks_retry, {"error": "again please", "retry": True}),
        (fails, {"error": "bad input", "retry": False}),
        (raises, {"error": "ValueError: nope", "retry": True}),
        (wrong_type, {"error": "f: result 0: expected int64, got str 'not an int'", "retry": False}),
        (too_big, {"error": "f: result 0: 9223372036854775808 is out of range for int64 (-9223372036854775808..=9223372036854775807)", "retry": False}),
    ],
)
def test_failures_say_what_went_wrong_and_whether_to_retry(fake, make_worker, fn, expected):
    w = make_worker()
    w.add_handler("f", fn, args=["int64"], results=["int64"])
    w.start()
    c = fake.accept()
    c.welcome()
    c.send_json(task("f", [{"type": "int64", "value": 1}]))
    m = c.recv_type("failure")
    assert {k: m[k] for k in ("error", "retry")} == expected
    if fn is raises:
        tb = m["traceback"]
        assert tb.startswith("Traceback (most recent call last):\n")
        assert 'raise ValueError("nope")' in tb and tb.endswith("ValueError: nope\n")
        assert "aurora_sdk" not in tb, "the SDK's own frames are left out"
    else:
        assert "traceback" not in m


def test_args_that_do_not_fit_fail_without_retry(fake, make_worker):
    w = make_worker()
    w.add_handler("two", lambda a, b: None, args=["int64", "int64"])
    w.start()
    c = fake.accept()
    c.welcome()
    c.send_json(task("two", [{"type": "int64", "value": 1}]))
    m = c.recv_type("failure")
    assert m["retry"] is False
    assert m["error"] == "two: takes exactly 2 values (int64, int64), got 1"


def test_variadic_args_are_flattened(fake, make_worker):
    w = make_worker()
    got = []
    w.add_handler("total", lambda *xs: got.append(xs) or sum(xs), args=["...int64"], results=["int64"])
    w.start()
    c = fake.accept()
    c.welcome()
    c.send_json(task("total", [{"type": "int64", "value": 1}, {"type": "[]int64", "value": [2, 3]}]))
    assert c.recv_type("result")["results"] == [{"type": "int64", "value": 6}]
    assert got == [(1, 2, 3)]


def test_unacked_outcomes_are_resent_after_a_reconnect_and_only_then(fake, make_worker):
    w = make_worker()
    w.add_handler("one", lambda: 1, results=["int64"])
    w.start()
    c1 = fake.accept()
    c1.welcome(worker_id="remote-1")
    c1.send_json(task("one", []))
    first = c1.recv_type("result")
    c1.close(1011, "internal error")  # the outcome was not acked
    c2 = fake.accept(timeout=5)
    hello = c2.recv_json()
    assert hello["type"] == "hello"
    c2.send_json({"type": "welcome", "protocol": 1, "worker_id": "remote-2", "heartbeat_ms": 5000})
    again = c2.recv_type("result")
    assert again == first
    c2.send_json({"type": "ack", "attempt_id": first["attempt_id"], "status": "recorded"})
    time.sleep(0.2)
    c2.close(1001, "going away")
    c3 = fake.accept(timeout=5)
    c3.welcome(worker_id="remote-3", heartbeat_ms=300)
    assert c3.recv_json(timeout=2) == {"type": "heartbeat"}, "an acked outcome was sent again"


def test_cancel_sets_ctx_cancelled_and_the_outcome_is_still_sent(fake, make_worker):
    w = make_worker()
    seen = {}
    running = threading.Event()

    @w.handler("wait", context=True)
    def wait(ctx):
        running.set()
        seen["stopped"] = ctx.cancelled.wait(10)
        seen["reason"] = ctx.cancel_reason
        raise Fail("stopped early")

    w.start()
    c = fake.accept()
    c.welcome()
    t = task("wait", [])
    c.send_json(t)
    assert running.wait(5)
    c.send_json({"type": "cancel", "attempt_id": t["attempt_id"], "reason": "timed_out"})
    m = c.recv_type("failure")
    assert m["attempt_id"] == t["attempt_id"]
    assert seen == {"stopped": True, "reason": "timed_out"}


def test_cancel_cancels_an_async_handler(fake, make_worker):
    w = make_worker()
    seen = {}

    @w.handler("nap", context=True)
    async def nap(ctx):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen["cancelled"] = ctx.cancelled.is_set()
            raise

    w.start()
    c = fake.accept()
    c.welcome()
    t = task("nap", [])
    c.send_json(t)
    time.sleep(0.2)
    c.send_json({"type": "cancel", "attempt_id": t["attempt_id"], "reason": "cancelled"})
    m = c.recv_type("failure")
    assert m == {"type": "failure", "attempt_id": t["attempt_id"], "error": "cancelled (cancelled)", "retry": False}
    assert seen == {"cancelled": True}


def test_a_dropped_connection_cancels_its_running_attempts(fake, make_worker):
    w = make_worker()
    seen = {}
    running = threading.Event()

    @w.handler("long", context=True)
    def long(ctx):
        running.set()
        seen["stopped"] = ctx.cancelled.wait(10)
        seen["reason"] = ctx.cancel_reason

    w.start()
    c = fake.accept()
    c.welcome()
    c.send_json(task("long", []))
    assert running.wait(5)
    c.close(1011, "boom")
    c2 = fake.accept()
    c2.welcome()
    m = c2.recv_type("result")  # the handler returned after the cancel; sent after the reconnect
    assert m["results"] == []
    assert seen == {"stopped": True, "reason": "disconnected"}


def test_progress_messages_then_result(fake, make_worker):
    w = make_worker()

    @w.handler("p", results=["string"], context=True)
    def p(ctx):
        ctx.progress(0.25)
        time.sleep(0.15)
        ctx.progress(0.5, "half")
        ctx.progress(0.75, "coalesced away")
        ctx.progress(0.9, "last")
        with pytest.raises(ValueError):
            ctx.progress(1.5)
        return "done"

    w.start()
    c = fake.accept()
    c.welcome()
    t = task("p", [])
    c.send_json(t)
    got = []
    while True:
        m = c.recv_json()
        if m["type"] == "heartbeat":
            continue
        got.append(m)
        if m["type"] != "progress":
            break
    aid = t["attempt_id"]
    assert got[0] == {"type": "progress", "attempt_id": aid, "fraction": 0.25}
    assert got[1] == {"type": "progress", "attempt_id": aid, "fraction": 0.5, "message": "half"}
    assert got[-2] == {"type": "progress", "attempt_id": aid, "fraction": 0.9, "message": "last"}
    assert {"type": "progress", "attempt_id": aid, "fraction": 0.75, "message": "coalesced away"} not in got
    assert got[-1] == {"type": "result", "attempt_id": aid, "results": [{"type": "string", "value": "done"}]}


def test_heartbeats_every_heartbeat_ms(fake, make_worker):
    w = make_worker()
    w.add_handler("x", lambda: None)
    w.start()
    c = fake.accept()
    c.welcome(heartbeat_ms=100)
    t0 = time.monotonic()
    for _ in range(4):
        assert c.recv_json(timeout=1) == {"type": "heartbeat"}
        c.send_json({"type": "heartbeat"})
    assert 0.3 <= time.monotonic() - t0 < 2.0


def test_a_silent_server_is_left_and_the_worker_reconnects(fake, make_worker):
    w = make_worker()
    w.add_handler("x", lambda: None)
    w.start()
    c = fake.accept()
    c.welcome(heartbeat_ms=100)  # and never answer
    t0 = time.monotonic()
    code, _ = c.wait_closed(timeout=5)
    assert code == 1001
    assert 0.25 <= time.monotonic() - t0 < 3
    c2 = fake.accept(timeout=5)
    assert c2.recv_json()["type"] == "hello"


@pytest.mark.parametrize(
    "code, message, error",
    [
        (4403, "role viewer may not run workers; it needs worker or admin", PermissionDeniedError),
        (4401, "token expired", AuthenticationError),
        (4400, "worker.handlers[0].args[0]: unknown type \"int65\"", ProtocolError),
    ],
)
def test_refusals_end_the_worker_with_the_servers_message(fake, make_worker, code, message, error):
    w = make_worker()
    w.add_handler("x", lambda: None)
    w.start()
    c = fake.accept()
    assert c.recv_json()["type"] == "hello"
    c.send_json({"type": "error", "code": code, "message": message})
    c.close(code, message[:123])
    assert w.join(5), "the worker kept running after a fatal close"
    assert isinstance(w.error, error)
    assert w.error.close_code == code
    assert w.error.message == message
    assert fake.no_connection(within=0.5), "the worker reconnected after a fatal close"


def test_a_4401_with_a_token_source_reconnects_with_a_fresh_token(fake, make_worker):
    tokens = iter(["aur_old", "aur_new"])
    w = make_worker(token=lambda: next(tokens))
    w.add_handler("x", lambda: None)
    w.start()
    c = fake.accept()
    assert c.recv_json()["token"] == "aur_old"
    c.send_json({"type": "error", "code": 4401, "message": "token expired"})
    c.close(4401, "token expired")
    c2 = fake.accept(timeout=5)
    assert c2.recv_json()["token"] == "aur_new"


def test_stop_drains_running_tasks_then_closes_normally(fake, make_worker):
    w = make_worker()
    running = threading.Event()

    @w.handler("slow", results=["string"])
    def slow():
        running.set()
        time.sleep(0.5)
        return "finished"

    w.start()
    c = fake.accept()
    c.welcome()
    t = task("slow", [])
    c.send_json(t)
    assert running.wait(5)
    threading.Thread(target=w.stop, daemon=True).start()
    assert c.recv_type("drain") == {"type": "drain"}
    r = c.recv_type("result")
    assert r["results"] == [{"type": "string", "value": "finished"}]
    assert not w.join(0.2), "the worker closed before its outcome was acked"
    c.send_json({"type": "ack", "attempt_id": t["attempt_id"], "status": "recorded"})
    code, reason = c.wait_closed()
    assert (code, reason) == (1000, "drained")
    assert w.join(5) and w.error is None


def test_stop_gives_up_after_the_drain_timeout(fake, make_worker):
    w = make_worker(drain_timeout=0.3)
    w.add_handler("forever", lambda ctx: ctx.cancelled.wait(30), context=True)
    w.start()
    c = fake.accept()
    c.welcome()
    c.send_json(task("forever", []))
    time.sleep(0.1)
    t0 = time.monotonic()
    threading.Thread(target=w.stop, daemon=True).start()
    assert c.recv_type("drain") == {"type": "drain"}
    code, reason = c.wait_closed()
    assert (code, reason) == (1001, "drain timeout")
    assert w.join(5)
    assert 0.3 <= time.monotonic() - t0 < 2


def test_sync_handlers_run_concurrently_up_to_concurrency(fake, make_worker):
    w = make_worker(concurrency=4)
    w.add_handler("nap", lambda: time.sleep(0.5), args=[])
    w.start()
    c = fake.accept()
    c.welcome()
    t0 = time.monotonic()
    for n in range(4):
        c.send_json(task("nap", [], n=n))
    for _ in range(4):
        c.recv_type("result")
    assert time.monotonic() - t0 < 1.5, "the four 0.5 s tasks did not run at the same time"


def test_an_unknown_handler_fails_without_retry(fake, make_worker):
    w = make_worker()
    w.add_handler("x", lambda: None)
    w.start()
    c = fake.accept()
    c.welcome()
    c.send_json(task("y", []))
    m = c.recv_type("failure")
    assert m["retry"] is False and m["error"] == "this worker has no handler 'y'"


def test_handler_declarations_are_checked_when_defined():
    w = Worker("http://127.0.0.1:1", token="t")
    with pytest.raises(ValueError, match="unknown type 'int65'"):
        w.add_handler("a", lambda x: x, args=["int65"])
    with pytest.raises(ValueError, match="must be the last"):
        w.add_handler("a", lambda *x: x, args=["...int64", "string"])
    w.add_handler("a", lambda: None)
    with pytest.raises(ValueError, match="already defined"):
        w.add_handler("a", lambda: None)
    with pytest.raises(ValueError, match="without whitespace"):
        w.add_handler("a b", lambda: None)
    with pytest.raises(ValueError, match="concurrency"):
        Worker("http://127.0.0.1:1", concurrency=0)
