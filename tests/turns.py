"""Make a race happen every time: concurrent workers are held after they look at something
until every other one has looked too, waits for an advisory lock, or is done. Without the lock
under test they all see the same thing and each acts on it; with it they take turns."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy import text

from core.db import Database

T = TypeVar("T")

ADVISORY_WAITS = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"


class LookBarrier:
    """For ``workers`` concurrent workers on PostgreSQL (``database`` runs the probe)."""

    def __init__(self, database: Database, workers: int) -> None:
        self.database = database
        self.workers = workers
        self.looked = 0
        self.done = 0

    async def after_look(self) -> None:
        """Call right after a worker looked: wait for the others as above."""
        self.looked += 1
        try:
            while True:  # each look at pg_stat_activity lets the other workers run meanwhile
                async with self.database.unit_of_work() as probe:
                    waiting = int(await probe.scalar(text(ADVISORY_WAITS)) or 0)
                if self.looked + waiting + self.done >= self.workers:
                    return
        finally:
            self.looked -= 1

    async def run(self, work: Awaitable[T]) -> T:
        """One worker's whole work (it counts as done afterwards, whatever the outcome)."""
        try:
            return await work
        finally:
            self.done += 1
