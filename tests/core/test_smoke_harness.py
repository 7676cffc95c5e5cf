from alembic.script import ScriptDirectory
from sqlalchemy import text

import migrations
from core.db import Database


async def test_database_is_migrated_to_head(database: Database, backend: str) -> None:
    async with database.unit_of_work() as session:
        version = (
            await session.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one()
    head = ScriptDirectory.from_config(migrations.alembic_config("sqlite://")).get_current_head()
    assert version == head
    assert database.dialect == backend
