"""A remote worker: runs Python functions as Aurora handlers over ``/workers/ws``.

The protocol is ``docs/worker-protocol.md`` (version 1).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import os
import queue
import random
import re
import signal
import threading
import time
import traceback
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ._urls import ws_url
from .errors import AuroraError, AuthenticationError, Fail, MetricError, PermissionDeniedError, ProtocolError, Retry
from .values import ConversionError, Signature

__all__ = ["Worker", "Context", "Metric", "PROTOCOL_VERSION", "SUBPROTOCOL"]

log = logging.getLogger("aurora_sdk.worker")

PROTOCOL_VERSION = 1
SUBPROTOCOL = "aurora-worker.v1"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_PROGRESS_INTERVAL = 0.1  # seconds between two progress messages of one attempt (the server keeps one a second)

TokenSource = Union[str, Callable[[], str], None]


class Context:
    """What a handler declared with ``context=True`` gets as its first argument.

    ``cancelled`` is a ``threading.Event``, set when the attempt must stop: its run was cancelled
    (``cancel_reason`` ``"cancelled"``), it timed out (``"timed_out"``), the connection to the
    server dropped (``"disconnected"``: the server gives the task to another attempt), or the
    worker is stopping past its drain timeout (``"stopping"``). A sync handler checks
    ``ctx.cancelled.is_set()`` or waits with ``ctx.cancelled.wait(seconds)``; an async handler's
    task is also cancelled (``asyncio.CancelledError`` at its next ``await``).
    """

    def __init__(self, worker: "Worker", msg: Dict[str, Any]) -> None:
        self._worker = worker
        self.attempt_id: str = msg["attempt_id"]
        self.task_id: str = str(msg.get("task_id", ""))
        self.graph_id: str = str(msg.get("graph_id", ""))
        self.key: Optional[str] = msg.get("key")
        self.handler: str = str(msg.get("handler", ""))
        self.attempt: int = int(msg.get("attempt") or 0)
        self.trace_id: Optional[str] = msg.get("trace_id")
        self.deadline: Optional[datetime] = _parse_time(msg.get("deadline"))
        self.cancelled = threading.Event()
        self.cancel_reason: Optional[str] = None
        self.logger = logging.LoggerAdapter(
            logging.getLogger(f"aurora_sdk.handler.{self.handler}"),
            {"task_id": self.task_id, "graph_id": self.graph_id, "attempt": self.attempt, "trace_id": self.trace_id},
        )

    def progress(self, fraction: float, message: Optional[str] = None) -> None:
        """Reports how far the attempt is (0 ≤ ``fraction`` ≤ 1), from any thread. Best effort:
        it is dropped while disconnected; the server records at most one a second per task."""
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise TypeError(f"progress fraction must be a number, got {type(fraction).__name__}")
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"progress fraction must be between 0 and 1, got {fraction}")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"progress message must be a string, got {type(message).__name__}")
        self._worker._progress_threadsafe(self.attempt_id, float(fraction), message)

    def metric(self, name: str, labels: Optional[Dict[str, str]] = None) -> "Metric":
        """A user-defined metric of the server (``[[metrics]]`` in its config) with these label
        values, to update: ``ctx.metric("images_total", {"format": "png"}).inc()``."""
        return Metric(self._worker, self.attempt_id, name, dict(labels or {}))

    def __repr__(self) -> str:
        return f"Context(task_id={self.task_id!r}, attempt={self.attempt}, handler={self.handler!r})"


class Metric:
    """A declared metric with label values (from ``Context.metric``). Each update is checked
    against the declarations the server sent on connecting and raises ``MetricError`` if it does
    not fit; then it is sent to the server, whose ``/metrics`` shows it. Best effort while
    disconnected (the update is dropped)."""

    def __init__(self, worker: "Worker", attempt_id: str, name: str, labels: Dict[str, str]) -> None:
        self._worker, self._attempt_id, self.name, self.labels = worker, attempt_id, name, labels

    def inc(self, value: float = 1.0) -> None:
        """Counter (``value`` ≥ 0) or gauge: adds ``value``."""
        self._update("inc", value)

    def set(self, value: float) -> None:
        """Gauge: sets it to ``value``."""
        self._update("set", value)

    def observe(self, value: float) -> None:
        """Histogram or summary: records ``value``."""
        self._update("observe", value)

    def _update(self, op: str, value: float) -> None:
        declared = self._worker._declared_metrics
        d = declared.get(self.name)
        if d is None:
            names = ", ".join(sorted(declared)) or "none"
            raise MetricError(f"metric `{self.name}` is not declared in the server's [[metrics]] (declared: {names})")
        want, got = sorted(d.get("labels") or []), sorted(self.labels)
        if want != got:
            raise MetricError(f"metric `{self.name}` takes the labels [{', '.join(want)}], not [{', '.join(got)}]")
        if any(not isinstance(v, str) for v in self.labels.values()):
            raise MetricError(f"metric `{self.name}`: label values must be strings")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise MetricError(f"metric `{self.name}`: the value must be a finite number, got {value!r}")
        kind = d.get("kind")
        fits = {"counter": ("inc",), "gauge": ("inc", "set"), "histogram": ("observe",), "summary": ("observe",)}
        if op not in fits.get(str(kind), ()):
            raise MetricError(f"metric `{self.name}` is a {kind}: use {' or '.join(fits.get(str(kind), ()))}, not {op}")
        if kind == "counter" and value < 0:
            raise MetricError(f"metric `{self.name}` is a counter: it only goes up, not by {value}")
        msg = {"type": "metric", "attempt_id": self._attempt_id, "name": self.name, "labels": self.labels, op: float(value)}
        self._worker._send_threadsafe(msg)


def _parse_time(s: Any) -> Optional[datetime]:
    if not isinstance(s, str) or not s:
        return None
    t = s.strip().replace("Z", "+00:00").replace("z", "+00:00")
    m = re.match(r"^(.*?T\d\d:\d\d:\d\d)\.(\d+)(.*)$", t)
    if m:  # Python < 3.11's fromisoformat takes exactly 3 or 6 fraction digits
        t = f"{m.group(1)}.{(m.group(2) + '000000')[:6]}{m.group(3)}"
    try:
        d = datetime.fromisoformat(t)
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


class _Handler:
    def __init__(self, name: str, fn: Callable[..., Any], args: Sequence[str], results: Sequence[str], usage: Optional[str], context: bool) -> None:
        if not isinstance(name, str) or not name or any(c.isspace() or ord(c) < 32 for c in name):
            raise ValueError(f"handler name must be a non-empty string without whitespace, got {name!r}")
        if len(name) > 200:
            raise ValueError(f"handler name {name[:40]!r}… has {len(name)} characters; the limit is 200")
        try:
            self.args = Signature(args)
            self.results = Signature(results)
        except ConversionError as e:
            raise ValueError(f"handler {name!r}: {e}") from None
        self.name = name
        self.fn = fn
        self.context = context
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))
        doc = inspect.getdoc(fn) or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        self.usage = usage or first or f"{name}({', '.join(self.args.names)}) -> ({', '.join(self.results.names)})"

    def declaration(self) -> Dict[str, Any]:
        return {"name": self.name, "usage": self.usage[:1000], "args": self.args.names, "results": self.results.names}


class _Pool:
    """A fixed set of daemon threads for sync handlers (daemon: a handler that never returns does
    not keep the process alive after the worker stopped)."""

    def __init__(self, size: int) -> None:
        self._q: "queue.Queue[Any]" = queue.Queue()
        self._threads = [threading.Thread(target=self._run, name=f"aurora-handler-{i}", daemon=True) for i in range(size)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            fn, args, loop, fut = job
            try:
                r, e = fn(*args), None
            except BaseException as exc:  # noqa: BLE001 - reported as the attempt's failure
                r, e = None, exc
            try:
                loop.call_soon_threadsafe(_settle, fut, r, e)
            except RuntimeError:
                pass  # the worker's loop has ended: nobody waits for this outcome any more

    def run(self, fn: Callable[..., Any], args: List[Any]) -> "asyncio.Future[Any]":
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._q.put((fn, args, loop, fut))
        return fut

    def shutdown(self) -> None:
        for _ in self._threads:
            self._q.put(None)


def _settle(fut: "asyncio.Future[Any]", result: Any, exc: Optional[BaseException]) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class _Attempt:
    def __init__(self, msg: Dict[str, Any], ctx: Context, handler: Optional[_Handler]) -> None:
        self.msg = msg
        self.ctx = ctx
        self.handler = handler
        self.task: Optional["asyncio.Task[None]"] = None
        self.cancel_requested = False
        self.progress_last = 0.0
        self.progress_held: Optional[Dict[str, Any]] = None
        self.progress_timer: Optional[asyncio.TimerHandle] = None

    def cancel(self, reason: str) -> None:
        if self.cancel_requested:
            return
        self.cancel_requested = True
        self.ctx.cancel_reason = reason
        self.ctx.cancelled.set()
        if self.handler is not None and self.handler.is_async and self.task is not None and not self.task.done():
            self.task.cancel()


class _Fatal(Exception):
    def __init__(self, error: AuroraError) -> None:
        super().__init__(str(error))
        self.error = error


class Worker:
    """A remote worker of an Aurora server.

    ``server`` is the server's address (``http://127.0.0.1:4332``); the worker connects to its
    ``/workers/ws``. ``token`` is a bearer token of a user with role ``worker`` or ``admin`` (a
    string, or a callable returning one, called on every connect — e.g. a function that logs in);
    without one, ``AURORA_TOKEN``. ``labels`` are matched by tasks' label selectors;
    ``concurrency`` is how many tasks run at once (and the size of the thread pool for sync
    handlers). ``drain_timeout`` is how long in-flight tasks may finish after SIGTERM/SIGINT or
    ``stop()``.
    """

    def __init__(
        self,
        server: str = "http://127.0.0.1:4332",
        token: TokenSource = None,
        *,
        name: Optional[str] = None,
        labels: Optional[Dict[str, str]] = None,
        concurrency: int = 8,
        drain_timeout: float = 30.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 1024:
            raise ValueError(f"concurrency must be an integer from 1 to 1024, got {concurrency!r}")
        labels = dict(labels or {})
        if len(labels) > 64:
            raise ValueError(f"{len(labels)} labels; the limit is 64")
        for k, v in labels.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError(f"labels must map strings to strings, got {k!r}: {v!r}")
            if not 1 <= len(k) <= 200 or len(v) > 200:
                raise ValueError(f"label {k[:40]!r}: keys have 1 to 200 characters, values at most 200")
        self.server = server
        self.url = ws_url(server, "/workers/ws")
        self._token: TokenSource = token if token is not None else (os.environ.get("AURORA_TOKEN") or None)
        self.name = name
        self.labels = labels
        self.concurrency = concurrency
        self.drain_timeout = drain_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self._handlers: Dict[str, _Handler] = {}

        #: The server's id for the current connection (``remote-…``), or ``None`` while disconnected.
        self.worker_id: Optional[str] = None
        #: The last connection problem, as text (for logs and tests).
        self.last_error: Optional[str] = None
        #: The exception ``run`` ended with (a fatal close: 4400, 4401, 4403), if any.
        self.error: Optional[BaseException] = None

        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ws: Any = None
        self._running: Dict[str, _Attempt] = {}
        self._unacked: Dict[str, Dict[str, Any]] = {}
        self._stopping = False
        self._halted = False
        self._drain_deadline = 0.0
        self._stop_evt: Optional[asyncio.Event] = None
        self._halt_evt: Optional[asyncio.Event] = None
        self._connected = threading.Event()
        self._done = threading.Event()
        self._started = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pool: Optional[_Pool] = None
        self._server_error: Optional[str] = None
        self._outq: "Optional[asyncio.Queue[str]]" = None
        self._declared_metrics: Dict[str, Dict[str, Any]] = {}

    # -- handlers ---------------------------------------------------------------------------

    def handler(
        self,
        name: str,
        *,
        args: Sequence[str] = (),
        results: Sequence[str] = (),
        usage: Optional[str] = None,
        context: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: offers the function as handler ``name`` with the declared ``args`` and
        ``results`` types (e.g. ``["string", "int64"]``, ``["...float64"]``, ``["any"]``).

        The function gets plain Python values and returns ``None`` (no results), one value (one
        result) or a tuple (several). With ``context=True`` its first parameter is a ``Context``.
        ``async def`` functions run on the worker's event loop, others in its thread pool.
        ``usage`` defaults to the docstring's first line.
        """

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_handler(name, fn, args=args, results=results, usage=usage, context=context)
            return fn

        return deco

    def add_handler(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        args: Sequence[str] = (),
        results: Sequence[str] = (),
        usage: Optional[str] = None,
        context: bool = False,
    ) -> None:
        """Like the ``handler`` decorator, for a function defined elsewhere."""
        if self._loop is not None:
            raise RuntimeError("handlers must be added before the worker runs")
        if name in self._handlers:
            raise ValueError(f"handler {name!r} is already defined")
        if not callable(fn):
            raise TypeError(f"handler {name!r}: {fn!r} is not callable")
        self._handlers[name] = _Handler(name, fn, args, results, usage, context)

    # -- running ----------------------------------------------------------------------------

    def run(self) -> None:
        """Connects and runs tasks until SIGTERM or SIGINT (then drains: no new tasks, in-flight
        ones finish within ``drain_timeout``; a second signal stops at once). Reconnects with
        exponential backoff and jitter. Raises ``AuthenticationError`` (4401, with a fixed token),
        ``PermissionDeniedError`` (4403) or ``ProtocolError`` (4400) when the server refuses the
        worker for good."""
        asyncio.run(self.run_async(install_signal_handlers=threading.current_thread() is threading.main_thread()))

    def start(self) -> "Worker":
        """Runs the worker in a background thread (no signal handlers); ``stop()`` ends it."""
        if self._thread is not None:
            raise RuntimeError("the worker was already started")

        def main() -> None:
            try:
                asyncio.run(self.run_async(install_signal_handlers=False))
            except BaseException as e:  # noqa: BLE001 - kept in .error
                if self.error is None:
                    self.error = e
                log.debug("worker thread ended with %r", e)
            finally:
                self._started.set()
                self._done.set()

        self._thread = threading.Thread(target=main, name="aurora-worker", daemon=True)
        self._thread.start()
        self._started.wait(5)
        return self

    def stop(self, *, drain: bool = True, timeout: Optional[float] = None) -> bool:
        """Asks a running worker to stop (draining, unless ``drain=False``) and, if it was started
        with ``start()``, waits up to ``timeout`` seconds for it; returns whether it has ended.
        Safe to call from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._request_stop, not drain)
            except RuntimeError:
                pass
        if self._thread is None:
            return self._done.is_set()
        return self.join(timeout)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Waits until ``run`` has ended (the background thread of ``start``); returns whether it has."""
        return self._done.wait(timeout)

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Waits until the server welcomed this worker; ``False`` on timeout or if the worker ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._connected.is_set():
            if self._done.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._connected.wait(0.02)
        return True

    async def run_async(self, *, install_signal_handlers: bool = False) -> None:
        """``run`` for callers that have an event loop already."""
        if not self._handlers:
            raise ValueError("the worker has no handlers: add some with @worker.handler(...)")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_evt = asyncio.Event()
        self._halt_evt = asyncio.Event()
        self._pool = _Pool(self.concurrency)
        installed: List[int] = []
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._request_stop, False)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self._request_stop, False))
        self._started.set()
        try:
            await self._main()
        except _Fatal as f:
            self.error = f.error
            raise f.error from None
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            for att in list(self._running.values()):
                att.cancel("stopping")
            if self._running:
                log.warning(
                    "stopped with %d attempts unfinished (the server takes them over): %s",
                    len(self._running),
                    ", ".join(self._running),
                )
            if self._unacked:
                log.warning("stopped with %d outcomes not acknowledged by the server", len(self._unacked))
            self._pool.shutdown()
            self._connected.clear()
            self._done.set()

    # -- stop -------------------------------------------------------------------------------

    def _request_stop(self, immediately: bool = False) -> None:
        assert self._stop_evt is not None and self._halt_evt is not None
        if immediately or self._stopping:
            if not self._halted:
                log.info("stopping now")
            self._halted = True
            self._stopping = True
            self._stop_evt.set()
            self._halt_evt.set()
            return
        self._stopping = True
        self._drain_deadline = time.monotonic() + self.drain_timeout
        log.info("draining: no new tasks; %d running may finish within %.0f s", len(self._running), self.drain_timeout)
        self._stop_evt.set()

    def _drained(self) -> bool:
        return not self._running and not self._unacked

    def _should_exit(self) -> bool:
        if self._halted:
            return True
        if not self._stopping:
            return False
        return self._drained() or time.monotonic() >= self._drain_deadline

    # -- the connection loop ----------------------------------------------------------------

    async def _main(self) -> None:
        assert self._halt_evt is not None
        backoff = self.reconnect_min
        while not self._should_exit():
            welcomed = False
            try:
                welcomed = await self._session()
            except _Fatal:
                raise
            except (OSError, InvalidHandshake, asyncio.TimeoutError, TimeoutError, ConnectionClosed) as e:
                self.last_error = _describe(e)
                log.warning("connection to %s failed: %s", self.url, self.last_error)
            except Exception as e:  # noqa: BLE001 - keep the worker alive; log it
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("worker connection failed unexpectedly")
            if welcomed:
                backoff = self.reconnect_min
            if self._should_exit():
                break
            delay = backoff * random.uniform(0.5, 1.0)
            backoff = min(backoff * 2, self.reconnect_max)
            log.info("reconnecting in %.1f s", delay)
            wake = self._halt_evt if self._stopping else self._stop_evt
            assert wake is not None
            try:
                await asyncio.wait_for(wake.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def _get_token(self) -> Optional[str]:
        t = self._token
        if callable(t):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, t)
        return t

    async def _session(self) -> bool:
        """One connection: hello, welcome, then messages until it closes. Returns whether the
        server welcomed the worker."""
        token = await self._get_token()
        hello: Dict[str, Any] = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "worker": {
                "labels": self.labels,
                "concurrency": self.concurrency,
                "handlers": [h.declaration() for h in self._handlers.values()],
            },
        }
        if token:
            hello["token"] = token
        if self.name:
            hello["worker"]["name"] = self.name
        self._server_error = None
        welcomed = False
        ws = await ws_connect(
            self.url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            open_timeout=self.connect_timeout,
            ping_interval=None,
            close_timeout=2,
            max_size=MAX_MESSAGE_BYTES,
        )
        try:
            await ws.send(_dumps(hello))
            first = _loads(await asyncio.wait_for(ws.recv(), self.connect_timeout))
            if first.get("type") == "error":
                self._server_error = str(first.get("message", ""))
                await asyncio.wait_for(ws.recv(), 5)  # the close follows
            if first.get("type") != "welcome":
                self.last_error = f"expected welcome, got {str(first)[:200]}"
                await ws.close(1002, "expected welcome")
                return False
            welcomed = True
            self.worker_id = str(first.get("worker_id") or "")
            self._declared_metrics = {
                str(m.get("name")): m for m in (first.get("metrics") or []) if isinstance(m, dict) and m.get("name")
            }
            heartbeat = max(0.05, float(first.get("heartbeat_ms") or 5000) / 1000.0)
            self._ws = ws
            self._outq = asyncio.Queue()
            self._connected.set()
            self.last_error = None
            log.info("connected to %s as %s (%d handlers)", self.url, self.worker_id, len(self._handlers))
            pending = list(self._unacked.values())  # outcomes of earlier connections, resent first
            for out in pending:
                self._send(out)
            if pending:
                log.info("resending %d unacknowledged outcomes", len(pending))
            helpers = [
                asyncio.ensure_future(self._writer(ws, self._outq)),
                asyncio.ensure_future(self._heartbeats(heartbeat)),
                asyncio.ensure_future(self._drain_watch(ws)),
            ]
            try:
                while True:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 3 * heartbeat)
                    except asyncio.TimeoutError:
                        self.last_error = f"no message from the server for {3 * heartbeat:.1f} s"
                        log.warning("%s; reconnecting", self.last_error)
                        await ws.close(1001, "server silent")
                        return True
                    self._on_message(_loads(raw))
            finally:
                for h in helpers:
                    h.cancel()
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else 1006
            reason = self._server_error or (e.rcvd.reason if e.rcvd is not None else "") or ""
            if code in (1000, 1001) and self._should_exit():
                return welcomed
            self._on_close(code, reason)
            self.last_error = f"closed by the server: {code} {reason}".strip()
            log.warning("connection %s %s", self.worker_id or "(not welcomed)", self.last_error)
            return welcomed
        finally:
            if self._ws is ws:
                self._ws = None
                self._outq = None
            self._connected.clear()
            if welcomed:
                self._on_disconnect()
            await ws.close()

    def _on_close(self, code: int, reason: str) -> None:
        if code == 4403:
            raise _Fatal(PermissionDeniedError(reason or "this token's role may not run workers", close_code=code))
        if code == 4401 and not callable(self._token):
            raise _Fatal(AuthenticationError(reason or "the token was refused", close_code=code))
        if code == 4400:
            raise _Fatal(ProtocolError(reason or "the server refused a message", close_code=code))

    def _on_disconnect(self) -> None:
        self.worker_id = None
        for att in list(self._running.values()):
            if not att.cancel_requested:
                att.ctx.logger.info("connection lost: the server gives this task to another attempt")
            att.cancel("disconnected")

    async def _writer(self, ws: Any, q: "asyncio.Queue[str]") -> None:
        """The connection's only sender: messages leave in the order they were queued."""
        try:
            while True:
                await ws.send(await q.get())
        except ConnectionClosed:
            pass  # outcomes stay in _unacked and are resent after the reconnect

    async def _heartbeats(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self._send({"type": "heartbeat"})

    async def _drain_watch(self, ws: Any) -> None:
        assert self._stop_evt is not None
        try:
            await self._stop_evt.wait()
            if not self._halted:
                self._send({"type": "drain"})
            while True:
                if self._halted:
                    await ws.close(1001, "stopping")
                    return
                if self._drained():
                    log.info("drained")
                    await ws.close(1000, "drained")
                    return
                if time.monotonic() >= self._drain_deadline:
                    log.warning("drain timeout: %d attempts still running", len(self._running))
                    await ws.close(1001, "drain timeout")
                    return
                await asyncio.sleep(0.05)
        except ConnectionClosed:
            pass

    def _send_threadsafe(self, msg: Dict[str, Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._send, msg)
        except RuntimeError:
            pass

    def _send(self, msg: Dict[str, Any]) -> None:
        """Queues a message on the current connection (dropped while there is none)."""
        if self._outq is not None:
            self._outq.put_nowait(_dumps(msg))

    # -- messages ---------------------------------------------------------------------------

    def _on_message(self, m: Dict[str, Any]) -> None:
        kind = m.get("type")
        if kind == "task":
            self._on_task(m)
        elif kind == "cancel":
            att = self._running.get(str(m.get("attempt_id")))
            if att is not None:
                reason = m.get("reason")
                reason = reason if reason in ("cancelled", "timed_out") else "cancelled"
                att.ctx.logger.info("server cancelled the attempt: %s", reason)
                att.cancel(reason)
        elif kind == "ack":
            aid = str(m.get("attempt_id"))
            if self._unacked.pop(aid, None) is None:
                return
            status, message = m.get("status"), m.get("message")
            if status == "recorded":
                log.debug("outcome of %s recorded", aid)
            elif status == "superseded":
                log.info("outcome of %s superseded: %s", aid, message or "the task moved on")
            elif status == "rejected":
                log.warning("outcome of %s rejected: %s", aid, message)
            else:
                log.warning("ack of %s with unknown status %r", aid, status)
        elif kind == "heartbeat":
            pass
        elif kind == "error":
            self._server_error = str(m.get("message", ""))
            log.error("server error %s: %s", m.get("code"), self._server_error)
        else:
            log.debug("ignoring a server message of type %r", kind)

    def _on_task(self, m: Dict[str, Any]) -> None:
        aid = m.get("attempt_id")
        if not isinstance(aid, str):
            log.warning("ignoring a task without attempt_id: %s", str(m)[:200])
            return
        if aid in self._running:
            log.warning("ignoring a repeated task %s", aid)
            return
        handler = self._handlers.get(str(m.get("handler")))
        att = _Attempt(m, Context(self, m), handler)
        self._running[aid] = att
        att.task = asyncio.ensure_future(self._run_attempt(att))

    async def _run_attempt(self, att: _Attempt) -> None:
        ctx, h = att.ctx, att.handler
        aid = ctx.attempt_id
        out: Optional[Dict[str, Any]] = None
        try:
            if h is None:
                out = _failure(aid, f"this worker has no handler {ctx.handler!r}", retry=False)
                return
            ctx.logger.debug("running %s attempt %d", h.name, ctx.attempt)
            try:
                args = h.args.convert_args(att.msg.get("args") or [])
            except ConversionError as e:
                out = _failure(aid, f"{h.name}: {e}", retry=False)
                return
            if h.context:
                args.insert(0, ctx)
            try:
                if h.is_async:
                    ret = await h.fn(*args)
                else:
                    assert self._pool is not None
                    ret = await self._pool.run(h.fn, args)
                    if inspect.isawaitable(ret):
                        ret = await ret
            except asyncio.CancelledError:
                if not att.cancel_requested:
                    raise
                out = _failure(aid, f"cancelled ({ctx.cancel_reason})", retry=False)
                return
            except Retry as e:
                out = _failure(aid, str(e) or "retry requested", retry=True)
                return
            except Fail as e:
                out = _failure(aid, str(e) or "failed", retry=False)
                return
            except BaseException as e:  # noqa: BLE001 - any other exception (SystemExit too) fails the attempt
                out = _failure(aid, _message(e), retry=True, traceback_text=_traceback(e))
                return
            try:
                results = h.results.convert_results(ret)
            except ConversionError as e:
                out = _failure(aid, f"{h.name}: {e}", retry=False)
                return
            out = {"type": "result", "attempt_id": aid, "results": results}
        finally:
            if att.progress_timer is not None:
                att.progress_timer.cancel()
            if out is not None:
                self._flush_progress(att)  # the last progress goes before the outcome
            self._running.pop(aid, None)
            if out is not None:
                kind = "succeeded" if out["type"] == "result" else f"failed: {out['error']}"
                ctx.logger.info("attempt %d %s", ctx.attempt, kind)
                self._unacked[aid] = out
                self._send(out)

    # -- progress ---------------------------------------------------------------------------

    def _progress_threadsafe(self, aid: str, fraction: float, message: Optional[str]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._progress, aid, fraction, message)
        except RuntimeError:
            pass

    def _progress(self, aid: str, fraction: float, message: Optional[str]) -> None:
        att = self._running.get(aid)
        if att is None or att.cancel_requested:
            return
        msg: Dict[str, Any] = {"type": "progress", "attempt_id": aid, "fraction": fraction}
        if message is not None:
            msg["message"] = message[:1000]
        att.progress_held = msg
        now = time.monotonic()
        wait = att.progress_last + _PROGRESS_INTERVAL - now
        if wait <= 0:
            self._flush_progress(att)
        elif att.progress_timer is None:
            assert self._loop is not None
            att.progress_timer = self._loop.call_later(wait, self._flush_progress, att)

    def _flush_progress(self, att: _Attempt) -> None:
        att.progress_timer = None
        msg, att.progress_held = att.progress_held, None
        if msg is None:
            return
        att.progress_last = time.monotonic()
        self._send(msg)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _traceback(e: BaseException) -> str:
    """The exception's traceback from the handler's frame on (the SDK's own frames left out)."""
    tb = e.__traceback__
    while tb is not None and os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == _PACKAGE_DIR:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def _message(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _failure(aid: str, error: str, *, retry: bool, traceback_text: Optional[str] = None) -> Dict[str, Any]:
    m: Dict[str, Any] = {"type": "failure", "attempt_id": aid, "error": error[:4096] or "failed", "retry": retry}
    if traceback_text:
        m["traceback"] = traceback_text[-16384:]
    return m


def _dumps(m: Dict[str, Any]) -> str:
    return json.dumps(m, separators=(",", ":"), allow_nan=False)


def _loads(raw: Union[str, bytes]) -> Dict[str, Any]:
    try:
        m = json.loads(raw)
    except ValueError:
        log.warning("ignoring a server message that is not JSON: %r", raw[:200])
        return {}
    return m if isinstance(m, dict) else {}


def _describe(e: BaseException) -> str:
    if isinstance(e, InvalidStatus):
        r = e.response
        return f"the server refused the WebSocket upgrade: HTTP {r.status_code} (is /workers/ws served there?)"
    if isinstance(e, ConnectionClosed):
        rc = e.rcvd
        return f"closed: {rc.code} {rc.reason}" if rc is not None else "connection dropped"
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    return f"{type(e).__name__}: {e}"
