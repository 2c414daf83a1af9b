"""A small builder for ``GraphInput``, the JSON ``submitGraph`` takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Optional

from .values import TYPE_NAMES, ConversionError, Typed, to_typed

__all__ = ["Graph", "arg"]


def arg(value: Any, where: str = "arg") -> Dict[str, Any]:
    """One task arg as a typed value. ``value`` is a ``Typed``, a ``(type, value)`` pair such as
    ``("int64", 1)`` (a 2-tuple whose first item is a type name), or a plain value whose type is
    inferred (``int`` → ``int64``, ``float`` → ``float64``, ``str``, ``bool``, a list → ``[]T``)."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and value[0] in TYPE_NAMES:
        return to_typed(value[1], value[0], where)
    if isinstance(value, Typed):
        return to_typed(value, value.type, where)
    return to_typed(value, None, where)


class Graph:
    """A graph to submit, built step by step::

        g = (Graph("thumbnails")
             .task("a", "add", ("int64", 1), ("int64", 2))
             .task("b", "multiply", 10, pass_results=True)
             .edge("a", "b"))
        client.submit(g)

    Args are checked as they are added (``("int64", "x")`` raises ``ValueError`` at once).
    """

    def __init__(
        self,
        name: Optional[str] = None,
        *,
        label_selector: Optional[Dict[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> None:
        self.name = name
        self.label_selector = dict(label_selector) if label_selector is not None else None
        self.idempotency_key = idempotency_key
        self._tasks: List[Dict[str, Any]] = []
        self._keys: set = set()
        self._edges: List[Dict[str, str]] = []

    def task(
        self,
        key: str,
        handler: str,
        *args: Any,
        label_selector: Optional[Dict[str, str]] = None,
        retry_count: Optional[int] = None,
        retry_backoff_ms: Optional[int] = None,
        timeout_ms: Optional[int] = None,
        pass_results: Optional[bool] = None,
        not_before: Optional[datetime] = None,
        priority: Optional[int] = None,
    ) -> "Graph":
        """Adds task ``key`` running ``handler`` with ``args`` (see ``arg``); returns the graph.
        ``not_before`` (a timezone-aware ``datetime``) delays the task until then once it is ready;
        ``priority`` (0 to 9) runs it before lower ones waiting for the same handler and selector."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"a task key must be a non-empty string, got {key!r}")
        if key in self._keys:
            raise ValueError(f"duplicate task key {key!r}")
        if not isinstance(handler, str) or not handler:
            raise ValueError(f"task {key!r}: the handler name must be a non-empty string, got {handler!r}")
        try:
            typed = [arg(a, f"task {key!r} arg {i}") for i, a in enumerate(args)]
        except ConversionError as e:
            raise ValueError(str(e)) from None
        if not_before is not None and (not isinstance(not_before, datetime) or not_before.tzinfo is None):
            raise ValueError(f"task {key!r}: not_before must be a timezone-aware datetime, got {not_before!r}")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 9):
            raise ValueError(f"task {key!r}: priority must be an integer from 0 to 9, got {priority!r}")
        t: Dict[str, Any] = {"key": key, "name": handler, "args": typed}
        optional = {
            "labelSelector": dict(label_selector) if label_selector is not None else None,
            "retryCount": retry_count,
            "retryBackoffMs": retry_backoff_ms,
            "timeoutMs": timeout_ms,
            "passResults": pass_results,
            "notBefore": not_before.isoformat() if not_before is not None else None,
            "priority": priority,
        }
        t.update({k: v for k, v in optional.items() if v is not None})
        self._tasks.append(t)
        self._keys.add(key)
        return self

    def edge(self, from_: str, to: str) -> "Graph":
        """``to`` runs after ``from_`` succeeded; returns the graph."""
        self._edges.append({"from": from_, "to": to})
        return self

    def to_input(self) -> Dict[str, Any]:
        """The ``GraphInput`` JSON (camelCase keys, as in ``examples/*.json``)."""
        for e in self._edges:
            for end in (e["from"], e["to"]):
                if end not in self._keys:
                    raise ValueError(f"edge {e['from']!r} -> {e['to']!r}: no task {end!r}")
        out: Dict[str, Any] = {"tasks": [dict(t) for t in self._tasks]}
        if self.name is not None:
            out["name"] = self.name
        if self._edges:
            out["edges"] = [dict(e) for e in self._edges]
        if self.label_selector is not None:
            out["labelSelector"] = dict(self.label_selector)
        if self.idempotency_key is not None:
            out["idempotencyKey"] = self.idempotency_key
        return out
