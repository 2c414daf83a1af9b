"""The GraphQL client: log in, submit, wait, watch, cancel."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Union

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect as ws_connect

from ._urls import http_url, ws_url
from .errors import AuroraError, AuthenticationError, NotFoundError, PermissionDeniedError, TransportError, WaitTimeout, error_for
from .graph import Graph

__all__ = ["Client", "GRAPH_FIELDS", "EVENT_FIELDS", "TERMINAL_STATES"]

log = logging.getLogger("aurora_sdk.client")

#: What ``Client.graph`` and ``Client.wait`` return of a run.
GRAPH_FIELDS = """
  id name state submittedBy submittedAt finishedAt
  taskCounts { total waiting pending received started retry success failure cancelled skipped }
  tasks {
    id key name state args { type value } results { type value } error attempts workerId retryAt
    labelSelector retryCount retryBackoffMs timeoutMs createdAt updatedAt
  }
  edges { from to }
"""

#: What ``Client.watch`` yields of each event (newer servers also have ``position``).
EVENT_FIELDS = """
  id stream version type graphId taskId state data actor recordedAt hash prevHash traceId workerId
  fencingToken causationId
"""

#: A run's states once it has ended.
TERMINAL_STATES = ("SUCCESS", "FAILURE", "CANCELLED")


class Client:
    """A client of one Aurora server.

    ``server`` is the address (``http://127.0.0.1:4332``; a trailing ``/graphql`` is fine).
    ``token`` is a bearer token; without one, ``AURORA_TOKEN`` is used if set, and ``login``
    sets it. ``timeout`` bounds each HTTP request, in seconds.
    """

    def __init__(
        self,
        server: str = "http://127.0.0.1:4332",
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.server = server
        self.token: Optional[str] = token if token is not None else os.environ.get("AURORA_TOKEN") or None
        self.timeout = timeout
        self._url = http_url(server, "/graphql")
        self._ws_url = ws_url(server, "/graphql/ws")
        self._http = httpx.Client(timeout=timeout)

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _headers(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def query(self, query: str, variables: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Runs any GraphQL query or mutation and returns its ``data``; GraphQL errors raise the
        ``AuroraError`` subclass of the first error's ``extensions.code``."""
        body: Dict[str, Any] = {"query": query}
        if variables:
            body["variables"] = variables
        try:
            r = self._http.post(self._url, json=body, headers=self._headers())
        except httpx.HTTPError as e:
            raise TransportError(f"could not reach {self._url}: {e}") from e
        try:
            payload = r.json()
        except ValueError:
            raise TransportError(f"{self._url} answered HTTP {r.status_code}: {r.text[:200]!r}") from None
        if not isinstance(payload, dict):
            raise TransportError(f"{self._url} answered HTTP {r.status_code} with {str(payload)[:200]!r}")
        errors = payload.get("errors")
        if errors:
            raise _graphql_error(errors)
        if r.status_code >= 400 or "data" not in payload:
            raise TransportError(f"{self._url} answered HTTP {r.status_code}: {r.text[:200]!r}")
        return payload["data"] or {}

    # -- auth -------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> str:
        """Exchanges a username and password for a token, keeps it for later calls and returns it."""
        data = self.query(
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token expiresAt } }",
            {"u": username, "p": password},
        )
        self.token = data["login"]["token"]
        return self.token

    def logout(self) -> bool:
        """Revokes this client's token."""
        ok = bool(self.query("mutation { logout }")["logout"])
        self.token = None
        return ok

    # -- runs -------------------------------------------------------------------------------

    def submit(self, graph: Union[Graph, Dict[str, Any]]) -> str:
        """Submits a graph (a ``Graph``, or a ``GraphInput`` dict as in ``examples/*.json``) and
        returns the run's id."""
        g = graph.to_input() if isinstance(graph, Graph) else graph
        data = self.query("mutation($g: GraphInput!) { submitGraph(input: $g) { id state } }", {"g": g})
        return data["submitGraph"]["id"]

    def graph(self, id: str, fields: str = GRAPH_FIELDS) -> Dict[str, Any]:
        """The run ``id`` as a dict (``fields`` is the GraphQL selection); ``NotFoundError`` if
        there is none."""
        data = self.query(f"query($id: ID!) {{ graph(id: $id) {{ {fields} }} }}", {"id": id})
        if data.get("graph") is None:
            raise NotFoundError(f"no graph with id {id}")
        return data["graph"]

    def cancel(self, id: str, reason: Optional[str] = None) -> Dict[str, Any]:
        """Cancels a running graph: its unfinished tasks end CANCELLED, then the graph does.
        Returns ``{"id", "state"}`` as the mutation answered (the run may still be ending)."""
        data = self.query(
            "mutation($id: ID!, $r: String) { cancelGraph(id: $id, reason: $r) { id state } }",
            {"id": id, "r": reason},
        )
        return data["cancelGraph"]

    def handlers(self) -> List[Dict[str, Any]]:
        """Every handler some live worker offers (``name``, ``usage``, ``argTypes``, ``resultTypes``)."""
        return self.query("{ handlers { name usage argTypes resultTypes } }")["handlers"]

    def workers(self) -> List[Dict[str, Any]]:
        """Live workers (``id``, ``labels``, ``handlers``, ``lastSeenAt``)."""
        return self.query("{ workers { id labels handlers lastSeenAt } }")["workers"]

    def watch(self, id: str, *, timeout: Optional[float] = None, fields: str = EVENT_FIELDS) -> Iterator[Dict[str, Any]]:
        """Yields the run's events (the ``graphEvents`` subscription): its history first, then
        each new event, exactly once each, ending after the graph's terminal event. ``timeout``
        bounds the whole watch (``WaitTimeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> Optional[float]:
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"graph {id} did not end within {timeout} s")
            return left

        try:
            ws = ws_connect(
                self._ws_url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                open_timeout=min(self.timeout, remaining() or self.timeout),
                close_timeout=2,
                max_size=64 * 1024 * 1024,
            )
        except (OSError, InvalidHandshake, TimeoutError) as e:
            raise TransportError(f"could not open {self._ws_url}: {e}") from e
        with ws:
            try:
                ws.send(json.dumps({"type": "connection_init", "payload": self._headers()}))
                while True:
                    m = _recv(ws, remaining())
                    if m.get("type") == "connection_ack":
                        break
                    if m.get("type") == "ping":
                        ws.send(json.dumps({"type": "pong"}))
                query = f"subscription($id: ID!) {{ graphEvents(id: $id) {{ {fields} }} }}"
                ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": id}}}))
                while True:
                    m = _recv(ws, remaining())
                    kind = m.get("type")
                    if kind == "next":
                        payload = m.get("payload") or {}
                        if payload.get("errors"):
                            raise _graphql_error(payload["errors"])
                        yield (payload.get("data") or {})["graphEvents"]
                    elif kind == "error":
                        raise _graphql_error(m.get("payload") or [{"message": "subscription error"}])
                    elif kind == "complete":
                        return
                    elif kind == "ping":
                        ws.send(json.dumps({"type": "pong"}))
            except ConnectionClosed as e:
                raise _closed_error(e, self._ws_url) from None

    def wait(self, id: str, timeout: Optional[float] = None, fields: str = GRAPH_FIELDS) -> Dict[str, Any]:
        """Blocks until the run ends and returns it (as ``graph`` does); ``WaitTimeout`` after
        ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> Optional[float]:
            if deadline is None:
                return None
            rest = deadline - time.monotonic()
            if rest <= 0:
                raise WaitTimeout(f"graph {id} did not end within {timeout} s")
            return rest

        while True:
            try:
                for _ in self.watch(id, timeout=left(), fields="type"):
                    pass  # the subscription completes after the graph's terminal event
                break
            except TransportError as e:
                log.info("watching %s failed (%s); trying again", id, e)
                time.sleep(min(0.5, left() or 0.5))
        # The read model follows the ledger within moments: poll until it shows the end.
        delay, missing_since = 0.02, time.monotonic()
        while True:
            try:
                g = self.graph(id, fields)
            except NotFoundError:
                if time.monotonic() - missing_since > 10:
                    raise
                g = {}
            if g.get("state") in TERMINAL_STATES:
                return g
            time.sleep(min(delay, left() or delay))
            delay = min(delay * 2, 0.5)


def _recv(ws: Any, timeout: Optional[float]) -> Dict[str, Any]:
    try:
        raw = ws.recv(timeout=timeout)
    except TimeoutError:
        raise WaitTimeout("no answer from the subscription in time") from None
    try:
        m = json.loads(raw)
    except ValueError:
        raise TransportError(f"the subscription sent something that is not JSON: {str(raw)[:200]!r}") from None
    return m if isinstance(m, dict) else {}


def _graphql_error(errors: Any) -> AuroraError:
    if not isinstance(errors, list) or not errors:
        errors = [{"message": str(errors)}]
    first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
    code = (first.get("extensions") or {}).get("code")
    return error_for(str(first.get("message", "error")), code, errors=errors)


def _closed_error(e: ConnectionClosed, url: str) -> AuroraError:
    rcvd = e.rcvd
    code = rcvd.code if rcvd is not None else 1006
    reason = (rcvd.reason if rcvd is not None else "") or "connection closed"
    if code == 4401:
        return AuthenticationError(reason, close_code=code)
    if code == 4403:
        return PermissionDeniedError(reason, close_code=code)
    return TransportError(f"{url} closed the subscription: {code} {reason}", close_code=code)
