"""Aurora's Python SDK: ``Client`` submits and watches task graphs over GraphQL; ``Worker`` runs
Python functions as Aurora handlers over the remote worker protocol (``docs/worker-protocol.md``).
"""

from .client import Client
from .errors import (
    AuroraError,
    AuthenticationError,
    BadUserInputError,
    Fail,
    MetricError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    Retry,
    TransportError,
    UnavailableError,
    WaitTimeout,
)
from .graph import Graph
from .values import ConversionError, Typed, plain
from .worker import Context, Worker

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Worker",
    "Context",
    "Graph",
    "Typed",
    "plain",
    "Retry",
    "Fail",
    "AuroraError",
    "AuthenticationError",
    "BadUserInputError",
    "ConversionError",
    "MetricError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "TransportError",
    "UnavailableError",
    "WaitTimeout",
]
