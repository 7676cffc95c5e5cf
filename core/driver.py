"""Statements sent straight to asyncpg under a unit of work, for the hottest paths: the
session's driver connection, its errors mapped as SQLAlchemy would, and one-row INSERTs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db_errors import DRIVER_ERRORS, QUERY_CANCELED, is_unavailable
from core.errors import DatabaseUnavailable


async def driver_connection(session: AsyncSession, *, begin: bool = True) -> Any | None:
    """The asyncpg connection under this unit of work, or None on SQLite. For the few
    statements of the hottest paths (the agency API, audit proofs), where SQLAlchemy's own
    work per statement costs several times the round trip: the repository sends their SQL
    straight to the driver (asyncpg prepares and caches each statement per connection).
    Errors must go through ``driver_errors``.

    ``begin``: start the unit of work's transaction now, so that the statements belong to it
    (SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement). A
    read-only request that sends one statement may skip it (``begin=False``): its statement
    then runs in a transaction of its own, without the BEGIN and COMMIT round trips, unless
    the unit of work has begun already.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return None
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if begin and adapted._transaction is None:  # noqa: SLF001
        await adapted._start_transaction()  # noqa: SLF001
    return adapted.driver_connection


@asynccontextmanager
async def driver_errors(session: AsyncSession) -> AsyncIterator[None]:
    """Map the driver's errors as SQLAlchemy would: a database that is unreachable, not ready
    or too slow (``is_unavailable``) is DatabaseUnavailable (503), and unless only the
    statement timed out, the connection is not reused. Other errors propagate unchanged."""
    try:
        yield
    except asyncio.CancelledError:
        # The request's deadline, mid-statement: drop the connection without waiting for the
        # server (a ROLLBACK on it would wait for the cancelled statement first).
        await cut(session)
        raise
    except DRIVER_ERRORS as exc:
        if not is_unavailable(exc):
            raise
        if getattr(exc, "sqlstate", None) == QUERY_CANCELED:
            raise DatabaseUnavailable("The database did not answer in time.") from exc
        connection = await session.connection()
        await connection.invalidate(exc)
        raise DatabaseUnavailable("The database is not reachable.") from exc


@dataclass(frozen=True)
class _RowInsert:
    sql: str
    binds: tuple[Callable[[Any], Any] | None, ...]


ROW_INSERTS = "row_inserts"  # the key of a session's RowInserts in its ``info``


class RowInserts:
    """The statements ``insert_row`` sends straight to the driver, by table and column names,
    each with its columns' bind processors. Made by each Database (its sessions carry it) and
    lives as long as it; one entry per table and set of columns the code inserts."""

    def __init__(self) -> None:
        self._prepared: dict[tuple[str, tuple[str, ...]], _RowInsert] = {}

    def prepared(self, table: Table, names: tuple[str, ...], dialect: Dialect) -> _RowInsert:
        """The INSERT of these columns of ``table`` (made on first use)."""
        key = (table.name, names)
        found = self._prepared.get(key)
        if found is None:
            columns = [table.c[name] for name in names]
            found = _RowInsert(
                sql=f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - metadata names
                f"VALUES ({', '.join(f'${n}' for n in range(1, len(names) + 1))})",
                binds=tuple(column.type.bind_processor(dialect) for column in columns),
            )
            self._prepared[key] = found
        return found


def _with_python_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    # What SQLAlchemy would add to the INSERT: the columns' scalar Python-side defaults.
    missing = [c for c in table.columns if c.name not in values and c.default is not None]
    if not missing:
        return values
    out = dict(values)
    for column in missing:
        default: Any = column.default
        if not default.is_scalar:
            raise TypeError(f"insert_row: give {table.name}.{column.name} (a computed default)")
        out[column.name] = default.arg
    return out


async def insert_row(session: AsyncSession, table: Table, values: dict[str, Any]) -> None:
    """INSERT one row of ``table`` in the unit of work: these column values, the others their
    defaults. On PostgreSQL the statement goes straight to the driver, the values bound by the
    columns' own bind processors (UTC timestamps included), and a refused row raises
    SQLAlchemy's error as ``session.execute`` would (an IntegrityError is a 409): a fraction of
    the CPU of an INSERT through SQLAlchemy, ORM or Core (docs/performance.md,
    "Direct INSERT"). Pending ORM changes are flushed first, so rows go in the
    order the code makes them."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    driver = await driver_connection(session)
    if driver is None:
        await session.execute(insert(table), [values])
        return
    values = _with_python_defaults(table, values)
    names = tuple(values)
    inserts: RowInserts = session.info[ROW_INSERTS]
    prepared = inserts.prepared(table, names, session.get_bind().dialect)
    args = [
        value if bind is None else bind(value)
        for bind, value in zip(prepared.binds, values.values(), strict=True)
    ]
    async with driver_errors(session):
        try:
            await driver.execute(prepared.sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(prepared.sql, args, exc) from exc
        except asyncpg.PostgresError as exc:
            if is_unavailable(exc):
                raise  # driver_errors: the database is gone or not ready
            raise DBAPIError(prepared.sql, args, exc) from exc


def terminate(driver: Any) -> None:
    """Close an asyncpg connection at once, without waiting for the server."""
    if driver is not None and not driver.is_closed():
        driver.terminate()


async def cut(session: AsyncSession) -> None:
    """Close the session's connection at once and never hand it out again."""
    connection = await session.connection()
    terminate((await connection.get_raw_connection()).driver_connection)
    await connection.invalidate()
