"""A scripted stand-in for the server side of the worker protocol (docs/worker-protocol.md).

Each accepted connection is handed to the test, which plays the server's part synchronously:
``conn = fake.accept()``, ``conn.recv_json()``, ``conn.send_json({...})``, ``conn.close(4403, ...)``.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any, Dict, Optional

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class Conn:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.done = threading.Event()

    @property
    def path(self) -> str:
        return self.ws.request.path if self.ws.request is not None else ""

    @property
    def subprotocol(self) -> Optional[str]:
        return self.ws.subprotocol

    def recv_json(self, timeout: float = 5.0) -> Dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def recv_type(self, kind: str, timeout: float = 5.0, skip=("heartbeat",)) -> Dict[str, Any]:
        """The next message, skipping heartbeats (and other types in ``skip``); asserts its type."""
        while True:
            m = self.recv_json(timeout)
            if m.get("type") in skip and m.get("type") != kind:
                continue
            assert m.get("type") == kind, f"expected {kind}, got {m}"
            return m

    def send_json(self, m: Dict[str, Any]) -> None:
        self.ws.send(json.dumps(m))

    def welcome(self, worker_id: str = "remote-000000000001", heartbeat_ms: int = 5000) -> Dict[str, Any]:
        hello = self.recv_json()
        assert hello["type"] == "hello", hello
        self.send_json({"type": "welcome", "protocol": 1, "worker_id": worker_id, "heartbeat_ms": heartbeat_ms})
        return hello

    def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            self.ws.close(code, reason)
        finally:
            self.done.set()

    def wait_closed(self, timeout: float = 5.0):
        """Reads until the client closes; returns (code, reason) of its close frame."""
        try:
            while True:
                self.ws.recv(timeout=timeout)
        except ConnectionClosed as e:
            self.done.set()
            rcvd = e.rcvd
            return (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "")


class FakeServer:
    def __init__(self) -> None:
        self._conns: "queue.Queue[Conn]" = queue.Queue()
        self._all: "list[Conn]" = []
        self._server = serve(self._handle, "127.0.0.1", 0, subprotocols=["aurora-worker.v1"])  # type: ignore[list-item]
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, ws: ServerConnection) -> None:
        c = Conn(ws)
        self._all.append(c)
        self._conns.put(c)
        c.done.wait(120)  # the connection lives until the test closes it

    def accept(self, timeout: float = 10.0) -> Conn:
        return self._conns.get(timeout=timeout)

    def no_connection(self, within: float) -> bool:
        try:
            self._conns.get(timeout=within)
        except queue.Empty:
            return True
        return False

    def stop(self) -> None:
        for c in self._all:
            c.done.set()
        self._server.shutdown()
