from sqlalchemy import text

from core.db import Database


async def test_database_is_migrated_and_empty(database: Database, backend: str) -> None:
    async with database.unit_of_work() as session:
        version = (
            await session.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one()
    assert version == "0001"
    assert database.dialect == backend
