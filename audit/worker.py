"""The in-app sequencer and checkpointer: a background task per process, one active at a time."""

from __future__ import annotations

import asyncio
import time

from audit import sequencer, signing
from audit.checkpoint import Signer
from audit.keys import load_signer
from core.db import Database
from core.logging import fields, get_logger
from core.settings import Settings

log = get_logger("registry.audit")

# Seconds to the next run after a run that gave events their leaves (at most the configured
# interval). Under load every run finds events, so this sets a batch's size: small batches
# make a batch's CPU (its hashing here, its COPY in PostgreSQL, whose backend no nice reaches)
# a short burst on the cores the API's requests share, which keeps their tail latency down.
# Shorter still was worse again: more runs, each with its own fixed work (lock, cursor,
# frontier, commit). See docs/performance.md, "Sequencer interval".
BUSY_INTERVAL = 0.05
# After failed runs (the database down, or not migrated yet), the pause doubles from the
# configured interval up to this: an outage is retried, and logged, every 30 s at most instead
# of every 0.25 s, and the first run after recovery catches up on every event left waiting.
FAILURE_PAUSE_MAX = 30.0


class AuditWorker:
    """Sequences committed events into the Merkle log and signs checkpoints periodically."""

    def __init__(
        self,
        database: Database,
        signer: Signer,
        *,
        origin: str,
        sequence_interval: float = 0.25,
        checkpoint_interval: float = 30.0,
        batch: int = sequencer.DEFAULT_BATCH,
    ) -> None:
        self.database = database
        self.signer = signer
        self.origin = origin
        self.sequence_interval = sequence_interval
        self.checkpoint_interval = checkpoint_interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, database: Database, settings: Settings) -> AuditWorker:
        """The worker as settings configure it: signing key, origin and intervals."""
        return cls(
            database,
            load_signer(settings),
            origin=settings.audit_origin,
            sequence_interval=settings.audit_sequence_interval,
            checkpoint_interval=settings.audit_checkpoint_interval,
        )

    async def sequence_pending(self) -> int:
        """Sequence until no committed event is left without a leaf; returns how many."""
        total = 0
        while True:
            async with self.database.unit_of_work() as session:
                appended = await sequencer.sequence_batch(session, limit=self.batch)
            if not appended:  # None: another process holds the lock; 0: nothing to do
                return total
            total += appended
            if appended < self.batch:
                return total

    async def checkpoint(self) -> str | None:
        """Sign a checkpoint of the current tree if it grew since the last one."""
        async with self.database.unit_of_work() as session:
            return await signing.make_checkpoint(session, self.signer, origin=self.origin)

    def pause_after(self, appended: int, failures: int = 0) -> float:
        """Seconds to wait before the next run: ``BUSY_INTERVAL`` after a run that appended
        events (while they arrive, small batches often), the configured interval after one
        that found none (an idle log is polled no more often than configured); after
        ``failures`` failed runs in a row, the interval doubled for each failure after the
        first, up to ``FAILURE_PAUSE_MAX``."""
        if failures:
            return min(FAILURE_PAUSE_MAX, self.sequence_interval * 2.0 ** min(failures - 1, 32))
        if appended:
            return min(BUSY_INTERVAL, self.sequence_interval)
        return self.sequence_interval

    async def run(self) -> None:
        """Loop until cancelled; errors are logged and retried, never fatal."""
        next_checkpoint = time.monotonic() + self.checkpoint_interval
        failures = 0
        while True:
            appended = 0
            try:
                appended = await self.sequence_pending()
                if time.monotonic() >= next_checkpoint:
                    await self.checkpoint()
                    next_checkpoint = time.monotonic() + self.checkpoint_interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                pause = self.pause_after(appended, failures)
                log.warning(
                    "audit.worker_error",
                    exc_info=exc,
                    extra=fields(failures=failures, retry_in_s=pause),
                )
                await asyncio.sleep(pause)
                continue
            if failures:
                log.warning("audit.worker_recovered", extra=fields(failures=failures))
                failures = 0
            await asyncio.sleep(self.pause_after(appended))

    def start(self) -> None:
        """Start the background task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="audit-worker")

    async def stop(self) -> None:
        """Cancel the background task and wait for it."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
