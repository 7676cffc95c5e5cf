"""The StatementPool: requests served by one autocommit statement each, those that had to wait
for a connection gathered into one statement per group."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from core.deadlines import Bound, Watchdog, may_commit, request_deadline_ends

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


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
        self._server_settings = server_settings
        self._size = size
        self._max_group = max_group
        self._free: list[asyncpg.Connection] = []
        self._busy = 0  # statements running
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._groups: set[asyncio.Task[None]] = set()
        # One timer each for the waits and the statements of every request, not one per request.
        self._waits = Watchdog(timeout)
        self._statements = Watchdog(statement_timeout) if statement_timeout is not None else None
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
                async with Bound(self._waits):
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

    async def _on_connection(
        self, call: Callable[[asyncpg.Connection, Any], Awaitable[Any]], argument: Any
    ) -> Any:
        self.statements += 1
        connection = self._free.pop() if self._free else await self._connect()
        try:
            # A statement the server does not answer within the bound has nobody left to
            # answer (the requests' own deadline is as long): its connection is dropped.
            async with Bound(self._statement_bound()):
                result = await call(connection, argument)
        except BaseException:
            connection.terminate()
            raise
        if not connection.is_closed():
            self._free.append(connection)
        return result

    def _statement_bound(self) -> Watchdog | None:
        """The statements' watchdog, unless the running request's own deadline cuts the
        statement off first (a request served alone, on its own task)."""
        watchdog = self._statements
        if watchdog is None:
            return None
        ends = request_deadline_ends()
        if ends is not None and ends <= asyncio.get_running_loop().time() + watchdog.seconds:
            return None
        return watchdog

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
