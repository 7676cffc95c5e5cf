"""Async engine, sessions, and the unit of work (one transaction, committed or rolled back once)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Table, event, insert, text
from sqlalchemy.engine import URL, Dialect, ExceptionContext
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.errors import AuditUnavailable, DatabaseUnavailable, RegistryError, ServiceUnavailable
from core.settings import Settings

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

# What a statement sent straight to asyncpg may raise: PostgreSQL's errors, the client's own
# (InternalClientError: a protocol state it did not expect, as when the server crashes in the
# middle of a statement), a lost socket, a client-side timeout.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)

# Errors that mean "the database is not there right now" rather than "the request was wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# asyncpg.InterfaceErrors that are the client refusing what it was given (an argument it cannot
# encode, an option or feature it does not support): a fault of the request, not an outage.
_CLIENT_REFUSALS: tuple[type[BaseException], ...] = (
    # _base.DataError (not asyncpg.DataError, which is SQLSTATE class 22, a server error).
    asyncpg.exceptions._base.DataError,
    asyncpg.exceptions.ClientConfigurationError,
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.UnsupportedServerFeatureError,
)

# SQLSTATEs (PostgreSQL Appendix A) of a server that cannot serve now, whatever was asked:
# class 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57 operator intervention (starting up, shutting down, crash shutdown, statement_timeout),
# and 25006, a read-only transaction: the server is a standby, the primary moved (failover).
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
UNAVAILABLE_SQLSTATES = frozenset({"25006"})
QUERY_CANCELED = "57014"  # statement_timeout: the connection itself is still good


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database is unreachable, not ready or timed out: the one
    classification of database errors (SQLAlchemy's, asyncpg's, the socket's). SQLAlchemy's
    errors, and its emulation of the DBAPI's over asyncpg, are judged by the driver error
    they wrap (``orig``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _CLIENT_REFUSALS):
            return False
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, UNAVAILABLE_ERRORS):
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and (
            state[:2] in UNAVAILABLE_SQLSTATE_CLASSES or state in UNAVAILABLE_SQLSTATES
        ):
            return True
        current = getattr(current, "orig", None)
    return False


@dataclass
class _Deadline:
    """The running request's deadline, and whether a write that commits may have been sent."""

    timeout: asyncio.Timeout
    in_doubt: bool = False


_deadline: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "request_deadline", default=None
)


@asynccontextmanager
async def request_deadline(seconds: float | None) -> AsyncIterator[None]:
    """Bound the time until the block's answer starts. Past ``seconds``, whatever the block
    awaits (an ORM session's statement or checkout, a statement sent to the driver, a wait in
    the StatementPool) is cancelled, its connection dropped, and DatabaseUnavailable raised:
    a 503 with Retry-After whose ``recorded`` member says "no", or "unknown" when a COMMIT or
    a statement that commits by itself had been sent (``may_commit``): it may have taken
    effect, and what did stays recorded."""
    state: _Deadline | None = None
    try:
        async with asyncio.timeout(seconds) as timeout:
            state = _Deadline(timeout)
            token = _deadline.set(state)
            try:
                yield
            finally:
                _deadline.reset(token)
    except TimeoutError as exc:
        if state is None or not state.timeout.expired():
            raise
        raise DatabaseUnavailable(
            "The database did not answer in time.",
            extensions={"recorded": "unknown" if state.in_doubt else "no"},
        ) from exc


def answer_started() -> None:
    """The request's answer has begun: its deadline no longer applies (a streamed body, such
    as an export, may take longer; each of its statements has statement_timeout)."""
    state = _deadline.get()
    if state is not None and not state.timeout.expired():
        state.timeout.reschedule(None)


def may_commit() -> None:
    """A COMMIT, or a statement that commits by itself, is about to be sent: if the request's
    deadline cuts it off, its answer must not say that nothing was recorded."""
    state = _deadline.get()
    if state is not None:
        state.in_doubt = True


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
        _terminate(proxy.driver_connection)  # as _terminate_if_cancelled, for the ping
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
        _terminate(connection.connection.driver_connection)


def _terminate(driver: Any) -> None:
    """Close an asyncpg connection at once, without waiting for the server."""
    if driver is not None and not driver.is_closed():
        driver.terminate()


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


