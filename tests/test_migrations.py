"""One linear migration history, reversible, matching the models exactly."""

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

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
        # Alembic's comparison does not look at collations; this does.
        assert await _collation_drift(conn) == []


async def _collations(conn: AsyncConnection) -> dict[tuple[str, str], str | None]:
    """Each (table, column)'s collation on PostgreSQL (None: the database's own)."""
    rows = await conn.execute(
        text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
    )
    return {(r.table_name, r.column_name): r.collation_name for r in rows}


async def _collation_drift(conn: AsyncConnection) -> list[tuple[str, str]]:
    """The (table, column) pairs whose collation on PostgreSQL is not the models' (columns a
    revision below head does not have yet are left out)."""
    if conn.dialect.name != "postgresql":
        return []
    found = await _collations(conn)
    drift = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            wanted = getattr(column.type.dialect_impl(conn.dialect), "collation", None)
            key = (table.name, column.name)
            if key in found and found[key] != wanted:
                drift.append((table.name, column.name))
    return sorted(drift)


async def test_0009_keeps_imported_records_history_both_ways(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    """Going back below 0009 writes each imported record's version 1 as a row again; an import
    run cannot be changed or deleted."""
    from registry.bulk.service import import_file
    from tests.registry.import_rows import ACTOR, person, write_csv

    await import_file(
        database, write_csv(tmp_path / "a.csv", [person(i) for i in range(3)]), actor=ACTOR
    )
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


@pytest.mark.postgresql_only
async def test_0010_codes_compare_bytes_and_back(database_url: str, database: Database) -> None:
    """Every column holding an ID number, alias or folded name is COLLATE "C" at head, so the
    ones that are compared with each other still can be (a join of aliases to records), and
    0010's downgrade puts the database's own collation back."""
    import importlib

    codes = importlib.import_module("migrations.versions.0010_codes_compare_bytes").CODES
    wanted = sorted((table, column) for table, columns in codes.items() for column, _ in columns)

    async def collations() -> dict[tuple[str, str], str | None]:
        async with database.engine.connect() as conn:
            return await _collations(conn)

    at_head = await collations()
    assert [key for key in wanted if at_head[key] == "C"] == wanted
    # Nothing else changed: the other text columns keep the database's collation.
    assert {key for key, value in at_head.items() if value == "C"} == set(wanted)
    async with database.engine.connect() as conn:
        joined = await conn.execute(
            text(
                "SELECT count(*) FROM citizen_alias a JOIN citizen c ON c.id_number = a.citizen_id "
                "JOIN account u ON u.citizen_id = c.id_number "
                "JOIN audit_event e ON e.subject IN (a.alias, c.id_number)"
            )
        )
        assert joined.scalar_one() == 0
    await database.engine.dispose()
    migrations.downgrade(database_url, "0009")
    before = await collations()
    assert [key for key in wanted if before[key] is None] == wanted
    async with database.engine.connect() as conn:
        assert await _collation_drift(conn) == wanted  # what the models check would report
    await database.engine.dispose()
    migrations.upgrade(database_url, "head")
    assert await collations() == at_head


@pytest.mark.postgresql_only
async def test_0011_old_number_index_holds_only_records_with_one(
    database_url: str, database: Database
) -> None:
    """At head the old-number index leaves out records without an old number, and a search by
    an old number (a bound parameter, as the repository sends it) can still use it; 0011's
    downgrade makes it whole again."""

    async def definition() -> str:
        async with database.engine.connect() as conn:
            found = await conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_citizen_old_id_number'")
            )
            return str(found.scalar_one())

    async def plan() -> str:
        async with database.engine.connect() as conn:
            await conn.execute(text("SET enable_seqscan = off"))
            rows = await conn.execute(
                text("EXPLAIN SELECT id_number FROM citizen WHERE old_id_number = :old"),
                {"old": "012345678"},
            )
            return "\n".join(str(row[0]) for row in rows)

    assert definition_is_partial(await definition())
    assert "ix_citizen_old_id_number" in await plan()
    await database.engine.dispose()
    migrations.downgrade(database_url, "0010")
    assert not definition_is_partial(await definition())
    await database.engine.dispose()
    migrations.upgrade(database_url, "head")
    assert definition_is_partial(await definition())


def definition_is_partial(indexdef: str) -> bool:
    return indexdef.endswith("WHERE (old_id_number IS NOT NULL)")


@pytest.mark.postgresql_only
async def test_0012_replaced_by_index_holds_only_replaced_records(
    database_url: str, database: Database
) -> None:
    """At head citizen.replaced_by has a partial index (only records with a successor); 0012's
    downgrade drops it."""

    async def definition() -> str | None:
        async with database.engine.connect() as conn:
            found = await conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_citizen_replaced_by'")
            )
            value = found.scalar_one_or_none()
            return None if value is None else str(value)

    assert str(await definition()).endswith("(replaced_by) WHERE (replaced_by IS NOT NULL)")
    await database.engine.dispose()
    migrations.downgrade(database_url, "0011")
    assert await definition() is None
    await database.engine.dispose()
    migrations.upgrade(database_url, "head")
    assert await definition() is not None


@pytest.mark.postgresql_only
async def test_0013_version_event_date_both_ways(database_url: str, database: Database) -> None:
    """0013 adds citizen_version.event_date (nullable); its downgrade drops it."""

    async def columns() -> set[str]:
        async with database.engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'citizen_version'"
                )
            )
            return set(found.scalars())

    assert "event_date" in await columns()
    await database.engine.dispose()
    migrations.downgrade(database_url, "0012")
    assert "event_date" not in await columns()
    await database.engine.dispose()
    migrations.upgrade(database_url, "head")
    assert "event_date" in await columns()


async def test_0014_moves_agency_policies_to_their_own_table_and_back(
    database_url: str, database: Database
) -> None:
    """0014 copies each agency's policy from oauth_client into agency_policy and drops the
    column; its downgrade puts every policy back on its client."""

    async def query(sql: str) -> list[Any]:
        async with database.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]

    await database.engine.dispose()
    migrations.downgrade(database_url, "0013")
    async with database.engine.begin() as conn:
        for client_id, policy in (("tax", '{"actions": ["verify"]}'), ("rp", None)):
            await conn.execute(
                text(
                    "INSERT INTO oauth_client (client_id, name, type, auth_method, redirect_uris, "
                    "post_logout_redirect_uris, scopes, sector_identifier, id_token_alg, policy, "
                    "active, first_party) VALUES (:c, :c, 'agency', 'client_secret_basic', '[]', "
                    "'[]', '', :c, 'RS256', :p, true, false)"
                ),
                {"c": client_id, "p": policy},
            )
    await database.engine.dispose()
    migrations.upgrade(database_url, "head")
    assert await query("SELECT client_id, policy FROM agency_policy") == [
        ("tax", '{"actions": ["verify"]}')
    ]
    await database.engine.dispose()
    migrations.downgrade(database_url, "0013")
    assert sorted(await query("SELECT client_id, policy FROM oauth_client")) == [
        ("rp", None),
        ("tax", '{"actions": ["verify"]}'),
    ]
    await database.engine.dispose()
    migrations.upgrade(database_url, "head")
