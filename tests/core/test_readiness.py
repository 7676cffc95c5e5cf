"""/readyz tells whether the database answers; with it down, errors are 503 problem+json."""

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException

import migrations
from core import db
from core.deps import SessionDep
from core.settings import Settings
from registry.app import create_app
from tests.http import asgi_client
from tests.pgcluster import PostgresCluster


async def test_ready_when_the_database_answers(client: httpx.AsyncClient, backend: str) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": backend}
    assert (await client.get("/healthz")).json() == {"status": "ok"}


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this module's own, so that stopping it disturbs no other test."""
    cluster = PostgresCluster().start()
    migrations.upgrade(cluster.url(), "head")
    yield cluster
    cluster.cleanup()


def add_db_route(app: FastAPI) -> None:
    @app.get("/t/count")
    async def count(session: SessionDep) -> dict[str, int]:
        value = (await session.execute(text("SELECT count(*) FROM alembic_version"))).scalar_one()
        return {"count": int(value)}


@pytest.fixture
async def down_client(own_cluster: PostgresCluster) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        environment="test", database_url=own_cluster.url(), database_pool_timeout=2.0
    )
    app = create_app(settings)
    add_db_route(app)
    async with asgi_client(app) as c:
        yield c


def get_routes(client: httpx.AsyncClient) -> list[str]:
    app = client._transport.app  # type: ignore[attr-defined]  # noqa: SLF001
    paths = []
    for route in app.routes:
        if isinstance(route, APIRoute) and "GET" in (route.methods or set()):
            paths.append(route.path.replace("{code}", "not-found"))
    return paths


async def assert_no_route_gives_500(client: httpx.AsyncClient) -> None:
    """Every GET route answers without a 500, and any error as problem+json."""
    for path in get_routes(client):
        response = await client.get(path)
        assert response.status_code != 500, path
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", path


def assert_unavailable(response: httpx.Response) -> None:
    """A 503 database-unavailable problem that says when to retry."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database-unavailable"
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InternalClientError("got result for unknown protocol state 3"),
        ConnectionResetError(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_of_a_database_that_cannot_serve_now_are_unavailable(error: Exception) -> None:
    assert db.is_unavailable(error)
    # As SQLAlchemy raises them: its DBAPIError over its emulation of the driver's error.
    assert db.is_unavailable(DBAPIError("SELECT 1", None, EmulatedDBAPIException("", error)))


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.DivisionByZeroError("division by zero"),
        asyncpg.UndefinedTableError('relation "nope" does not exist'),
        ValueError("not the database"),
        # The client refusing what it was given: a bug of the request, not an outage.
        asyncpg.exceptions._base.DataError("invalid input for query argument $1: 2147483648"),
        asyncpg.exceptions.ClientConfigurationError("bad option"),
        asyncpg.exceptions.UnsupportedClientFeatureError("not supported"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_of_the_request_are_not_unavailable(error: Exception) -> None:
    assert not db.is_unavailable(error)
    assert not db.is_unavailable(DBAPIError("SELECT 1", None, EmulatedDBAPIException("", error)))


@pytest.mark.postgresql_only
async def test_a_database_in_crash_recovery_gives_503_with_retry_after(
    own_cluster: PostgresCluster, down_client: httpx.AsyncClient, backend: str
) -> None:
    assert (await down_client.get("/t/count")).json() == {"count": 1}
    # While it recovers, PostgreSQL refuses connections: "the database system is starting up".
    with own_cluster.recovering():
        assert_unavailable(await down_client.get("/t/count"))
        assert_unavailable(await down_client.get("/readyz"))
        await assert_no_route_gives_500(down_client)
    assert (await down_client.get("/t/count")).json() == {"count": 1}


@pytest.mark.postgresql_only
async def test_database_stopped_gives_503_problems_and_never_a_bare_500(
    own_cluster: PostgresCluster, down_client: httpx.AsyncClient, backend: str
) -> None:
    assert (await down_client.get("/readyz")).status_code == 200
    assert (await down_client.get("/t/count")).json() == {"count": 1}

    own_cluster.stop()
    try:
        ready = await down_client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert ready.json()["code"] == "database-unavailable"
        assert ready.headers["retry-after"] == "5"
        uses_db = await down_client.get("/t/count")
        assert uses_db.status_code == 503
        assert uses_db.json()["code"] == "database-unavailable"
        assert (await down_client.get("/healthz")).status_code == 200
        await assert_no_route_gives_500(down_client)
    finally:
        own_cluster.start_server()

    # The failures invalidated the dead pooled connections: service resumes without a restart.
    assert (await down_client.get("/readyz")).status_code == 200
    assert (await down_client.get("/t/count")).json() == {"count": 1}


@pytest.mark.postgresql_only
async def test_a_restart_while_the_pool_is_idle_costs_no_request(
    own_cluster: PostgresCluster,
    down_client: httpx.AsyncClient,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (await down_client.get("/t/count")).json() == {"count": 1}
    # The pooled connection dies with the server while nobody uses it.
    own_cluster.stop()
    own_cluster.start_server()
    # Pooled connections idle longer than IDLE_PING_SECONDS are pinged before use: the dead one
    # is replaced and the first request after the restart already succeeds.
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    assert (await down_client.get("/t/count")).json() == {"count": 1}
    # Busy connections are not pinged (that was the cost of pool_pre_ping on every checkout).
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    own_cluster.stop()
    own_cluster.start_server()
    # Without a ping the dead connection fails its first statement: a 503, never a 500...
    first = await down_client.get("/t/count")
    assert first.status_code == 503
    assert first.json()["code"] == "database-unavailable"
    # ...and that invalidates the pool, so the next request gets a new connection.
    assert (await down_client.get("/t/count")).json() == {"count": 1}


async def test_unreachable_sqlite_is_503(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    settings = Settings(
        environment="test", database_url=f"sqlite+aiosqlite:///{blocker}/sub/registry.db"
    )
    with pytest.raises(OSError):  # noqa: PT011 - the engine cannot even create its directory
        create_app(settings)
    settings = Settings(
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/ro/registry.db",
    )
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "registry.db").mkdir()  # a directory where the database file should be
    threads = set(threading.enumerate())
    app = create_app(settings)
    async with asgi_client(app) as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "database-unavailable"
    # aiosqlite stops a connection that failed to open with a future on this loop that nobody
    # awaits; its thread must finish while the loop is open, or it fails ("Event loop is
    # closed") during whatever test runs next (PytestUnhandledThreadExceptionWarning).
    for thread in set(threading.enumerate()) - threads:
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join)  # its stop is queued: it ends


# ------------------------------------------------------------------------------ the deadline


class WriteGate:
    """A route's write held between its INSERT and its commit, for the test to stall there."""

    def __init__(self) -> None:
        self.inserted = asyncio.Event()
        self.release = asyncio.Event()


