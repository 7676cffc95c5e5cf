"""core.db.StatementPool: a request runs its own statement when a connection is free; those
that had to wait go to the database together, one statement per group of the same key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from core.db import Database, StatementPool

pytestmark = pytest.mark.postgresql_only  # the statement pool serves PostgreSQL only


@pytest.fixture
async def dsn(database: Database) -> str:
    return database.settings.url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def make_pool(dsn: str) -> AsyncIterator[Any]:
    pools: list[StatementPool] = []

    def make(
        size: int, max_group: int = 64, timeout: float = 10, statement_timeout: float = 10
    ) -> StatementPool:
        pool = StatementPool(
            dsn,
            size=size,
            timeout=timeout,
            server_settings={},
            max_group=max_group,
            statement_timeout=statement_timeout,
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


class Calls:
    """``one`` and ``many`` over real statements, and what each was called with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.release = asyncio.Event()

    async def one(self, connection: asyncpg.Connection, item: int) -> int:
        self.seen.append(("one", item))
        return int(await connection.fetchval("SELECT $1::int * 10", item))

    async def many(self, connection: asyncpg.Connection, items: list[int]) -> list[int]:
        self.seen.append(("many", list(items)))
        rows = await connection.fetch(
            "SELECT x * 10 AS y FROM unnest($1::int[]) WITH ORDINALITY AS t(x, n) ORDER BY n",
            items,
        )
        return [row["y"] for row in rows]

    async def hold(self, connection: asyncpg.Connection, item: None) -> int:
        """Keep the connection busy until ``release`` is set; its backend's pid."""
        await self.release.wait()
        return int(await connection.fetchval("SELECT pg_backend_pid()"))

    async def fail_many(self, connection: asyncpg.Connection, items: list[int]) -> list[int]:
        self.seen.append(("many", list(items)))
        await connection.fetchval("SELECT 1 / 0")
        return []


async def queued(pool: StatementPool, count: int) -> None:
    async with asyncio.timeout(10):
        while pool.waiting < count:
            await asyncio.sleep(0.001)


async def test_a_free_connection_serves_each_request_alone(make_pool: Any) -> None:
    pool, calls = make_pool(2), Calls()
    results: list[int] = list(
        await asyncio.gather(
            pool.run("k", 1, calls.one, calls.many), pool.run("k", 2, calls.one, calls.many)
        )
    )
    assert results == [10, 20]
    assert sorted(calls.seen) == [("one", 1), ("one", 2)]
    assert (pool.statements, pool.grouped, pool.waiting) == (2, 0, 0)


async def test_requests_that_waited_go_together_by_key_oldest_first(make_pool: Any) -> None:
    pool, calls = make_pool(1), Calls()
    held = asyncio.create_task(pool.run("hold", None, calls.hold, calls.many))
    await asyncio.sleep(0.05)
    waiting = [
        asyncio.create_task(pool.run(key, item, calls.one, calls.many))
        for key, item in [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("b", 5), ("c", 6)]
    ]
    await queued(pool, 6)
    calls.release.set()
    assert [await task for task in waiting] == [10, 20, 30, 40, 50, 60]
    await held
    # One statement for the a's (in arrival order), then the b's, then c alone.
    assert calls.seen == [("many", [1, 2, 4]), ("many", [3, 5]), ("one", 6)]
    assert (pool.statements, pool.grouped, pool.waiting) == (4, 5, 0)


async def test_a_group_is_at_most_max_group(make_pool: Any) -> None:
    pool, calls = make_pool(1, max_group=2), Calls()
    held = asyncio.create_task(pool.run("hold", None, calls.hold, calls.many))
    await asyncio.sleep(0.05)
    waiting = [asyncio.create_task(pool.run("a", i, calls.one, calls.many)) for i in range(5)]
    await queued(pool, 5)
    calls.release.set()
    assert await asyncio.gather(*waiting) == [0, 10, 20, 30, 40]
    await held
    assert calls.seen == [("many", [0, 1]), ("many", [2, 3]), ("one", 4)]


async def test_a_cancelled_request_is_left_out_of_its_group(make_pool: Any) -> None:
    pool, calls = make_pool(1), Calls()
    held = asyncio.create_task(pool.run("hold", None, calls.hold, calls.many))
    await asyncio.sleep(0.05)
    first = asyncio.create_task(pool.run("a", 1, calls.one, calls.many))
    second = asyncio.create_task(pool.run("a", 2, calls.one, calls.many))
    await queued(pool, 2)
    first.cancel()
    calls.release.set()
    assert await second == 20
    with pytest.raises(asyncio.CancelledError):
        await first
    await held
    assert calls.seen == [("one", 2)]


async def test_a_failed_group_fails_each_of_its_requests_and_drops_its_connection(
    make_pool: Any,
) -> None:
    pool, calls = make_pool(1), Calls()
    held = asyncio.create_task(pool.run("hold", None, calls.hold, calls.fail_many))
    await asyncio.sleep(0.05)
    waiting = [asyncio.create_task(pool.run("a", i, calls.one, calls.fail_many)) for i in (1, 2)]
    await queued(pool, 2)
    calls.release.set()
    before = await held
    for task in waiting:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await task
    # The failed statement's connection was closed; the next request gets a new one.
    calls.release.set()
    after = await pool.run("hold", None, calls.hold, calls.many)
    assert after != before
    assert await pool.run("a", 7, calls.one, calls.many) == 70
    assert pool.waiting == 0


async def test_a_request_that_waits_past_the_timeout_gives_up_unless_a_group_took_it(
    make_pool: Any,
) -> None:
    pool, calls = make_pool(1, timeout=0.2), Calls()
    # Its connection first: the 0.2 s also bounds connecting, which a loaded machine may take.
    assert await pool.run("warm", 3, Calls().one, Calls().many) == 30
    held = asyncio.create_task(pool.run("hold", None, calls.hold, calls.many))
    await asyncio.sleep(0.05)
    late = asyncio.create_task(pool.run("a", 1, calls.one, calls.many))
    with pytest.raises(TimeoutError):
        await late  # still waiting after 0.2 s: the caller's fallback serves it
    # Taken by a group before its time was up: awaited to the end, however long that takes.
    slow = Calls()

    async def slow_one(connection: asyncpg.Connection, item: int) -> int:
        await asyncio.sleep(0.4)
        return await slow.one(connection, item)

    second = asyncio.create_task(pool.run("b", 2, slow_one, slow.many))
    await queued(pool, 1)
    calls.release.set()
    await held
    assert await second == 20
    assert calls.seen == [] and slow.seen == [("one", 2)]
    assert pool.waiting == 0


async def test_a_statement_without_an_answer_is_cut_and_its_connection_dropped(
    make_pool: Any,
) -> None:
    pool, calls = make_pool(1, statement_timeout=0.5), Calls()
    calls.release.set()
    before = await pool.run("hold", None, calls.hold, calls.many)

    async def unanswered(connection: asyncpg.Connection, item: None) -> None:
        await connection.execute("SELECT pg_sleep(600)")

    async with asyncio.timeout(60):  # without the bound: as long as the statement
        with pytest.raises(TimeoutError):
            await pool.run("a", None, unanswered, calls.many)
    # Its connection was closed, not reused; the next statement gets a new one.
    assert await pool.run("hold", None, calls.hold, calls.many) != before
    assert await pool.run("a", 7, calls.one, calls.many) == 70
