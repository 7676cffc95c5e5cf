"""Async engine, sessions, and the unit of work (one transaction, committed or rolled back once).

The kernel's database concerns live in modules of their own, and the names most modules take
from here stay importable from here: which errors mean an outage (``core.db_errors``), the
requests' deadlines (``core.deadlines``), statements sent straight to the driver
(``core.driver``) and the StatementPool (``core.statement_pool``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.db_errors import DRIVER_ERRORS as DRIVER_ERRORS
from core.db_errors import is_unavailable as is_unavailable
from core.deadlines import may_commit as may_commit
from core.driver import ROW_INSERTS, RowInserts, cut, terminate
from core.driver import driver_connection as driver_connection
from core.driver import driver_errors as driver_errors
from core.driver import insert_row as insert_row
from core.errors import AuditUnavailable, DatabaseUnavailable, RegistryError, ServiceUnavailable
from core.settings import Settings
from core.statement_pool import StatementPool as StatementPool


def _server_settings(settings: Settings) -> dict[str, str]:
    server_settings = {"application_name": "registry"}
    if settings.database_role:
        # Equivalent to SET ROLE at session start: the app works with that role's grants.
        server_settings["role"] = settings.database_role
    if settings.database_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.database_statement_timeout_ms)
    return server_settings


def _engine_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "echo": settings.database_echo,
        # SQL errors must never carry bound values (personal data) into messages or logs.
        "hide_parameters": True,
    }
    if settings.url.get_backend_name() == "postgresql":
        server_settings = _server_settings(settings)
        kwargs.update(
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
            # Not pool_pre_ping: it costs three round trips (BEGIN, an empty query, ROLLBACK)
            # on every checkout, as much as the work of a lookup. Connections idle for a while
            # are pinged instead (_ping_if_idle); a busy one that died fails its statement,
            # which invalidates the whole pool, so one request per process sees the 503.
            connect_args={
                "server_settings": server_settings,
                "timeout": settings.database_pool_timeout,
            },
        )
    else:
        kwargs["connect_args"] = {"timeout": settings.database_pool_timeout}
    return kwargs


def _prepare_sqlite_file(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the async engine for the configured store."""
    if settings.is_sqlite:
        _prepare_sqlite_file(settings.url)
    engine = create_async_engine(settings.url, **_engine_kwargs(settings))
    if not settings.is_sqlite:
        event.listen(engine.sync_engine, "checkout", _ping_if_idle)
        event.listen(engine.sync_engine, "checkin", _note_checkin)
        event.listen(engine.sync_engine, "handle_error", _terminate_if_cancelled)
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


# A pooled connection unused for longer than this is pinged before it is handed out: the
# database may have restarted (or a firewall dropped the socket) while it sat in the pool.
IDLE_PING_SECONDS = 2.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    checked_in = record.info.get("checked_in")
    if checked_in is None or time.monotonic() - checked_in < IDLE_PING_SECONDS:
        return  # a new connection, or one returned moments ago
    try:
        dbapi_connection.ping()
    except asyncio.CancelledError:
        terminate(proxy.driver_connection)  # as _terminate_if_cancelled, for the ping
        raise
    except Exception as exc:
        # The pool discards this connection and checks out another (up to three tries).
        raise DisconnectionError("A pooled connection no longer answers.") from exc


def _terminate_if_cancelled(context: ExceptionContext) -> None:
    # Cancelled in the middle of a statement or a COMMIT (the request's deadline): SQLAlchemy
    # then invalidates the connection, closing it gracefully first, which waits for the server:
    # perhaps the very one that stopped answering. Cut it now instead; the server rolls back
    # what was not committed when it sees the connection gone.
    connection = context.connection
    if not isinstance(context.original_exception, asyncio.CancelledError) or connection is None:
        return
    if not connection.invalidated and not connection.closed:
        terminate(connection.connection.driver_connection)


