"""Verify: recompute every leaf from its event, rebuild the root, check every signed
checkpoint, and name the first index that disagrees. No HTTP here."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle
from audit import repository as repo
from audit import tree_repository as tree_repo
from audit.checkpoint import Checkpoint, CheckpointError, Verifier, open_checkpoint
from audit.events import EventData, leaf_bytes
from core.db import dialect_of

try:  # verify's leaf loop in C (audit/_native.c), optional at build time
    from audit import _native
except ImportError:  # pragma: no cover - built without a compiler or OpenSSL's headers
    _native = None  # type: ignore[assignment]
NATIVE_VERIFY = _native is not None

MAX_REPORTED = 50  # problem lines kept in a verify report (the first index is always kept)
MOVED_SEARCH_WINDOW = 64  # how far verify looks for a moved event's original index
MAX_MOVED_SEARCHES = 16  # leaves for which verify looks at all (a mass renumbering is obvious)


def _original_index(
    event: EventData, stored_hash: bytes, index: int, report: VerifyReport
) -> int | None:
    """Where a moved event was sequenced: its leaf hash commits to its original index."""
    report.searches += 1
    if report.searches > MAX_MOVED_SEARCHES:
        return None
    for distance in range(1, MOVED_SEARCH_WINDOW + 1):
        for candidate in (index - distance, index + distance):
            if candidate >= 0 and merkle.leaf_hash(leaf_bytes(event, candidate)) == stored_hash:
                return candidate
    return None


@dataclass
class VerifyReport:
    """What ``verify`` found: sizes checked, and the first disagreement if any."""

    leaves: int = 0
    checkpoints: int = 0
    root: bytes = b""
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)
    searches: int = 0

    @property
    def ok(self) -> bool:
        """True when every leaf, every checkpoint and the root agree."""
        return not self.problems


class _Rebuild:
    """The tree being rebuilt by verify: leaves in index order, gaps and checkpoints noted."""

    def __init__(self, report: VerifyReport, checkpoints: list[Checkpoint]) -> None:
        self.report = report
        self.pending = checkpoints
        self.compact = merkle.CompactRange()
        self.expected = 0  # the index the next stored leaf should have
        self.check_checkpoints()

    def note_bad(self, index: int, why: str) -> None:
        report = self.report
        if report.first_bad_index is None or index < report.first_bad_index:
            report.first_bad_index = index
        if len(report.problems) < MAX_REPORTED:
            report.problems.append(f"index {index}: {why}")

    def saw(self, index: int) -> None:
        """A stored leaf at ``index``: note the gap when the previous ones are missing."""
        if index != self.expected:
            self.note_bad(self.expected, f"leaf missing (next stored leaf is {index})")
        self.expected = index + 1

    def leaf(self, row: Any) -> bytes:
        """The leaf hash of one log row recomputed in Python, with what is wrong noted."""
        index = int(row.leaf_index)
        stored_hash = bytes(row.leaf_hash)
        if row.event_uid is None:
            self.note_bad(index, "its event row is missing")
            # Any 32 bytes keep the tree going; a root over them cannot match a checkpoint.
            return stored_hash if len(stored_hash) == 32 else merkle.leaf_hash(stored_hash)
        event = repo.event_data(row)
        rebuilt = merkle.leaf_hash(leaf_bytes(event, index))
        if rebuilt != stored_hash:
            origin_index = _original_index(event, stored_hash, index, self.report)
            if origin_index is None:
                self.note_bad(index, "the event does not match its leaf (modified)")
            else:
                # Rows were renumbered: everything from the nearer position on is suspect.
                self.note_bad(
                    min(origin_index, index),
                    f"the event sequenced at index {origin_index} now sits at {index} "
                    "(rows inserted, deleted or reordered)",
                )
        return rebuilt

    def extend(self, packed: bytes | bytearray) -> None:
        """Append leaf hashes packed end to end, stopping at each checkpoint size to compare
        roots."""
        count = len(packed) // 32
        position = 0
        while position < count:
            stop = count
            if self.pending and self.pending[0].size - self.compact.size < stop - position:
                stop = position + self.pending[0].size - self.compact.size
            self.compact = self.compact.extend_packed(packed[32 * position : 32 * stop])
            position = stop
            self.check_checkpoints()

    def check_checkpoints(self) -> None:
        while self.pending and self.pending[0].size == self.compact.size:
            cp = self.pending.pop(0)
            if self.compact.root() != cp.root_hash:
                self.report.problems.append(
                    f"checkpoint of size {cp.size} does not match the rebuilt root"
                )


async def verify(session: AsyncSession, verifier: Verifier, *, origin: str) -> VerifyReport:
    """Recompute every leaf from its event, rebuild the root, check every signed checkpoint.

    Reads one snapshot of the log, so it must be the first call of its unit of work.
    """
    await tree_repo.read_one_snapshot(session)
    report = VerifyReport()
    checkpoints = []
    for stored in await repo.all_checkpoints(session):
        try:
            checkpoints.append(open_checkpoint(stored.note, verifier, origin=origin))
        except CheckpointError as exc:
            report.problems.append(f"checkpoint of size {stored.tree_size} is not valid: {exc}")
    report.checkpoints = len(checkpoints)
    tree = _Rebuild(report, list(checkpoints))
    if NATIVE_VERIFY and dialect_of(session) == "postgresql":
        await _rebuild_in_database(session, tree)
    else:
        await _rebuild_in_python(session, tree)
    compact = tree.compact
    report.leaves = compact.size
    report.root = compact.root()
    for cp in tree.pending:
        report.problems.append(
            f"checkpoint of size {cp.size} is beyond the {compact.size} leaves in the log"
        )
    cursor = await tree_repo.current_cursor(session)
    if cursor.tree_size != compact.size:
        report.problems.append(
            f"the sequencer recorded {cursor.tree_size} leaves but the log holds {compact.size}"
        )
    for row in await tree_repo.unsequenced_behind(session, cursor):
        where = await tree_repo.leaf_index_after_event(session, int(row.id))
        tree.note_bad(
            where, f"event {row.event_uid} was inserted behind the sequencer, without a leaf"
        )
    return report


async def _rebuild_in_python(session: AsyncSession, tree: _Rebuild) -> None:
    """Every leaf recomputed here from its event row (SQLite)."""
    async for rows in tree_repo.stream_log(session):
        hashes = []
        for row in rows:
            tree.saw(int(row.leaf_index))
            hashes.append(tree.leaf(row))
        tree.extend(b"".join(hashes))


async def _rebuild_in_database(session: AsyncSession, tree: _Rebuild) -> None:
    """PostgreSQL streams the log rows chunk by chunk (binary COPY) and audit/_native.c renders
    and hashes each event in a thread while the next chunk arrives. The leaves it cannot render
    with certainty, or whose hash differs from the stored one, are recomputed here from their
    row, so every verdict on a leaf is leaf_bytes'."""
    assert _native is not None  # noqa: S101 - verify() chose this path for that reason
    async with aclosing(tree_repo.LeafCopies(session)) as chunks:
        async for copied in chunks:
            if copied.events is None:
                work = partial(_native.leaf_rows, copied.leaves)
            else:
                work = partial(_native.leaf_rows_joined, copied.leaves, copied.events)
            count, first, indexes, packed, suspects = await asyncio.to_thread(work)
            if indexes is None:
                tree.saw(first)
                tree.expected = first + count
            else:
                for index in indexes:
                    tree.saw(index)
            if suspects:
                at = [first + k if indexes is None else indexes[k] for k in suspects]
                rows = {int(row.leaf_index): row for row in await chunks.rows(at)}
                mended = bytearray(packed)
                for k, index in zip(suspects, at, strict=True):
                    mended[32 * k : 32 * k + 32] = tree.leaf(rows[index])
                tree.extend(mended)
            else:
                tree.extend(packed)
