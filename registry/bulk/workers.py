"""Bulk import's validating workers: a pool of processes that validate the chunks of a file
in order (``registry.bulk.pipeline.validate_chunk``), each putting its chunk's COPY text in
shared memory, and that exit when the importing process is gone."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

from registry.bulk import keep_freed_memory, worker_context
from registry.bulk.pipeline import (
    LAST_BYTES,
    Chunk,
    ChunkResult,
    Header,
    count_chunk,
    read_span,
    validate_chunk,
    validate_span,
)
from registry.bulk.reader import Format

SLOT_BYTES = 2 << 20  # a 1 MB chunk's COPY text is about 1.2 MB; a larger one takes the pipe
Slot = tuple[str, int, int]  # (shared memory's name, slot, slot size): where a worker puts copy


class _Slots:
    """Shared memory the workers write each chunk's COPY text into, one slot per chunk in flight.

    Sent back through the pool's pipe, the text was pickled, written to the pipe, read from it
    and unpickled: most of the CPU of all the exchanges between the importer and its workers
    (docs/performance.md, "Shared-memory slots").
    Here it is copied once into the slot and once out of it. A slot is taken when its chunk is
    submitted and given back once its text has been read (or its task can no longer run).
    """

    def __init__(self, count: int) -> None:
        self.size = SLOT_BYTES
        self.memory = shared_memory.SharedMemory(create=True, size=count * self.size)
        self.free = list(range(count))

    @staticmethod
    def fit(count: int) -> bool:
        """Whether /dev/shm has room for ``count`` slots twice over: writing into shared
        memory the file system cannot hold kills the process (a container's /dev/shm is often
        64 MB), so without room the text goes through the pipe as before."""
        try:
            stat = os.statvfs("/dev/shm")  # noqa: S108 - only its free space is read
        except OSError:
            return False
        return stat.f_bavail * stat.f_frsize >= 2 * count * SLOT_BYTES

    def take(self) -> Slot | None:
        """A free slot for a chunk about to be submitted (None: the text takes the pipe)."""
        if not self.free:
            return None
        return self.memory.name, self.free.pop(), self.size

    def receive(self, result: ChunkResult, slot: Slot | None) -> ChunkResult:
        """``result`` with its COPY text read from its slot, and the slot given back."""
        if slot is not None:
            if result.shared >= 0:
                start = slot[1] * self.size
                result.copy = bytes(_buffer(self.memory)[start : start + result.shared])
                result.shared = -1
            self.free.append(slot[1])
        return result

    def release(self, future: Future[ChunkResult], slot: Slot | None) -> None:
        """Give back the slot of a task whose result will not be read, once it cannot run."""
        if slot is not None:
            future.add_done_callback(lambda _done: self.free.append(slot[1]))

    def close(self) -> None:
        """Unmap and remove the shared memory (after the workers have stopped)."""
        self.memory.close()
        self.memory.unlink()


def _buffer(memory: shared_memory.SharedMemory) -> memoryview:
    if memory.buf is None:  # closed
        raise RuntimeError("the import's shared memory was closed")
    return memory.buf


# In a validating worker only (a process of a Validator's pool, never the importer): the
# importer's slots, attached once by name. Process-local, not shared state: a mapping belongs
# to the process that made it (the importer cannot send one), it must outlive a task to be
# attached once, and the worker lives as long as its Validator (one import), whose one block
# of slots is all it ever attaches.
_ATTACHED: dict[str, shared_memory.SharedMemory] = {}


def validate_into(
    slot: Slot | None, validate: Callable[..., ChunkResult], *args: Any, **kwargs: Any
) -> ChunkResult:
    """In a worker: ``validate(*args, **kwargs)``, its COPY text put in ``slot`` if it fits."""
    result = validate(*args, **kwargs)
    if slot is None or len(result.copy) > slot[2]:
        return result
    name, index, size = slot
    memory = _ATTACHED.get(name)
    if memory is None:
        # Registered with the resource tracker the importer's memory is registered with
        # (forkserver shares it), which removes it if the importer dies without doing so.
        memory = _ATTACHED[name] = shared_memory.SharedMemory(name=name)
    start = index * size
    _buffer(memory)[start : start + len(result.copy)] = result.copy
    result.shared, result.copy = len(result.copy), b""
    return result


class Validator:
    """Chunks validated in order, by ``workers`` processes (or in this one when workers <= 1)."""

    def __init__(
        self,
        fmt: Format,
        header: Header | None,
        *,
        today: date,
        run_id: int,
        workers: int,
        depth: int = 0,
        path: Path | None = None,
    ) -> None:
        """With ``path`` (the file the chunks come from), workers read each chunk's bytes from
        the file themselves instead of receiving them through a pipe; they put the COPY text
        in shared memory (``_Slots``) rather than sending it back through one."""
        self.fmt, self.header, self.today, self.run_id = fmt, header, today, run_id
        self.path = path
        self.mended = False  # a chunk was cut inside a row and read again joined with the next
        self.pool: ProcessPoolExecutor | None = None
        # Chunks submitted ahead of the one being loaded: enough to keep every worker busy
        # while a batch (several chunks) is being loaded, few enough to keep memory flat.
        self.depth = depth or max(2, 8 * workers)
        self.slots: _Slots | None = None
        if workers > 1:
            keep_freed_memory()
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=worker_context(),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
            if _Slots.fit(self.depth + 1):
                self.slots = _Slots(self.depth + 1)

    def peeking(self) -> bool:
        """Whether ``chunks`` may cut the file from the bytes around each cut alone: while
        workers read their spans themselves and no such cut has had to be mended."""
        return self.pool is not None and self.path is not None and not self.mended

    def close(self) -> None:
        """Stop the workers."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.slots is not None:
            self.slots.close()
            self.slots = None

    def _submit(self, chunk: Chunk, skip: int) -> tuple[Future[ChunkResult] | None, Slot | None]:
        if self.pool is None:
            return None, None  # validated when its turn comes
        slot = self.slots.take() if self.slots is not None else None
        if self._spans(chunk):
            return self.pool.submit(
                validate_into,
                slot,
                validate_span,
                str(self.path),
                chunk.at,
                _length(chunk),
                chunk.data[-LAST_BYTES:] if chunk.data else chunk.last,
                self.fmt,
                self.header,
                final=chunk.final,
                skip=skip,
                today=self.today,
                run_id=self.run_id,
            ), slot
        return self.pool.submit(
            validate_into,
            slot,
            validate_chunk,
            chunk.data,
            self.fmt,
            self.header,
            final=chunk.final,
            skip=skip,
            today=self.today,
            run_id=self.run_id,
            at=chunk.at,
        ), slot

    def _spans(self, chunk: Chunk) -> bool:
        """Whether a worker reads ``chunk``'s bytes from the file itself (validate_span)."""
        return self.path is not None and chunk.at >= 0 and _length(chunk) > 0

    def _bytes(self, chunk: Chunk) -> bytes:
        """The chunk's bytes, read again from the file if they were let go."""
        if chunk.data or not chunk.size or self.path is None:
            return chunk.data
        return read_span(self.path, chunk.at, chunk.size)

    def _now(self, chunk: Chunk, skip: int) -> ChunkResult:
        return validate_chunk(
            self._bytes(chunk),
            self.fmt,
            self.header,
            final=chunk.final,
            skip=skip,
            today=self.today,
            run_id=self.run_id,
            at=chunk.at,
        )

    async def results(
        self, source: Iterator[Chunk], *, skip: int = 0
    ) -> AsyncIterator[ChunkResult]:
        """The results of ``source``'s chunks in file order, skipping its first ``skip`` rows."""
        paired = self._skipping(source, skip)
        pending: deque[tuple[Chunk, int, Future[ChunkResult] | None, Slot | None]] = deque()

        def top_up() -> None:
            while len(pending) < self.depth:
                item = next(paired, None)
                if item is None:
                    return
                chunk, rows_to_skip = item
                future, slot = self._submit(chunk, rows_to_skip)
                if future is not None and self._spans(chunk):
                    # The worker reads these bytes from the file: keep only where they are.
                    chunk = Chunk(b"", chunk.final, chunk.at, _length(chunk))
                pending.append((chunk, rows_to_skip, future, slot))

        carry: tuple[Chunk, int] | None = None
        top_up()
        while pending:
            chunk, rows_to_skip, future, slot = pending.popleft()
            if carry is not None:
                # The previous chunk ended inside a row, so this one was read from a wrong
                # start: read the two as one (rare, so here rather than in a worker).
                if future is not None:
                    future.cancel()
                    if self.slots is not None:
                        self.slots.release(future, slot)
                joined = self._bytes(carry[0]) + self._bytes(chunk)
                chunk = Chunk(joined, chunk.final, at=carry[0].at)
                rows_to_skip = carry[1]
                carry = None
                result = self._now(chunk, rows_to_skip)
            elif future is not None:
                result = await asyncio.wrap_future(future)
                if self.slots is not None:
                    result = self.slots.receive(result, slot)
            else:
                result = self._now(chunk, rows_to_skip)
            top_up()  # once this chunk's slot is free again
            if not result.clean_end and not chunk.final:
                carry = (chunk, rows_to_skip)
                self.mended = True
                continue
            result.at, result.end = chunk.at, chunk.at + _length(chunk)
            yield result

    def _skipping(self, source: Iterator[Chunk], skip: int) -> Iterator[tuple[Chunk, int]]:
        """Chunks paired with how many of their leading rows to skip (a resumed import)."""
        carry, at = b"", 0
        for chunk in source:
            if skip <= 0:
                yield chunk, 0
                continue
            if not carry:
                at = chunk.at
            data = carry + self._bytes(chunk)
            counted = count_chunk(data, self.fmt, self.header, final=chunk.final)
            if not counted.clean_end and not chunk.final:
                carry = data
                continue
            carry = b""
            if counted.rows <= skip:
                skip -= counted.rows
                if chunk.final:
                    yield Chunk(b"", final=True, at=at + len(data)), 0
                continue
            yield Chunk(data, chunk.final, at=at), skip
            skip = 0


def _length(chunk: Chunk) -> int:
    """How many bytes of the file ``chunk`` holds (or held, before they were let go)."""
    return len(chunk.data) or chunk.size


def _start_worker(pid: int) -> None:
    """A validating worker's start: its malloc tuned as the importer's, and its watch on it."""
    keep_freed_memory()
    _watch_parent(pid)


def _watch_parent(pid: int) -> None:
    """In a worker: exit when the importing process is gone (killed with SIGKILL, say).

    The workers hold both ends of the pool's task queue, so they would not see it close;
    without this they (and the fork server) would wait for tasks forever.
    """

    def watch() -> None:
        while _alive(pid):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="watch-importer", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: ask the kernel whether the process exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in (b"Z", b"X")  # a zombie is dead, only not yet reaped