def _sqlite_on_begin(connection: Any) -> None:
    # The driver's own implicit BEGIN comes only before the first write, so a SAVEPOINT opened
    # earlier would start (and its RELEASE would commit) a transaction of its own. Begin
    # explicitly instead, and IMMEDIATE: take the single write lock up front, so a transaction
    # never fails halfway on a snapshot another writer moved (it waits up to busy_timeout).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy (above) emit BEGIN; the driver must not start transactions by itself.
    dbapi_connection.isolation_level = None
    # Foreign keys are off by default in SQLite; WAL lets readers run beside one writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """The engine and session factory of one process."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        # Each session carries its Database's RowInserts (``insert_row`` has only the session).
        self.row_inserts = RowInserts()
        self.sessions = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            autoflush=True,
            info={ROW_INSERTS: self.row_inserts},
        )
        self._side_engine: AsyncEngine | None = None
        self._statement_pool: StatementPool | None = None
        self._statement_pool_loop: asyncio.AbstractEventLoop | None = None

    @property
    def side_engine(self) -> AsyncEngine:
        """A small pool of its own for one-statement transactions taken while a unit of work
        holds a connection (the agency rate bucket). Drawn from the main pool they would
        deadlock it: once every pooled connection belongs to a unit of work waiting for a second
        one, none is ever returned (each request then fails after the pool timeout)."""
        if self._side_engine is None:
            if self.dialect != "postgresql":
                return self.engine
            kwargs = _engine_kwargs(self.settings)
            # Autocommit: each statement is its own transaction, one round trip, and a row
            # lock taken by it (the rate bucket) is released when the statement ends. No
            # pre-ping: a dead connection fails that one statement and is then replaced.
            kwargs.update(
                pool_size=min(4, self.settings.database_pool_size),
                max_overflow=0,
                pool_pre_ping=False,
                isolation_level="AUTOCOMMIT",
            )
            self._side_engine = create_async_engine(self.settings.url, **kwargs)
            event.listen(self._side_engine.sync_engine, "handle_error", _terminate_if_cancelled)
        return self._side_engine

    def statement_pool(self) -> StatementPool | None:
        """The StatementPool of this process for requests served by one autocommit statement
        and no unit of work (the agency API's lookups and verifies, registry.agency.service);
        None on SQLite. A session, its pool checkout and its adapter cost several times such a
        statement. Same server settings (role, statement timeout) as the engine's connections.
        Few connections (REGISTRY_DATABASE_STATEMENT_POOL_SIZE, 1): each statement is short, the
        requests that wait for one go together in one statement (``StatementPool.run``), and on
        a small machine more active backends cost PostgreSQL more than requests waiting here.
        With more connections requests rarely wait, so rarely go together; with one, calls go
        together at moderate load too, not only at saturation (docs/performance.md,
        "Statement pool size")."""
        loop = asyncio.get_running_loop()
        if self._statement_pool_loop is loop:
            return self._statement_pool
        if self.dialect != "postgresql":
            return None
        # Connections belong to the event loop that made them (tests run several loops).
        self._statement_pool_loop = loop
        url = self.settings.url.set(drivername="postgresql")
        self._statement_pool = StatementPool(
            url.render_as_string(hide_password=False),
            size=self.settings.database_statement_pool_size,
            max_group=self.settings.database_statement_pool_max_group,
            timeout=self.settings.database_pool_timeout,
            server_settings=_server_settings(self.settings),
            statement_timeout=self.settings.request_deadline,
        )
        return self._statement_pool

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit when the block succeeds, roll back when it raises."""
        session = self.sessions()
        try:
            yield session
            may_commit()
            await session.commit()
        except RegistryError as exc:
            if exc.commit_unit_of_work:
                await _commit_refusal(session, exc)
            else:
                await _rollback_quietly(session)
            raise
        except asyncio.CancelledError:
            # The request's deadline, perhaps while the transaction sat open (the request was
            # awaiting something else): a ROLLBACK would wait for a server that may be the one
            # not answering. Cut the connection; the server rolls back what was not committed.
            await _drop_quietly(session)
            raise
        except BaseException:
            await _rollback_quietly(session)
            raise
        finally:
            await _close_quietly(session)

    async def ping(self, timeout: float | None = None) -> None:
        """Run ``SELECT 1``; raise DatabaseUnavailable when the database does not answer."""
        try:
            async with asyncio.timeout(timeout or self.settings.readiness_timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:
            if is_unavailable(exc):
                raise DatabaseUnavailable("The database is not reachable.") from exc
            raise

    async def server_version(self) -> str:
        """The database server's version string."""
        query = "SELECT version()" if self.dialect == "postgresql" else "SELECT sqlite_version()"
        async with self.engine.connect() as conn:
            return str((await conn.execute(text(query))).scalar_one())

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._side_engine is not None:
            await self._side_engine.dispose()
        if self._statement_pool is not None:
            pool, loop = self._statement_pool, self._statement_pool_loop
            self._statement_pool = self._statement_pool_loop = None
            if loop is asyncio.get_running_loop():
                await pool.close()


def dialect_of(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the backend this session talks to."""
    return session.get_bind().dialect.name


async def hold_lock(session: AsyncSession, key: int) -> None:
    """Serialise this unit of work with every other that takes ``key``, in any process: on
    PostgreSQL a transaction-level advisory lock, released at commit or rollback. SQLite
    writes one transaction at a time already: nothing to take."""
    if dialect_of(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def _commit_refusal(session: AsyncSession, error: RegistryError) -> None:
    """Commit the audit event of a refusal (``commit_unit_of_work``). If that commit fails, the
    refusal's record is lost, so it is not answered as made: the error becomes a 503 (itself
    when it already is one: its connection may be the one that was lost)."""
    may_commit()
    try:
        await session.commit()
    except Exception as failure:
        await _rollback_quietly(session)
        if isinstance(error, ServiceUnavailable):
            raise error from failure
        raise AuditUnavailable("The refusal could not be recorded; try again shortly.") from (
            failure
        )


async def _drop_quietly(session: AsyncSession) -> None:
    """Drop the session's open connection without a word to the server (PostgreSQL); on SQLite,
    which has no server to wait for, roll back."""
    if dialect_of(session) != "postgresql":
        await _rollback_quietly(session)
        return
    try:
        if session.in_transaction():
            await cut(session)
    except Exception:  # noqa: S110 - the deadline's error is the one to answer
        pass


async def _rollback_quietly(session: AsyncSession) -> None:
    # The original error matters more than a failed rollback on a dead connection.
    try:
        await session.rollback()
    except Exception:  # noqa: S110
        pass


async def _close_quietly(session: AsyncSession) -> None:
    try:
        await session.close()
    except Exception:  # noqa: S110
        pass


def sqlite_path(url: URL) -> str | None:
    """The file path of a SQLite URL, or None for in-memory databases."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return os.path.abspath(url.database)