class StatementPool:
    """A few asyncpg connections for requests served by one autocommit statement each, which
    gathers the requests that had to wait for a connection into one statement per group.

    ``run`` executes a request's own statement at once when a connection is free and nobody
    waits. Otherwise the request queues; each time a connection frees up, the oldest waiting
    request and every other one waiting with the same ``key`` (up to ``max_group``) go to the
    database together in ONE statement (``many``): one round trip, one transaction and one
    commit for the group. So an idle server answers each request with its own statement, and a
    busy one spends less per request the more requests wait, instead of queueing them one
    statement at a time behind a few connections (the tail of the latency under bursts).

    Leaner than asyncpg's Pool for that use: a connection returns to the pool by being put
    back in a list (asyncpg's release runs in a task of its own under ``asyncio.shield``, and
    resets session state these statements never set). A connection whose statement raised, for
    a failed statement or a cancelled request, is closed rather than reused: its state is not
    known. One that died idle fails its next statement the same way and is replaced. A failed
    group statement fails every request of the group with its error.
    """

    def __init__(
        self,
        dsn: str,
        *,
        size: int,
        timeout: float,
        server_settings: dict[str, str],
        max_group: int = 64,
        statement_timeout: float | None = None,
    ) -> None:
        self._dsn = dsn
        self._timeout = timeout
        self._statement_timeout = statement_timeout
        self._server_settings = server_settings
        self._size = size
        self._max_group = max_group
        self._free: list[asyncpg.Connection] = []
        self._busy = 0  # statements running
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._groups: set[asyncio.Task[None]] = set()
        self.statements = 0  # statements sent (one per group), for tests and benchmarks
        self.grouped = 0  # requests served in a group of two or more

    @property
    def waiting(self) -> int:
        """Requests waiting for a connection."""
        return sum(1 for waiting in self._waiting if not waiting.future.done())

    async def run(
        self,
        key: Hashable,
        item: _Item,
        one: Callable[[asyncpg.Connection, _Item], Awaitable[_Result]],
        many: Callable[[asyncpg.Connection, list[_Item]], Awaitable[list[_Result]]],
    ) -> _Result:
        """``one(connection, item)``; or, when it had to wait, its share of ``many(connection,
        items)``, which must return one result per item in their order. Requests grouped
        together share a key and the same ``one`` and ``many``."""
        if self._busy < self._size and not self._waiting:
            self._busy += 1
            may_commit()  # its statement commits by itself
            try:
                alone: _Result = await self._on_connection(one, item)
                return alone
            finally:
                self._busy -= 1
                self._dispatch()
        waiting = _Waiting(key, item, one, many, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        self._dispatch()
        # A request still waiting after the pool's timeout, or cancelled, is left out of every
        # group (TimeoutError: the caller's fallback serves it). One a group took is awaited to
        # the end of its statement (which may have written), bounded by ``statement_timeout``.
        try:
            try:
                async with asyncio.timeout(self._timeout):
                    result: _Result = await asyncio.shield(waiting.future)
            except TimeoutError:
                if not waiting.taken:
                    waiting.future.cancel()
                    raise
                result = await waiting.future
        except BaseException:
            if waiting.taken:
                may_commit()  # its group's statement was sent, and commits by itself
            else:
                waiting.future.cancel()
            raise
        return result

    def _dispatch(self) -> None:
        """Start a group statement for the oldest waiting requests while connections are free."""
        while self._waiting and self._busy < self._size:
            first = self._waiting.popleft()
            if first.future.done():
                continue  # its request was cancelled or gave up
            group, rest = [first], collections.deque[_Waiting]()
            for other in self._waiting:
                if other.future.done():
                    continue
                if other.key == first.key and len(group) < self._max_group:
                    group.append(other)
                else:
                    rest.append(other)
            self._waiting = rest
            for waiting in group:
                waiting.taken = True
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._run_group(group))
            self._groups.add(task)
            task.add_done_callback(self._groups.discard)

    async def _run_group(self, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:
                results = [await self._on_connection(group[0].one, group[0].item)]
            else:
                results = await self._on_connection(group[0].many, [w.item for w in group])
                self.grouped += len(group)
                if len(results) != len(group):
                    raise AssertionError("a group statement must give one result per request")
        except BaseException as exc:
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for waiting, result in zip(group, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(result)
        finally:
            self._busy -= 1
            self._dispatch()

    async def _on_connection(self, call: Callable[[asyncpg.Connection, Any], Awaitable[Any]],
                             argument: Any) -> Any:  # fmt: skip
        self.statements += 1
        connection = self._free.pop() if self._free else await self._connect()
        try:
            # A statement the server does not answer within the bound has nobody left to
            # answer (the requests' own deadline is as long): its connection is dropped.
            async with asyncio.timeout(self._statement_timeout):
                result = await call(connection, argument)
        except BaseException:
            connection.terminate()
            raise
        if not connection.is_closed():
            self._free.append(connection)
        return result

    async def _connect(self) -> asyncpg.Connection:
        connection: asyncpg.Connection = await asyncpg.connect(
            self._dsn, timeout=self._timeout, server_settings=self._server_settings
        )
        return connection

    async def close(self) -> None:
        """Close the idle connections (those in use close when their statement ends)."""
        free, self._free = self._free, []
        for connection in free:
            with contextlib.suppress(Exception):
                await connection.close(timeout=self._timeout)


@dataclass
class _Waiting:
    """A request waiting for a connection, and the future its answer goes to."""

    key: Hashable
    item: Any
    one: Callable[[asyncpg.Connection, Any], Awaitable[Any]]
    many: Callable[[asyncpg.Connection, list[Any]], Awaitable[list[Any]]]
    future: asyncio.Future[Any]
    taken: bool = False  # by a group: its statement runs, whoever still awaits it


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
        self._lane_pool: StatementPool | None = None
        self._lane_loop: asyncio.AbstractEventLoop | None = None

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
                pool_size=min(4, self.settings.database_pool_size), max_overflow=0,
                pool_pre_ping=False, isolation_level="AUTOCOMMIT",
            )  # fmt: skip
            self._side_engine = create_async_engine(self.settings.url, **kwargs)
            event.listen(self._side_engine.sync_engine, "handle_error", _terminate_if_cancelled)
        return self._side_engine

    def lane_pool(self) -> StatementPool | None:
        """The StatementPool of this process for requests served by one autocommit statement
        and no unit of work (the agency API's lookups and verifies, registry.agency.service);
        None on SQLite. A session, its pool checkout and its adapter cost several times such a
        statement. Same server settings (role, statement timeout) as the engine's connections.
        Few connections (REGISTRY_DATABASE_LANE_POOL_SIZE, 1): each statement is short, the
        requests that wait for one go together in one statement (``StatementPool.run``), and on
        a small machine more active backends cost PostgreSQL more than requests waiting here.
        With more connections requests rarely wait, so rarely go together; with one, calls go
        together at moderate load too, not only at saturation (docs/performance.md,
        "Lane pool size")."""
        loop = asyncio.get_running_loop()
        if self._lane_loop is loop:
            return self._lane_pool
        if self.dialect != "postgresql":
            return None
        # Connections belong to the event loop that made them (tests run several loops).
        self._lane_loop = loop
        url = self.settings.url.set(drivername="postgresql")
        self._lane_pool = StatementPool(
            url.render_as_string(hide_password=False),
            size=self.settings.database_lane_pool_size,
            max_group=self.settings.database_lane_max_group,
            timeout=self.settings.database_pool_timeout,
            server_settings=_server_settings(self.settings),
            statement_timeout=self.settings.request_deadline,
        )
        return self._lane_pool

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
        if self._lane_pool is not None:
            pool, loop = self._lane_pool, self._lane_loop
            self._lane_pool = self._lane_loop = None
            if loop is asyncio.get_running_loop():
                await pool.close()


def dialect_of(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the backend this session talks to."""
    return session.get_bind().dialect.name


async def driver_connection(session: AsyncSession, *, begin: bool = True) -> Any | None:
    """The asyncpg connection under this unit of work, or None on SQLite. For the few
    statements of the hottest paths (the agency API, audit proofs), where SQLAlchemy's own
    work per statement costs several times the round trip: the repository sends their SQL
    straight to the driver (asyncpg prepares and caches each statement per connection).
    Errors must go through ``driver_errors``.

    ``begin``: start the unit of work's transaction now, so that the statements belong to it
    (SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement). A
    read-only request that sends one statement may skip it (``begin=False``): its statement
    then runs in a transaction of its own, without the BEGIN and COMMIT round trips, unless
    the unit of work has begun already.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return None
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if begin and adapted._transaction is None:  # noqa: SLF001
        await adapted._start_transaction()  # noqa: SLF001
    return adapted.driver_connection


@asynccontextmanager
async def driver_errors(session: AsyncSession) -> AsyncIterator[None]:
    """Map the driver's errors as SQLAlchemy would: a database that is unreachable, not ready
    or too slow (``is_unavailable``) is DatabaseUnavailable (503), and unless only the
    statement timed out, the connection is not reused. Other errors propagate unchanged."""
    try:
        yield
    except asyncio.CancelledError:
        # The request's deadline, mid-statement: drop the connection without waiting for the
        # server (a ROLLBACK on it would wait for the cancelled statement first).
        await _cut(session)
        raise
    except DRIVER_ERRORS as exc:
        if not is_unavailable(exc):
            raise
        if getattr(exc, "sqlstate", None) == QUERY_CANCELED:
            raise DatabaseUnavailable("The database did not answer in time.") from exc
        connection = await session.connection()
        await connection.invalidate(exc)
        raise DatabaseUnavailable("The database is not reachable.") from exc


async def hold_lock(session: AsyncSession, key: int) -> None:
    """Serialise this unit of work with every other that takes ``key``, in any process: on
    PostgreSQL a transaction-level advisory lock, released at commit or rollback. SQLite
    writes one transaction at a time already: nothing to take."""
    if dialect_of(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@dataclass(frozen=True)
class _RowInsert:
    sql: str
    binds: tuple[Callable[[Any], Any] | None, ...]


ROW_INSERTS = "row_inserts"  # the key of a session's RowInserts in its ``info``


class RowInserts:
    """The statements ``insert_row`` sends straight to the driver, by table and column names,
    each with its columns' bind processors. Made by each Database (its sessions carry it) and
    lives as long as it; one entry per table and set of columns the code inserts."""

    def __init__(self) -> None:
        self._prepared: dict[tuple[str, tuple[str, ...]], _RowInsert] = {}

    def prepared(self, table: Table, names: tuple[str, ...], dialect: Dialect) -> _RowInsert:
        """The INSERT of these columns of ``table`` (made on first use)."""
        key = (table.name, names)
        found = self._prepared.get(key)
        if found is None:
            columns = [table.c[name] for name in names]
            found = _RowInsert(
                sql=f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - metadata names
                f"VALUES ({', '.join(f'${n}' for n in range(1, len(names) + 1))})",
                binds=tuple(column.type.bind_processor(dialect) for column in columns),
            )
            self._prepared[key] = found
        return found


def _with_python_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    # What SQLAlchemy would add to the INSERT: the columns' scalar Python-side defaults.
    missing = [c for c in table.columns if c.name not in values and c.default is not None]
    if not missing:
        return values
    out = dict(values)
    for column in missing:
        default: Any = column.default
        if not default.is_scalar:
            raise TypeError(f"insert_row: give {table.name}.{column.name} (a computed default)")
        out[column.name] = default.arg
    return out


async def insert_row(session: AsyncSession, table: Table, values: dict[str, Any]) -> None:
    """INSERT one row of ``table`` in the unit of work: these column values, the others their
    defaults. On PostgreSQL the statement goes straight to the driver, the values bound by the
    columns' own bind processors (UTC timestamps included), and a refused row raises
    SQLAlchemy's error as ``session.execute`` would (an IntegrityError is a 409): a fraction of
    the CPU of an INSERT through SQLAlchemy, ORM or Core (docs/performance.md,
    "Direct INSERT"). Pending ORM changes are flushed first, so rows go in the
    order the code makes them."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    driver = await driver_connection(session)
    if driver is None:
        await session.execute(insert(table), [values])
        return
    values = _with_python_defaults(table, values)
    names = tuple(values)
    inserts: RowInserts = session.info[ROW_INSERTS]
    prepared = inserts.prepared(table, names, session.get_bind().dialect)
    args = [
        value if bind is None else bind(value)
        for bind, value in zip(prepared.binds, values.values(), strict=True)
    ]
    async with driver_errors(session):
        try:
            await driver.execute(prepared.sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(prepared.sql, args, exc) from exc
        except asyncpg.PostgresError as exc:
            if is_unavailable(exc):
                raise  # driver_errors: the database is gone or not ready
            raise DBAPIError(prepared.sql, args, exc) from exc


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
            await _cut(session)
    except Exception:  # noqa: S110 - the deadline's error is the one to answer
        pass


async def _cut(session: AsyncSession) -> None:
    """Close the session's connection at once and never hand it out again."""
    connection = await session.connection()
    _terminate((await connection.get_raw_connection()).driver_connection)
    await connection.invalidate()


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
