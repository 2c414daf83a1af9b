"""Helpers shared by the test modules."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls ``predicate`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s (last value: {last!r})")


def graph_or_none(client, gid, fields=None):
    """``client.graph`` that answers ``None`` while the read model does not show the run yet
    (a submission is in the ledger at once and in the read model within moments)."""
    from aurora_sdk import NotFoundError

    try:
        return client.graph(gid, fields) if fields else client.graph(gid)
    except NotFoundError:
        return None
