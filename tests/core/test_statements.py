"""core.statements.Statement: one Core statement, the same rows on both databases (through
SQLAlchemy on SQLite, its compiled text through the driver on PostgreSQL), constants and typed
parameters bound as SQLAlchemy binds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from core.db import Database
from core.models import UTCDateTime
from core.statements import Statement, insert_for
from identity.models import LoginThrottle

THROTTLE: Table = LoginThrottle.__table__  # type: ignore[assignment]
NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)

# A typed parameter (its bind processor makes the instant naive UTC on SQLite) and a constant.
RECENT = Statement(
    select(THROTTLE.c.key, THROTTLE.c.failures).where(
        THROTTLE.c.window_start >= bindparam("since", type_=UTCDateTime()),
        THROTTLE.c.failures >= 2,
        THROTTLE.c.key == bindparam("key"),
    )
)


async def test_a_statement_reads_the_same_rows_on_both_databases(database: Database) -> None:
    async with database.unit_of_work() as session:
        for key, failures in (("a", 3), ("b", 1)):
            await session.execute(
                insert_for(session, THROTTLE).values(key=key, window_start=NOW, failures=failures)
            )
    async with database.unit_of_work() as session:
        found = await RECENT.fetch_row(session, {"key": "a", "since": NOW - timedelta(1)})
        too_few = await RECENT.fetch_row(session, {"key": "b", "since": NOW - timedelta(1)})
        too_old = await RECENT.fetch_row(session, {"key": "a", "since": NOW + timedelta(1)})
    assert found is not None and dict(found) == {"key": "a", "failures": 3}
    assert too_few is None and too_old is None


async def test_insert_for_is_the_sessions_dialect(database: Database) -> None:
    async with database.unit_of_work() as session:
        made = insert_for(session, THROTTLE)
        expected = postgresql.Insert if database.dialect == "postgresql" else sqlite.Insert
    assert isinstance(made, expected)


def test_an_expanding_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="expanding"):
        Statement(
            select(THROTTLE.c.key).where(THROTTLE.c.key.in_(bindparam("keys", expanding=True)))
        )
