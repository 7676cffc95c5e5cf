"""Faults the tests inject into their own database, as an outage or an operator would."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


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


async def heal_audit_inserts(database_url: str) -> None:
    """Undo ``fail_audit_inserts``: the audit store works again."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            on = " ON audit_event" if conn.dialect.name == "postgresql" else ""
            await conn.execute(text("DROP TRIGGER failing" + on))
    finally:
        await engine.dispose()
