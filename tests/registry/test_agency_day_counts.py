"""The console's accesses per agency per day (console_service.agency_daily_counts) is written per
database (SQLite date arithmetic on stored text, PostgreSQL time zone arithmetic). Both give
the Python rule's answer: an event counts from ``since`` on (inclusive, to the millisecond), on
its day in Vietnam time, for instants on each side of Vietnam's midnight."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from core.clock import VIETNAM_TIME
from core.db import Database, dialect_of
from registry.portal import console_service

SINCE = datetime(2026, 3, 9, 16, 59, 59, 999_000, tzinfo=UTC)
MS = timedelta(milliseconds=1)
INSTANTS = [
    SINCE - MS,  # before since: not counted
    SINCE,  # 23:59:59.999 on 9 March in Hà Nội
    SINCE + MS,  # midnight of 10 March in Hà Nội
    datetime(2026, 3, 10, 0, 0, tzinfo=UTC),  # 07:00 on 10 March
    datetime(2026, 3, 10, 16, 59, 59, 999_000, tzinfo=UTC),  # last instant of 10 March
    datetime(2026, 3, 10, 17, 0, tzinfo=UTC),  # 11 March
    datetime(2026, 3, 31, 23, 59, 59, 999_000, tzinfo=UTC),  # 1 April (a month's edge)
    datetime(2026, 12, 31, 16, 59, 59, 999_000, tzinfo=UTC),  # 31 December
    datetime(2026, 12, 31, 17, 0, tzinfo=UTC),  # 1 January 2027
]


async def test_days_and_the_since_bound_follow_the_python_rule(database: Database) -> None:
    insert = text(
        "INSERT INTO audit_event (event_uid, occurred_at, actor_type, actor_id, action, "
        "fields, outcome) VALUES (:uid, :at, 'agency', 'tax-7', 'citizen.lookup', '[]', "
        "'granted')"
    )
    async with database.unit_of_work() as session:
        sqlite = dialect_of(session) == "sqlite"
        for instant in INSTANTS:
            # SQLite keeps the instant as the migration's default writes it: UTC text, ms.
            at = instant.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if sqlite else instant
            await session.execute(insert, {"uid": str(uuid.uuid4()), "at": at})
    async with database.unit_of_work() as session:
        counts = await console_service.agency_daily_counts(session, since=SINCE)
    expected = Counter(
        instant.astimezone(VIETNAM_TIME).date().isoformat()
        for instant in INSTANTS
        if instant >= SINCE
    )
    got = {c.day: c.count for c in counts if c.actor_id == "tax-7"}
    assert got == dict(expected)
