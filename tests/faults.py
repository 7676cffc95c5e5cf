"""Faults the tests inject into their own database, as an outage or an operator would."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.pgcluster import parent_of


async def fail_audit_inserts(database_url: str, *, subject: str | None = None) -> None:
    """Make every INSERT into audit_event fail (or only those about ``subject``)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                when = f"WHEN (NEW.subject = '{subject}') " if subject else ""
                await conn.execute(
                    text(
                        "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$ BEGIN RAISE EXCEPTION 'audit store is failing'; END $$"
                    )
                )
                await conn.execute(
                    text(
                        "CREATE TRIGGER failing BEFORE INSERT ON audit_event FOR EACH ROW "
                        f"{when}EXECUTE FUNCTION refuse_insert()"
                    )
                )
            else:
                when = f"WHEN NEW.subject = '{subject}' " if subject else ""
                await conn.execute(
                    text(
                        f"CREATE TRIGGER failing BEFORE INSERT ON audit_event {when}"
                        "BEGIN SELECT RAISE(ABORT, 'audit store is failing'); END"
                    )
                )
    finally:
        await engine.dispose()


async def postmaster_of(database_url: str) -> int:
    """The pid of the PostgreSQL server behind ``database_url``, to pause it (pgcluster's
    ``paused``); the test is skipped when that server does not run on this host."""
    dsn = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        # Read while the backend lives: once the connection closes, its process is gone.
        postmaster = parent_of(int(await connection.fetchval("SELECT pg_backend_pid()")))
    finally:
        await connection.close()
    if postmaster is None:
        pytest.skip("the PostgreSQL server does not run on this host: it cannot be paused")
    return postmaster


async def heal_audit_inserts(database_url: str) -> None:
    """Undo ``fail_audit_inserts``: the audit store works again."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            on = " ON audit_event" if conn.dialect.name == "postgresql" else ""
            await conn.execute(text("DROP TRIGGER failing" + on))
    finally:
        await engine.dispose()
