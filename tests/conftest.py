"""Test harness: a real throwaway PostgreSQL (or TEST_DATABASE_URL), SQLite, a database per test.

Every test that asks for ``database_url`` (directly or through ``settings``/``database``/``app``/
``client``) runs once per selected backend (``--backends`` or TEST_BACKENDS; default both).
Each run gets its own database cloned from a template built with ``alembic upgrade head``, so
tests commit for real and never see each other's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# Imported before any test module: authlib sets an "always" filter for its own warnings when
# first imported, which would otherwise sit above pytest's filterwarnings (pyproject.toml).
import authlib.deprecate  # noqa: F401
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL, make_url

import migrations
from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.http import asgi_client
from tests.identity.factories import make_account, make_citizen, make_rp
from tests.pgcluster import PostgresCluster

pytest_plugins = ["tests.browser"]  # Chromium, live server, virtual authenticator fixtures

ALL_BACKENDS = ("postgresql", "sqlite")
_VERSION_KEY = pytest.StashKey[str]()
_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    # One throwaway checkpoint key for the whole run (never the developer's var/ key), and no
    # background sequencer unless a test starts one: tests sequence explicitly.
    if "REGISTRY_AUDIT_SIGNING_KEY_FILE" not in os.environ:
        from audit.checkpoint import Signer

        key_dir = Path(tempfile.mkdtemp(prefix="registry-test-key-"))
        key_file = key_dir / "audit-signing-key.pem"
        key_file.write_bytes(Signer.generate("testserver/audit").to_pem())
        os.environ["REGISTRY_AUDIT_SIGNING_KEY_FILE"] = str(key_file)
        config.add_cleanup(lambda: shutil.rmtree(key_dir, ignore_errors=True))
    os.environ.setdefault("REGISTRY_AUDIT_SEQUENCER_ENABLED", "false")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=os.environ.get("TEST_BACKENDS", ",".join(ALL_BACKENDS)),
        help="comma-separated database backends to run the suite against (postgresql,sqlite)",
    )


def _selected_backends(config: pytest.Config) -> list[str]:
    chosen = [b.strip() for b in str(config.getoption("--backends")).split(",") if b.strip()]
    unknown = set(chosen) - set(ALL_BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown backends: {sorted(unknown)}")
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    backends = _selected_backends(metafunc.config)
    if metafunc.definition.get_closest_marker("postgresql_only"):
        backends = [b for b in backends if b == "postgresql"]
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = [b for b in backends if b == "sqlite"]
    metafunc.parametrize("backend", backends, scope="session")


def _server_binaries_version() -> str | None:
    # With pytest-xdist the clusters start in worker processes, whose output is not shown:
    # the controller names the binaries they run instead.
    import subprocess

    from tests.pgcluster import find_pg_bindir

    try:
        postgres = find_pg_bindir() / "postgres"
        done = subprocess.run(  # noqa: S603 - a fixed binary
            [str(postgres), "--version"], capture_output=True, text=True, timeout=10, check=True
        )
    except (RuntimeError, OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def pytest_report_header(config: pytest.Config) -> str | None:
    if os.environ.get("TEST_DATABASE_URL") or os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    version = _server_binaries_version()
    return f"PostgreSQL server binaries: {version}" if version else None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    version = terminalreporter.config.stash.get(_VERSION_KEY, None) or (
        None if os.environ.get("TEST_DATABASE_URL") else _server_binaries_version()
    )
    if version:
        terminalreporter.write_line(f"PostgreSQL server used by this run: {version}")


@dataclass
class PostgresServer:
    """Where the PostgreSQL tests run: admin DSN and the migrated template database."""

    admin_dsn: str
    base_url: URL  # asyncpg URL of the server (its database part is replaced per test)
    template: str
    version: str


async def _admin(dsn: str, *statements: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
        return str(await conn.fetchval("SELECT version()"))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """Start a throwaway cluster (or use TEST_DATABASE_URL) and build the template database."""
    external = os.environ.get("TEST_DATABASE_URL")
    cluster: PostgresCluster | None = None
    if external:
        url = make_url(external).set(drivername="postgresql+asyncpg")
        admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    else:
        cluster = PostgresCluster().start()
        url = make_url(cluster.url())
        admin_dsn = cluster.dsn()
    template = f"registry_template_{os.getpid()}"
    try:
        version = asyncio.run(
            _admin(
                admin_dsn, f'DROP DATABASE IF EXISTS "{template}"', f'CREATE DATABASE "{template}"'
            )
        )
        migrations.upgrade(url.set(database=template).render_as_string(hide_password=False), "head")
        request.config.stash[_VERSION_KEY] = version
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\nPostgreSQL server: {version}")
        yield PostgresServer(
            admin_dsn=admin_dsn,
            base_url=url,
            template=template,
            version=version,
        )
        asyncio.run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
    finally:
        if cluster is not None:
            cluster.cleanup()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrations.upgrade(f"sqlite+aiosqlite:///{path}", "head")
    return path


@pytest.fixture
def backend_template(backend: str, request: pytest.FixtureRequest) -> Path | PostgresServer:
    """The migrated template of ``backend`` (resolved here, outside any event loop)."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        return template
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server


@pytest.fixture
async def database_url(
    backend_template: Path | PostgresServer, tmp_path: Path
) -> AsyncIterator[str]:
    """A fresh, migrated, empty database for this test on ``backend``."""
    if isinstance(backend_template, Path):
        path = tmp_path / "registry.db"
        shutil.copyfile(backend_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server = backend_template
    name = f"test_{os.getpid()}_{next(_counter)}"
    await _admin(server.admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{server.template}"')
    try:
        yield server.base_url.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server.admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings on this test's database."""
    return Settings(environment="test", database_url=database_url)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The Database for this test (disposed afterwards)."""
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    """The real app wired to this test's database."""
    return create_app(settings, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process (lifespan included)."""
    async with asgi_client(app) as c:
        yield c


# The OIDC code flow's browser and world, shared by the identity and registry tests.


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The citizen's browser (keeps cookies, does not follow redirects)."""
    async with asgi_client(app) as c:
        yield c


@pytest.fixture
async def world(database: Database, settings: Settings) -> dict[str, str]:
    """A citizen with an electronic identity and a registered relying party."""
    await make_citizen(database)
    await make_account(database, settings)
    client_id, secret = await make_rp(database, settings)
    return {"client_id": client_id, "secret": secret}
