"""One linear migration history, reversible, matching the models exactly."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

import audit.models  # noqa: F401
import migrations
import registry.models  # noqa: F401
from core.db import Database
from core.models import metadata


def test_history_is_one_line() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for revision in script.walk_revisions():
        assert not revision.is_merge_point
        assert not revision.is_branch_point


async def test_downgrade_to_base_and_back(database_url: str, database: Database) -> None:
    migrations.downgrade(database_url, "base")
    migrations.upgrade(database_url, "head")
    async with database.engine.connect() as conn:
        head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    script = ScriptDirectory.from_config(migrations.alembic_config(database_url))
    assert head == script.get_current_head()


async def test_migrations_match_the_models(database: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with database.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_0009_keeps_imported_records_history_both_ways(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    """Going back below 0009 writes each imported record's version 1 as a row again; an import
    run cannot be changed or deleted."""
    from registry.bulk.service import import_file
    from tests.registry.test_import import ACTOR, person, write_csv

    await import_file(database, write_csv(tmp_path / "a.csv", [person(i) for i in range(3)]),
                      actor=ACTOR)  # fmt: skip
    for statement in ("UPDATE import_run SET actor_id = 'someone else'", "DELETE FROM import_run"):
        with pytest.raises(DBAPIError):
            async with database.unit_of_work() as session:
                await session.execute(text(statement))
    await database.engine.dispose()
    migrations.downgrade(database_url, "0008")
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT v.version, v.kind, v.actor_id, v.legal_basis, v.previous, "
                    "v.valid_from = c.created_at AS at_creation "
                    "FROM citizen_version v JOIN citizen c USING (id_number)"
                )
            )
        ).all()
    version_1 = (1, "import", ACTOR.actor_id, "bulk import", None, True)
    assert [tuple(r) for r in rows] == [version_1] * 3
    await database.engine.dispose()
    migrations.upgrade(database_url, "head")
