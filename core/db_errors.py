"""Which database errors mean "not there right now" (a 503) rather than "the request was wrong"."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# What a statement sent straight to asyncpg may raise: PostgreSQL's errors, the client's own
# (InternalClientError: a protocol state it did not expect, as when the server crashes in the
# middle of a statement), a lost socket, a client-side timeout.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)

# Errors that mean "the database is not there right now" rather than "the request was wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# asyncpg.InterfaceErrors that are the client refusing what it was given (an argument it cannot
# encode, an option or feature it does not support): a fault of the request, not an outage.
_CLIENT_REFUSALS: tuple[type[BaseException], ...] = (
    # _base.DataError (not asyncpg.DataError, which is SQLSTATE class 22, a server error).
    asyncpg.exceptions._base.DataError,
    asyncpg.exceptions.ClientConfigurationError,
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.UnsupportedServerFeatureError,
)

# SQLSTATEs (PostgreSQL Appendix A) of a server that cannot serve now, whatever was asked:
# class 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57 operator intervention (starting up, shutting down, crash shutdown, statement_timeout),
# and 25006, a read-only transaction: the server is a standby, the primary moved (failover).
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
UNAVAILABLE_SQLSTATES = frozenset({"25006"})
QUERY_CANCELED = "57014"  # statement_timeout: the connection itself is still good


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database is unreachable, not ready or timed out: the one
    classification of database errors (SQLAlchemy's, asyncpg's, the socket's). SQLAlchemy's
    errors, and its emulation of the DBAPI's over asyncpg, are judged by the driver error
    they wrap (``orig``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _CLIENT_REFUSALS):
            return False
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, UNAVAILABLE_ERRORS):
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and (
            state[:2] in UNAVAILABLE_SQLSTATE_CLASSES or state in UNAVAILABLE_SQLSTATES
        ):
            return True
        current = getattr(current, "orig", None)
    return False
