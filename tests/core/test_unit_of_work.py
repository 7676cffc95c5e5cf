"""One unit of work per request: committed before the response is sent, or nothing at all."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.db import Database
from core.deps import SessionDep
from core.errors import DatabaseUnavailable, Forbidden, NotFound

# A scratch table of this test's own database. The deferred foreign key makes the database
# refuse the transaction at COMMIT time, after the endpoint has returned.
DDL = [
    "CREATE TABLE scratch_parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE scratch (id INTEGER PRIMARY KEY, note VARCHAR(40) NOT NULL, "
    "parent_id INTEGER REFERENCES scratch_parent (id) DEFERRABLE INITIALLY DEFERRED)",
]


def add_routes(app: FastAPI) -> None:
    @app.post("/t/write/{mode}")
    async def write(mode: str, session: SessionDep) -> dict[str, str]:
        await session.execute(text("INSERT INTO scratch (id, note) VALUES (1, 'first')"))
        await session.execute(text("INSERT INTO scratch (id, note) VALUES (2, 'second')"))
        if mode == "registry-error":
            raise NotFound("Stop after two writes.")
        if mode == "bug":
            raise RuntimeError("unexpected")
        if mode == "duplicate":
            await session.execute(text("INSERT INTO scratch (id, note) VALUES (1, 'dup')"))
        if mode.startswith("lost-"):
            # A refusal whose record is to be committed, on a connection lost meanwhile.
            await (await session.connection()).invalidate()
            error = Forbidden("No.") if mode == "lost-refusal" else DatabaseUnavailable("Gone.")
            error.commit_unit_of_work = True
            raise error
        if mode == "fails-at-commit":
            await session.execute(
                text("INSERT INTO scratch (id, note, parent_id) VALUES (3, 'orphan', 999)")
            )
        return {"written": "2"}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An independent connection pool, to look at what really got committed."""
    eng = create_async_engine(database_url)
    async with eng.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(text("PRAGMA foreign_keys=ON"))
        for statement in DDL:
            await conn.execute(text(statement))
    yield eng
    await eng.dispose()


async def committed_rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT note FROM scratch ORDER BY id"))).scalars())


@pytest.fixture
def routed(app: FastAPI, engine: AsyncEngine) -> FastAPI:
    add_routes(app)
    return app


@pytest.mark.usefixtures("routed")
async def test_success_is_committed_before_the_response_arrives(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await client.post("/t/write/ok")
    assert response.status_code == 200
    # Read through another connection the moment the response is in hand.
    assert await committed_rows(engine) == ["first", "second"]


@pytest.mark.usefixtures("routed")
@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("registry-error", 404, "not-found"),
        ("bug", 500, "internal-error"),
        ("duplicate", 409, "conflict"),
        # The endpoint returned normally; COMMIT failed; the caller must not see a 200.
        ("fails-at-commit", 409, "conflict"),
    ],
)
async def test_a_failing_request_leaves_no_partial_write(
    client: httpx.AsyncClient, engine: AsyncEngine, mode: str, status: int, code: str
) -> None:
    response = await client.post(f"/t/write/{mode}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert await committed_rows(engine) == []
    # The pool is healthy afterwards: the next request commits normally.
    assert (await client.post("/t/write/ok")).status_code == 200
    assert await committed_rows(engine) == ["first", "second"]


@pytest.mark.usefixtures("engine")
async def test_unit_of_work_commits_or_rolls_back_once(
    database: Database, engine: AsyncEngine
) -> None:
    async def write_then_fail() -> None:
        async with database.unit_of_work() as session:
            await session.execute(text("INSERT INTO scratch (id, note) VALUES (1, 'lost')"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await write_then_fail()
    assert await committed_rows(engine) == []
    async with database.unit_of_work() as session:
        await session.execute(text("INSERT INTO scratch (id, note) VALUES (1, 'kept')"))
    assert await committed_rows(engine) == ["kept"]


@pytest.mark.usefixtures("engine")
async def test_a_released_savepoint_still_rolls_back_with_its_transaction(
    database: Database, engine: AsyncEngine
) -> None:
    # On SQLite a SAVEPOINT opened before the first write used to start a transaction of its
    # own, which its RELEASE committed; the unit of work now begins explicitly.
    async def nested_then_fail() -> None:
        async with database.unit_of_work() as session:
            async with session.begin_nested():
                await session.execute(text("INSERT INTO scratch (id, note) VALUES (1, 'inner')"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await nested_then_fail()
    assert await committed_rows(engine) == []


@pytest.mark.postgresql_only
async def test_driver_statements_belong_to_the_unit_of_work(
    engine: AsyncEngine, database_url: str
) -> None:
    from core.db import driver_connection
    from core.settings import Settings

    database = Database(Settings(environment="test", database_url=database_url))
    try:
        # Rolled back with the unit of work, whichever statement came first.
        async def write_both_then_fail() -> None:
            async with database.unit_of_work() as session:
                driver = await driver_connection(session)
                assert driver is not None
                await driver.execute("INSERT INTO scratch (id, note) VALUES (1, 'driver')")
                await session.execute(text("INSERT INTO scratch (id, note) VALUES (2, 'orm')"))
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            await write_both_then_fail()
        assert await committed_rows(engine) == []
        # Committed with it: both writes, one transaction (the driver sees the ORM's write).
        async with database.unit_of_work() as session:
            await session.execute(text("INSERT INTO scratch (id, note) VALUES (1, 'orm')"))
            driver = await driver_connection(session)
            assert driver is not None
            assert await driver.fetchval("SELECT count(*) FROM scratch") == 1
            await driver.execute("INSERT INTO scratch (id, note) VALUES (2, 'driver')")
        assert await committed_rows(engine) == ["orm", "driver"]
    finally:
        await database.dispose()


@pytest.mark.sqlite_only
async def test_there_is_no_driver_connection_on_sqlite(database_url: str) -> None:
    from core.db import driver_connection
    from core.settings import Settings

    database = Database(Settings(environment="test", database_url=database_url))
    try:
        async with database.unit_of_work() as session:
            assert await driver_connection(session) is None
    finally:
        await database.dispose()


@pytest.mark.usefixtures("routed")
@pytest.mark.parametrize(
    ("mode", "code"),
    [("lost-refusal", "audit-unavailable"), ("lost-unavailable", "database-unavailable")],
)
async def test_a_refusal_whose_record_cannot_be_committed_is_a_503(
    client: httpx.AsyncClient, engine: AsyncEngine, mode: str, code: str
) -> None:
    response = await client.post(f"/t/write/{mode}")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    assert response.json()["code"] == code
    assert await committed_rows(engine) == []
    assert (await client.post("/t/write/ok")).status_code == 200
