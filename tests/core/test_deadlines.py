"""core.deadlines: one watchdog per event loop cancels each block still running past its
deadline, as asyncio.timeout would, and leaves every other block alone."""

from __future__ import annotations

import asyncio

import pytest

from core.deadlines import (
    Bound,
    RequestDeadlines,
    Watchdog,
    answer_started,
    may_commit,
    request_deadline_ends,
)
from core.errors import DatabaseUnavailable


async def test_a_block_past_its_deadline_raises_timeout_error() -> None:
    watchdog = Watchdog(0.05)
    with pytest.raises(TimeoutError):
        async with Bound(watchdog):
            await asyncio.sleep(5)


async def test_a_block_that_ends_in_time_is_not_cancelled_later() -> None:
    watchdog = Watchdog(0.05)
    async with Bound(watchdog):
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)  # past the deadline: nothing left to cancel
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_each_of_many_blocks_ends_at_its_own_deadline() -> None:
    # A quarter of a second either side of every deadline: the blocks that end in time are
    # still running when an earlier deadline fires, and end well before their own.
    watchdog = Watchdog(1.0)
    ended: dict[str, str] = {}

    async def block(name: str, seconds: float) -> None:
        try:
            async with Bound(watchdog):
                await asyncio.sleep(seconds)
            ended[name] = "in time"
        except TimeoutError:
            ended[name] = "timed out"

    async def later(name: str, delay: float, seconds: float) -> None:
        await asyncio.sleep(delay)
        await block(name, seconds)

    await asyncio.gather(
        block("quick", 0),
        block("slow", 5),
        later("late quick", 0.5, 0.75),
        later("late slow", 0.5, 5),
    )
    assert ended == {
        "quick": "in time",
        "slow": "timed out",
        "late quick": "in time",
        "late slow": "timed out",
    }


async def test_another_cancellation_is_not_taken_for_the_deadline() -> None:
    watchdog = Watchdog(5)

    async def block() -> None:
        async with Bound(watchdog):
            await asyncio.sleep(5)

    task = asyncio.create_task(block())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_request_past_its_deadline_is_a_503_that_recorded_nothing() -> None:
    deadlines = RequestDeadlines(0.05)

    async def stalled() -> None:
        async with deadlines():
            assert request_deadline_ends() is not None
            await asyncio.sleep(5)

    with pytest.raises(DatabaseUnavailable) as caught:
        await stalled()
    assert caught.value.extensions == {"recorded": "no"}


async def test_a_request_cut_off_after_a_commit_was_sent_may_have_recorded_it() -> None:
    deadlines = RequestDeadlines(0.05)

    async def stalled_commit() -> None:
        async with deadlines():
            may_commit()
            await asyncio.sleep(5)

    with pytest.raises(DatabaseUnavailable) as caught:
        await stalled_commit()
    assert caught.value.extensions == {"recorded": "unknown"}


async def test_a_request_whose_answer_started_has_no_deadline_any_more() -> None:
    deadlines = RequestDeadlines(0.05)
    async with deadlines():
        answer_started()
        assert request_deadline_ends() is None
        await asyncio.sleep(0.1)


async def test_a_task_started_by_the_request_is_not_under_its_deadline() -> None:
    deadlines = RequestDeadlines(5)

    async def inner() -> float | None:
        return request_deadline_ends()

    async with deadlines():
        assert await asyncio.create_task(inner()) is None