def add_write_route(app: FastAPI, gate: WriteGate) -> None:
    @app.post("/t/notes/{note}")
    async def write(note: str, session: SessionDep) -> dict[str, str]:
        await session.execute(text("INSERT INTO deadline_note (note) VALUES (:n)"), {"n": note})
        gate.inserted.set()
        await gate.release.wait()
        return {"note": note}  # the unit of work commits after this, before the answer


@pytest.fixture
async def deadline_client(own_cluster: PostgresCluster) -> AsyncIterator[Any]:
    """A client of an app whose requests may wait at most 3 s (a first connection on a busy
    machine must fit in it); and the write route's gate."""
    admin = await asyncpg.connect(own_cluster.dsn())
    await admin.execute("CREATE TABLE IF NOT EXISTS deadline_note (note text PRIMARY KEY)")
    await admin.close()
    settings = Settings(environment="test", database_url=own_cluster.url(), request_deadline=3.0)
    app = create_app(settings)
    add_db_route(app)
    gate = WriteGate()
    add_write_route(app, gate)
    async with asgi_client(app) as c:
        yield c, gate


async def notes(cluster: PostgresCluster) -> list[str]:
    admin = await asyncpg.connect(cluster.dsn())
    try:
        return [row["note"] for row in await admin.fetch("SELECT note FROM deadline_note")]
    finally:
        await admin.close()


@pytest.mark.postgresql_only
async def test_a_stalled_database_answers_503_at_the_request_deadline(
    own_cluster: PostgresCluster, deadline_client: Any, backend: str
) -> None:
    client, _ = deadline_client
    assert (await client.get("/t/count")).json() == {"count": 1}
    with own_cluster.paused():
        # Without a deadline the request waits as long as the pause: the guard fails it.
        async with asyncio.timeout(15):
            stalled = await client.get("/t/count")
    assert_unavailable(stalled)
    assert stalled.json()["recorded"] == "no"
    # The stalled connection was dropped, not returned to the pool: the service resumes.
    assert (await client.get("/t/count")).json() == {"count": 1}


@pytest.mark.postgresql_only
async def test_a_write_whose_commit_stalls_is_answered_as_perhaps_recorded(
    own_cluster: PostgresCluster, deadline_client: Any, backend: str
) -> None:
    client, gate = deadline_client
    request = asyncio.create_task(client.post("/t/notes/stalled"))
    async with asyncio.timeout(15):
        await gate.inserted.wait()
        with own_cluster.paused():
            gate.release.set()  # the COMMIT goes to a server that does not answer
            stalled = await request
    assert_unavailable(stalled)
    # The COMMIT was sent: whether it took effect is unknown, and the answer says so.
    assert stalled.json()["recorded"] == "unknown"
    assert (await client.get("/t/count")).json() == {"count": 1}
    gate.release.set()
    written = await client.post("/t/notes/after")
    assert written.status_code == 200, written.text
    assert "after" in await notes(own_cluster)


@pytest.mark.postgresql_only
async def test_a_request_cut_off_with_its_transaction_open_does_not_wait_for_a_rollback(
    own_cluster: PostgresCluster, deadline_client: Any, backend: str
) -> None:
    client, gate = deadline_client
    request = asyncio.create_task(client.post("/t/notes/idle"))
    async with asyncio.timeout(15):
        await gate.inserted.wait()
        with own_cluster.paused():
            # The deadline passes while the route awaits something else, its transaction open
            # on a server that does not answer: a ROLLBACK there would wait as long as the pause.
            stalled = await request
    assert_unavailable(stalled)
    assert stalled.json()["recorded"] == "no"
    assert "idle" not in await notes(own_cluster)
    assert (await client.get("/t/count")).json() == {"count": 1}
