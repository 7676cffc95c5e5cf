"""One SQLAlchemy Core statement for both databases.

A hot read or write is written once, as a Core statement with named ``bindparam``s. On SQLite
it runs through SQLAlchemy; on PostgreSQL the very same statement, compiled once for asyncpg,
goes straight to the driver (``core.db.driver_connection``: SQLAlchemy's own work per
statement costs several times the round trip). The rule a statement applies (which rows,
which columns) is therefore written in one place, whichever database runs it.

``insert_for`` is the one place that picks a dialect's INSERT construct, for the clauses
SQLAlchemy spells per dialect (``ON CONFLICT``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter

from core.db import dialect_of, driver_connection, driver_errors

_ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]


def insert_for(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The INSERT construct of the session's database, for ``on_conflict_do_*``: both
    dialects' constructs take the same arguments for the clauses used here."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Statement:
    """A Core statement whose parameters are all named ``bindparam``s (or constants), run
    through SQLAlchemy on SQLite and as its compiled PostgreSQL text on asyncpg. Rows come back
    as mappings of column name to value, in the types each path gives (the driver's own on
    PostgreSQL: its statements read what the columns hold, without result processing)."""

    def __init__(self, statement: Executable) -> None:
        compiled = statement.compile(dialect=_ASYNCPG)  # type: ignore[attr-defined]
        by_name: dict[str, BindParameter[Any]] = {
            name: bind for bind, name in compiled.bind_names.items()
        }
        order = tuple(compiled.positiontup or ())
        binds = [by_name[name] for name in order]
        if any(bind.expanding for bind in binds):
            raise TypeError("Statement: expanding (IN) parameters are not supported")
        self.statement = statement
        self.sql: str = compiled.string
        self._keys = tuple(bind.key for bind in binds)
        self._constants = {bind.key: bind.value for bind in binds}
        self._processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            bind.type.dialect_impl(_ASYNCPG).bind_processor(_ASYNCPG) for bind in binds
        )
        self._plain = all(p is None for p in self._processors) and all(
            bind.value is None and bind.callable is None for bind in binds
        )

    def _args(self, params: Mapping[str, Any]) -> list[Any]:
        if self._plain:  # the usual case: every parameter given, none with a bind processor
            return [params[k] for k in self._keys]
        constants = self._constants
        values = (params[k] if k in params else constants[k] for k in self._keys)
        return [
            value if process is None else process(value)
            for process, value in zip(self._processors, values, strict=True)
        ]

    async def fetch_row(
        self, session: AsyncSession, params: Mapping[str, Any], *, begin: bool = True
    ) -> Mapping[str, Any] | None:
        """The first row, or None. ``begin`` as in ``core.db.driver_connection``: False lets a
        lone read on PostgreSQL run in a transaction of its own when none has begun."""
        driver = await driver_connection(session, begin=begin)
        if driver is None:
            found = (await session.execute(self.statement, dict(params))).mappings().first()
            return None if found is None else dict(found)
        async with driver_errors(session):
            row: Mapping[str, Any] | None = await driver.fetchrow(self.sql, *self._args(params))
        return row
