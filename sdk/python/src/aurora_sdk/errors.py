"""Errors raised by the SDK, and the two exceptions a handler raises to steer its attempt."""

from __future__ import annotations

from typing import Any, Dict, List, Optional


class AuroraError(Exception):
    """An error from Aurora or from talking to it.

    ``code`` is the GraphQL ``extensions.code`` (``BAD_USER_INPUT``, ``UNAUTHENTICATED``,
    ``FORBIDDEN``, ``NOT_FOUND``, ``UNAVAILABLE``, ``RATE_LIMITED``, ``STORAGE_FAILURE``), or one
    of the SDK's own: ``TRANSPORT`` (the server could not be reached or answered outside GraphQL),
    ``TIMEOUT`` (a wait ran out), ``PROTOCOL`` (the worker protocol was violated).
    ``close_code`` is the WebSocket close code when the error came from a closed socket.
    """

    default_code = "INTERNAL"

    def __init__(
        self,
        message: str,
        code: Optional[str] = None,
        *,
        errors: Optional[List[Dict[str, Any]]] = None,
        close_code: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.errors: List[Dict[str, Any]] = list(errors or [])
        self.close_code = close_code

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class BadUserInputError(AuroraError):
    """The request was refused as invalid (``BAD_USER_INPUT``), e.g. a graph that does not validate."""

    default_code = "BAD_USER_INPUT"


class AuthenticationError(AuroraError):
    """No valid token, or a wrong password (``UNAUTHENTICATED``; WebSocket close 4401)."""

    default_code = "UNAUTHENTICATED"


class PermissionDeniedError(AuroraError):
    """The token's role may not do this (``FORBIDDEN``; WebSocket close 4403)."""

    default_code = "FORBIDDEN"


class NotFoundError(AuroraError):
    """No such graph or task (``NOT_FOUND``)."""

    default_code = "NOT_FOUND"


class UnavailableError(AuroraError):
    """A backend Aurora needs is unavailable right now (``UNAVAILABLE``); try again later."""

    default_code = "UNAVAILABLE"


class RateLimitedError(AuroraError):
    """Too many requests, e.g. logins (``RATE_LIMITED``)."""

    default_code = "RATE_LIMITED"


class TransportError(AuroraError):
    """The server could not be reached, or answered with something that is not GraphQL."""

    default_code = "TRANSPORT"


class WaitTimeout(AuroraError, TimeoutError):
    """``Client.wait`` or ``Client.watch`` ran out of time before the run ended."""

    default_code = "TIMEOUT"


class ProtocolError(AuroraError):
    """The worker protocol was violated (WebSocket close 4400): the reason names the problem."""

    default_code = "PROTOCOL"


_BY_CODE = {
    cls.default_code: cls
    for cls in (
        BadUserInputError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        UnavailableError,
        RateLimitedError,
    )
}


def error_for(
    message: str,
    code: Optional[str],
    *,
    errors: Optional[List[Dict[str, Any]]] = None,
    close_code: Optional[int] = None,
) -> AuroraError:
    """The ``AuroraError`` subclass for a GraphQL error code (``AuroraError`` for other codes)."""
    cls = _BY_CODE.get(code or "", AuroraError)
    return cls(message, code, errors=errors, close_code=close_code)


class MetricError(ValueError):
    """A metric update that does not fit the server's ``[[metrics]]`` declarations (an undeclared
    name, other labels, ``set`` on a counter, a value that is not a finite number)."""


class Retry(Exception):
    """Raise in a handler to fail this attempt and retry it under the task's retry policy.

    (Any other exception does the same; ``Retry`` just says so without a traceback.)
    """


class Fail(Exception):
    """Raise in a handler to fail the task now, whatever retries it has left."""
