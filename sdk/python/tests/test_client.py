"""The GraphQL client against a real `aurora dev` (these pass on today's server)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from aurora_sdk import (
    AuroraError,
    AuthenticationError,
    BadUserInputError,
    Client,
    Graph,
    NotFoundError,
    PermissionDeniedError,
    Typed,
    WaitTimeout,
    plain,
)
from conftest import ADMIN_PASSWORD
from helpers import graph_or_none, wait_until

ADD_THEN_ADD = {
    "name": "sdk-dict",
    "tasks": [
        {"key": "first", "name": "add", "args": [{"type": "int64", "value": 1}, {"type": "int64", "value": 2}]},
        {"key": "second", "name": "add", "args": [{"type": "int64", "value": 3}, {"type": "int64", "value": 4}]},
    ],
    "edges": [{"from": "first", "to": "second"}],
}


def by_key(graph):
    return {t["key"]: t for t in graph["tasks"]}


def test_login_returns_a_token_that_works(aurora):
    with Client(aurora.url) as c:
        token = c.login("admin", ADMIN_PASSWORD)
        assert token.startswith("aur_") and len(token) > 20
        assert c.token == token
        names = {h["name"] for h in c.handlers()}
        assert {"add", "sleep", "concat"} <= names


def test_login_with_a_wrong_password_raises_unauthenticated(aurora):
    with Client(aurora.url) as c:
        with pytest.raises(AuthenticationError) as e:
            c.login("admin", "not-the-password")
        assert e.value.code == "UNAUTHENTICATED"
        assert "wrong username or password" in e.value.message
        assert c.token is None


def test_without_a_token_reads_are_refused(aurora, monkeypatch):
    monkeypatch.delenv("AURORA_TOKEN", raising=False)
    with Client(aurora.url) as c:
        with pytest.raises(AuthenticationError) as e:
            c.workers()
        assert e.value.code == "UNAUTHENTICATED"


def test_submit_a_dict_and_wait(client):
    gid = client.submit(ADD_THEN_ADD)
    g = client.wait(gid, timeout=30)
    assert g["id"] == gid
    assert g["state"] == "SUCCESS"
    tasks = by_key(g)
    assert tasks["first"]["results"] == [{"type": "int64", "value": 3}]
    assert tasks["second"]["results"] == [{"type": "int64", "value": 7}]
    assert g["taskCounts"]["success"] == 2 and g["taskCounts"]["total"] == 2
    assert g["edges"] == [{"from": "first", "to": "second"}]


def test_not_before_delays_a_task_until_its_time(client):
    from datetime import datetime, timedelta, timezone

    at = datetime.now(timezone.utc) + timedelta(seconds=2)
    g = Graph("sdk-delayed").task("later", "echo", "x", not_before=at)
    assert g.to_input()["tasks"][0]["notBefore"] == at.isoformat()
    gid = client.submit(g)
    t = client.query("query($id: ID!) { graph(id: $id) { tasks { state notBefore } } }", {"id": gid})["graph"]["tasks"][0]
    assert t["state"] == "WAITING", t
    run = client.wait(gid, timeout=30)
    assert run["state"] == "SUCCESS"
    history = client.query("query($id: ID!) { graph(id: $id) { history { type recordedAt } } }", {"id": gid})["graph"]["history"]
    claimed = next(e["recordedAt"] for e in history if e["type"] == "TaskReceived")
    from aurora_sdk.worker import _parse_time  # RFC 3339 with any fraction, on Python 3.9 too

    assert _parse_time(claimed) >= at.replace(microsecond=at.microsecond // 1000 * 1000)
    with pytest.raises(ValueError, match="timezone-aware"):
        Graph().task("a", "noop", not_before=datetime.now())
    assert Graph().task("a", "noop", priority=9).to_input()["tasks"][0]["priority"] == 9
    with pytest.raises(ValueError, match="priority must be an integer from 0 to 9"):
        Graph().task("a", "noop", priority=10)


def test_submit_a_builder_graph(client):
    g = (
        Graph("sdk-builder")
        .task("a", "add", ("int64", 1), ("int64", 2))
        .task("m", "multiply", 3, Typed("int64", 4), retry_count=1)
        .task("c", "concat", "x", "y")
        .task("s", "split", "a b")
        .edge("a", "m")
    )
    assert g.to_input() == {
        "name": "sdk-builder",
        "tasks": [
            {"key": "a", "name": "add", "args": [{"type": "int64", "value": 1}, {"type": "int64", "value": 2}]},
            {"key": "m", "name": "multiply", "args": [{"type": "int64", "value": 3}, {"type": "int64", "value": 4}], "retryCount": 1},
            {"key": "c", "name": "concat", "args": [{"type": "string", "value": "x"}, {"type": "string", "value": "y"}]},
            {"key": "s", "name": "split", "args": [{"type": "string", "value": "a b"}]},
        ],
        "edges": [{"from": "a", "to": "m"}],
    }
    run = client.wait(client.submit(g), timeout=30)
    assert run["state"] == "SUCCESS"
    tasks = by_key(run)
    assert plain(tasks["a"]["results"]) == [3]
    assert plain(tasks["m"]["results"]) == [12]
    assert plain(tasks["c"]["results"]) == ["xy"]
    assert tasks["s"]["results"][0]["type"] == "[]string"
    assert tasks["m"]["retryCount"] == 1


def test_builder_checks_args_and_edges_before_sending():
    with pytest.raises(ValueError, match="arg 0: expected int64, got str"):
        Graph().task("a", "add", ("int64", "one"))
    with pytest.raises(ValueError, match="out of range for uint8"):
        Graph().task("a", "add", ("uint8", 256))
    with pytest.raises(ValueError, match="duplicate task key 'a'"):
        Graph().task("a", "noop").task("a", "noop")
    with pytest.raises(ValueError, match="no task 'zz'"):
        Graph().task("a", "noop").edge("a", "zz").to_input()


def test_watch_yields_events_in_order_ending_with_graph_succeeded(client):
    gid = client.submit(ADD_THEN_ADD)
    events = list(client.watch(gid, timeout=30))
    types = [e["type"] for e in events]
    assert types[0] == "GraphSubmitted"
    assert types[-1] == "GraphSucceeded"
    assert types.count("GraphSucceeded") == 1
    per_task = {}
    for e in events:
        assert e["graphId"] == gid
        if e["taskId"]:
            per_task.setdefault(e["taskId"], []).append(e)
    assert len(per_task) == 2
    for evs in per_task.values():
        assert [e["type"] for e in evs] == ["TaskPending", "TaskReceived", "TaskStarted", "TaskSucceeded"]
        assert [e["version"] for e in evs] == [1, 2, 3, 4]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids), "an event was delivered twice"
    times = [datetime.fromisoformat(e["recordedAt"].replace("Z", "+00:00")) for e in events]
    assert times == sorted(times), "events out of ledger order"
    # the edge: the first task succeeded before the second was made pending
    index = {e["id"]: i for i, e in enumerate(events)}
    first, second = sorted(per_task.values(), key=lambda evs: index[evs[0]["id"]])
    assert index[first[-1]["id"]] < index[second[0]["id"]]
    assert [e["type"] for e in first][-1] == "TaskSucceeded"


def test_cancel_a_running_graph_of_sleep_tasks(client):
    g = Graph("sdk-cancel").task("s1", "sleep", 30_000).task("s2", "sleep", 30_000)
    gid = client.submit(g)
    started = time.monotonic()
    wait_until(
        lambda: any(t["state"] == "STARTED" for t in (graph_or_none(client, gid) or {"tasks": []})["tasks"]),
        timeout=10, what="a sleep task STARTED",
    )
    answer = client.cancel(gid, reason="enough sleeping")
    assert answer["id"] == gid
    run = client.wait(gid, timeout=20)
    assert run["state"] == "CANCELLED"
    assert [t["state"] for t in run["tasks"]] == ["CANCELLED", "CANCELLED"]
    assert all(t["error"] == "enough sleeping" for t in run["tasks"])
    assert time.monotonic() - started < 15, "cancel did not stop the 30 s sleeps"


def test_a_bad_submission_raises_bad_user_input(client):
    with pytest.raises(BadUserInputError) as e:
        client.submit({"tasks": [{"key": "x", "name": "no_such_handler_anywhere"}]})
    assert e.value.code == "BAD_USER_INPUT"
    assert "no_such_handler_anywhere" in e.value.message
    assert isinstance(e.value, AuroraError)
    with pytest.raises(BadUserInputError) as e:
        client.submit(Graph().task("s", "sleep", "not a number"))
    assert "sleep" in e.value.message


def test_wait_times_out(client):
    gid = client.submit(Graph("sdk-timeout").task("s", "sleep", 20_000))
    try:
        t0 = time.monotonic()
        with pytest.raises(WaitTimeout) as e:
            client.wait(gid, timeout=1.0)
        assert isinstance(e.value, TimeoutError)
        assert 0.9 <= time.monotonic() - t0 < 5
    finally:
        client.cancel(gid)
    assert client.wait(gid, timeout=20)["state"] == "CANCELLED"


def test_unknown_graphs_raise_not_found(client):
    missing = "01a233e1-4239-74d6-8cfb-c16d9130f195"
    with pytest.raises(NotFoundError) as e:
        client.graph(missing)
    assert e.value.code == "NOT_FOUND"
    with pytest.raises(NotFoundError):
        client.cancel(missing)
    with pytest.raises(NotFoundError):
        list(client.watch(missing, timeout=10))


def test_a_viewer_may_read_but_not_submit(aurora, viewer_token):
    with Client(aurora.url, token=viewer_token) as c:
        assert isinstance(c.handlers(), list)
        with pytest.raises(PermissionDeniedError) as e:
            c.submit(ADD_THEN_ADD)
        assert e.value.code == "FORBIDDEN"
