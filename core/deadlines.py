"""Deadlines: one watchdog timer per event loop cancels the tasks that run past theirs.

A timer per request (``asyncio.timeout``) schedules and cancels a timer handle on the event
loop's heap for every request, though almost none expires. A watchdog keeps the deadlines of
one duration in the order they end and holds one timer, set to the earliest deadline still
running: a request's deadline costs an append to a queue and is dropped when it ends
(docs/performance.md, "What the fixes of #24 cost").
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from types import TracebackType

from core.errors import DatabaseUnavailable


class Watch:
    """One task's deadline, as the watchdog keeps it."""

    __slots__ = ("cancelling", "expired", "in_doubt", "task", "when")

    def __init__(self, task: asyncio.Task[object] | None, when: float) -> None:
        self.task = task  # None once the block ended (or its deadline no longer applies)
        self.when = when
        self.cancelling = task.cancelling() if task is not None else 0
        self.expired = False
        self.in_doubt = False  # a write that commits may have been sent (``may_commit``)


class Watchdog:
    """Cancels each watched task that is still in its block ``seconds`` after it entered: as
    ``asyncio.timeout(seconds)`` would, with one timer for all of them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: collections.deque[Watch] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self) -> Watch:
        """Start the running task's deadline."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a watchdog serves the loop it first ran on (tests run several)
            self._loop, self._watches, self._timer = loop, collections.deque(), None
        watch = Watch(asyncio.current_task(loop), loop.time() + self.seconds)
        watches = self._watches
        while watches and watches[0].task is None:
            watches.popleft()  # ended: nothing left to cancel
        watches.append(watch)
        if self._timer is None:
            self._timer = loop.call_at(watch.when, self._expire, loop)
        return watch

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return  # a timer of a loop this watchdog no longer serves
        self._timer = None
        now = loop.time()
        watches = self._watches
        while watches:
            first = watches[0]
            if first.task is not None and first.when > now:
                self._timer = loop.call_at(first.when, self._expire, loop)
                return
            watches.popleft()
            if first.task is not None:
                first.expired = True
                first.task.cancel()

    @staticmethod
    def end(watch: Watch, exc_type: type[BaseException] | None) -> bool:
        """End ``watch``'s block; True when the watchdog's cancellation is what ends it (as
        ``asyncio.Timeout.__aexit__`` decides: no other cancellation was asked meanwhile)."""
        watch.task = None
        if not watch.expired:
            return False
        current = asyncio.current_task()
        if current is None:
            return False
        return current.uncancel() <= watch.cancelling and exc_type is asyncio.CancelledError


class Bound:
    """``async with Bound(watchdog)``: the block is cancelled past the watchdog's duration, and
    TimeoutError raised, as ``asyncio.timeout`` would. None: no bound."""

    __slots__ = ("_watch", "_watchdog")

    def __init__(self, watchdog: Watchdog | None) -> None:
        self._watchdog = watchdog
        self._watch: Watch | None = None

    async def __aenter__(self) -> None:
        if self._watchdog is not None:
            self._watch = self._watchdog.watch()
            self._entered(self._watch)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watch = self._watch
        if watch is None:
            return
        self._leaving()
        if Watchdog.end(watch, exc_type):
            timeout = TimeoutError()
            timeout.__cause__ = exc
            raise self._timed_out(watch, timeout)

    def _entered(self, watch: Watch) -> None:
        """The block's deadline started."""

    def _leaving(self) -> None:
        """The block ends, in time or not."""

    def _timed_out(self, watch: Watch, timeout: TimeoutError) -> BaseException:
        """What the block raises when its deadline cut it off."""
        return timeout


_deadline: contextvars.ContextVar[Watch | None] = contextvars.ContextVar(
    "request_deadline", default=None
)


class RequestDeadlines:
    """The requests' deadline of one app: ``async with deadlines():`` around a request bounds
    the time until its answer starts. Past it, whatever the block awaits (an ORM session's
    statement or checkout, a statement sent to the driver, a wait in the StatementPool) is
    cancelled, its connection dropped, and DatabaseUnavailable raised: a 503 with Retry-After
    whose ``recorded`` member says "no", or "unknown" when a COMMIT or a statement that commits
    by itself had been sent (``may_commit``): it may have taken effect, and what did stays
    recorded. None: no deadline."""

    def __init__(self, seconds: float | None) -> None:
        self._watchdog = Watchdog(seconds) if seconds is not None else None

    def __call__(self) -> _RequestDeadline:
        return _RequestDeadline(self._watchdog)


class _RequestDeadline(Bound):
    __slots__ = ("_token",)

    def _entered(self, watch: Watch) -> None:
        self._token = _deadline.set(watch)

    def _leaving(self) -> None:
        _deadline.reset(self._token)

    def _timed_out(self, watch: Watch, timeout: TimeoutError) -> BaseException:
        error = DatabaseUnavailable(
            "The database did not answer in time.",
            extensions={"recorded": "unknown" if watch.in_doubt else "no"},
        )
        error.__cause__ = timeout
        return error


def request_deadline_ends() -> float | None:
    """When (event loop time) the running request's deadline cuts off the running task, or
    None (no deadline, or one that no longer applies, or another task's: a task started by
    the request inherits its context but is not cancelled with it)."""
    watch = _deadline.get()
    if watch is None or watch.task is None or watch.task is not asyncio.current_task():
        return None
    return watch.when


def answer_started() -> None:
    """The request's answer has begun: its deadline no longer applies (a streamed body, such
    as an export, may take longer; each of its statements has statement_timeout)."""
    watch = _deadline.get()
    if watch is not None and not watch.expired:
        watch.task = None


def may_commit() -> None:
    """A COMMIT, or a statement that commits by itself, is about to be sent: if the request's
    deadline cuts it off, its answer must not say that nothing was recorded."""
    watch = _deadline.get()
    if watch is not None:
        watch.in_doubt = True
