"""One linear migration history, reversible, matching the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

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
