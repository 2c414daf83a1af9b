"""Server addresses: ``http://host:port`` (or ``host:port``) to the API's and sockets' URLs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_SUFFIXES = ("/graphql/ws", "/graphql", "/workers/ws")


def _base(server: str):
    if "://" not in server:
        server = "http://" + server
    u = urlsplit(server)
    if u.scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"server {server!r}: the scheme must be http, https, ws or wss")
    if not u.netloc:
        raise ValueError(f"server {server!r} has no host")
    path = u.path.rstrip("/")
    for s in _SUFFIXES:
        if path.endswith(s):
            path = path[: -len(s)]
            break
    secure = u.scheme in ("https", "wss")
    return secure, u.netloc, path


def http_url(server: str, path: str) -> str:
    secure, netloc, base = _base(server)
    return urlunsplit(("https" if secure else "http", netloc, base + path, "", ""))


def ws_url(server: str, path: str) -> str:
    secure, netloc, base = _base(server)
    return urlunsplit(("wss" if secure else "ws", netloc, base + path, "", ""))
