"""The import loop: read, validate like the API, load in batches, resume, report, audit."""

from __future__ import annotations

import asyncio
import csv
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import record
from core.db import Database
from core.principal import Principal
from registry.bulk import POOL_MIN_BYTES
from registry.bulk import repository as repo
from registry.bulk.pipeline import (
    Header,
    chunks,
    copy_slice,
    position_after,
    read_header,
    record_rejects,
    rejects_between,
    rows_between,
)
from registry.bulk.reader import (
    REJECT_HEADER,
    Format,
    Reject,
    RowError,
    Rows,
    check_file,
    detect_format,
    file_digest,
)
from registry.bulk.workers import Validator
from registry.record import COLUMNS, REQUIRED, RecordInvalid, parse_record

DEFAULT_BATCH = 10_000
IN_FLIGHT = 2  # batches loading at once on PostgreSQL, each on its own connection
AFTER_WAIT = 2.0  # seconds a loaded batch waits for the one before it to commit


@dataclass
class ImportReport:
    """What one run did (and, for a finished file, what the whole job did)."""

    file_digest: str
    rows: int = 0
    loaded: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    resumed_from: int = 0
    rejected_before: int = 0  # rows the runs before this one rejected (it resumed after them)
    already_done: bool = False
    reject_path: Path | None = None
    # What an initial load deferred (citizen's secondary indexes and replaced_by key), made at
    # its end, and how long making them took.
    deferred_built: tuple[str, ...] = ()
    deferred_seconds: float = 0.0

    @property
    def file_rejected(self) -> int:
        """Rows of the file rejected, by this run and those it resumed after."""
        return self.rejected_before + self.rejected


def check_import_file(path: Path, fmt: Format | None = None) -> Format:
    """The file's format; FileRefused when the file is not one ``import_file`` reads (its
    header is not the record's columns, or not comma-separated; not NDJSON records)."""
    fmt = fmt or detect_format(path)
    check_file(path, fmt, columns=COLUMNS, required=REQUIRED)
    return fmt


async def import_file(
    database: Database,
    path: Path,
    *,
    actor: Principal,
    fmt: Format | None = None,
    update: bool = False,
    batch_size: int = DEFAULT_BATCH,
    reject_path: Path | None = None,
    legal_basis: str = "bulk import",
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
    workers: int | None = None,
    digest: str | None = None,
) -> ImportReport:
    """Import ``path``; rerunning adds nothing, and a killed run resumes where it stopped.

    On PostgreSQL (without ``update``) rows are validated by ``workers`` processes (default:
    up to 2 for a large file) while this one loads the batches before them with COPY.
    ``digest`` is the file's ``file_digest`` when the caller has already read it. A file
    ``check_import_file`` refuses raises FileRefused before anything is recorded. After each
    batch ``progress`` is told its rows and how far into the file (bytes) they reach.
    """
    fmt = check_import_file(path, fmt)
    digest = digest or file_digest(path)
    rejects_file = reject_path or _default_rejects(path)
    report = ImportReport(file_digest=digest, reject_path=rejects_file)
    async with database.unit_of_work() as session:
        job = await repo.find_job(session, digest)
        if job is None:
            job = await repo.create_job(session, digest, path.name)
            start = 0
        elif job.status == "done" and not update:
            report.already_done = True
            report.rows, report.rejected = job.rows_done, job.rejected
            return report
        else:
            start = 0 if job.status == "done" else job.rows_done
            report.rejected_before = 0 if job.status == "done" else job.rejected
            await repo.set_job_status(session, job.id, "running")
        job_id = job.id
        # This run is version 1 of every record it creates.
        run_id = await repo.create_run(
            session,
            job_id,
            actor_type=actor.actor_type,
            actor_id=actor.actor_id,
            legal_basis=legal_basis,
        )
    report.resumed_from = start
    _trim_rejects(rejects_file, keep_through=start)
    day = today or date.today()
    ctx = _Run(
        database=database,
        report=report,
        job_id=job_id,
        run_id=run_id,
        digest=digest,
        actor=actor,
        legal_basis=legal_basis,
        rejects_file=rejects_file,
        progress=progress,
    )

    # Filling an empty table (the first load of a country), citizen's secondary indexes and
    # replaced_by key are made once at the end rather than kept up row by row; a stopped load
    # leaves them to the run that finishes it.
    deferred = False
    if database.dialect == "postgresql":
        async with database.unit_of_work() as session:
            deferred = await repo.defer_secondary(session)
    header = read_header(path) if fmt == "csv" else None
    if database.dialect == "postgresql" and not update and (fmt == "ndjson" or header):
        offset = header[1] if header else 0
        if workers is None:
            # A pool pays for itself only on a file of some size.
            workers = min(2, os.cpu_count() or 1) if path.stat().st_size > POOL_MIN_BYTES else 1
        await _load_pipelined(
            ctx,
            path,
            fmt,
            header[0] if header else None,
            offset=offset,
            start=start,
            batch_size=batch_size,
            today=day,
            workers=workers,
        )
    else:
        await _load_rows(
            ctx, path, fmt, start=start, batch_size=batch_size, today=day, update=update
        )
    if deferred:
        began = time.perf_counter()
        report.deferred_built = await _build_deferred(database)
        report.deferred_seconds = time.perf_counter() - began
    async with database.unit_of_work() as session:
        await repo.set_job_status(session, job_id, "done")
    return report


class _Overtaken(Exception):
    """A batch waited too long for the one before it (see ``_Run.commit_batch``)."""


async def _build_deferred(database: Database) -> tuple[str, ...]:
    """Build citizen's missing secondary indexes at once, each on its own connection, then its
    replaced_by key (whose locks would wait for the index builds anyway)."""
    async with database.unit_of_work() as session:
        missing = await repo.missing_deferred(session)

    async def build(name: str) -> bool:
        async with database.unit_of_work() as session:
            return await repo.build_deferred(session, name)

    indexes = [name for name in missing if name != repo.SELF_KEY_NAME]
    made = await asyncio.gather(*map(build, indexes))
    built = [name for name, ok in zip(indexes, made, strict=True) if ok]
    if repo.SELF_KEY_NAME in missing and await build(repo.SELF_KEY_NAME):
        built.append(repo.SELF_KEY_NAME)
    return tuple(built)


@dataclass
class _Run:
    """What every batch of one run needs to commit itself."""

    database: Database
    report: ImportReport
    job_id: int
    run_id: int
    digest: str
    actor: Principal
    legal_basis: str
    rejects_file: Path
    progress: Callable[[int, int], None] | None
    direct: bool = True  # COPY straight into the table until a batch meets registered numbers
    staged_batches: int = 0

    async def commit_batch(
        self,
        load: Callable[[AsyncSession], Awaitable[tuple[int, int, int]]],
        bad: list[Reject],
        first_row: int,
        last_row: int,
        position: int,
        after: asyncio.Future[None] | None = None,
    ) -> None:
        """One transaction: load the rows, move the job forward, record the batch's event
        (``position``: how far into the file, in bytes, its last row reaches).

        With ``after`` (the batch before this one, still in flight), the rows are loaded at
        once but the job moves forward only once that batch has committed, so batches commit
        in file order and a resumed import never skips a batch that was lost; if that batch
        failed, this one fails too. A batch that waits longer than ``AFTER_WAIT`` for it rolls
        back and loads again once it is done: the one before may be waiting for rows this one
        holds (the same number in both), a wait no lock manager can see.
        """
        if after is not None:
            try:
                await self._commit(load, bad, first_row, last_row, position, after)
                return
            except _Overtaken:
                await after
        await self._commit(load, bad, first_row, last_row, position, None)

    async def _commit(
        self,
        load: Callable[[AsyncSession], Awaitable[tuple[int, int, int]]],
        bad: list[Reject],
        first_row: int,
        last_row: int,
        position: int,
        after: asyncio.Future[None] | None,
    ) -> None:
        actor = self.actor
        async with self.database.unit_of_work() as session:
            loaded, changed, good = await load(session)
            if after is not None:
                done, _ = await asyncio.wait({after}, timeout=AFTER_WAIT)
                if not done:
                    raise _Overtaken  # rolls back, which frees this batch's rows
                after.result()  # the batch before failed: so does this one
            rejected_rows = len({reject[0] for reject in bad})
            skipped = good - loaded - changed
            await repo.advance_job(
                session,
                self.job_id,
                rows_done=last_row,
                loaded=loaded,
                rejected=rejected_rows,
                skipped=skipped,
            )
            # One audit event per batch: who loaded which file, which rows, how many.
            await record(
                session,
                actor=actor,
                action="registry.import_batch",
                outcome="granted",
                fields=COLUMNS,
                purpose="civil_registration",
                detail={
                    "file_digest": self.digest,
                    "first_row": first_row,
                    "last_row": last_row,
                    "loaded": loaded,
                    "updated": changed,
                    "skipped": skipped,
                    "rejected": rejected_rows,
                },
            )
        # Written after the commit: a crash before this line is repaired by _trim_rejects.
        _append_rejects(self.rejects_file, bad)
        report = self.report
        report.loaded += loaded
        report.updated += changed
        report.skipped += skipped
        report.rejected += rejected_rows
        report.rows = last_row
        if self.progress is not None:
            self.progress(last_row - first_row + 1, position)


async def _load_rows(
    ctx: _Run,
    path: Path,
    fmt: Format,
    *,
    start: int,
    batch_size: int,
    today: date,
    update: bool,
) -> None:
    """The plain path (SQLite, ``--update``, unusual files): rows read and validated here."""
    actor = ctx.actor
    good: list[dict[str, Any]] = []
    bad: list[Reject] = []
    first_row = start + 1
    last_row = start

    async def load(session: AsyncSession) -> tuple[int, int, int]:
        numbers = await repo.insert_new(session, good, run_id=ctx.run_id)
        changed = 0
        if update and len(numbers) < len(good):
            fresh = set(numbers)
            changed = await repo.update_changed(
                session,
                [r for r in good if r["id_number"] not in fresh],
                actor_type=actor.actor_type,
                actor_id=actor.actor_id,
                legal_basis=ctx.legal_basis,
            )
        return len(numbers), changed, len(good)

    async def flush() -> None:
        nonlocal good, bad, first_row
        await ctx.commit_batch(load, bad, first_row, last_row, rows.position)
        good, bad = [], []
        first_row = last_row + 1

    rows = Rows(path, fmt, skip=start)
    for number, row in rows:
        last_row = number
        if isinstance(row, RowError):
            bad.append(row.reject(number))
        else:
            try:
                good.append(parse_record(row, today=today))
            except RecordInvalid as exc:
                bad.extend(record_rejects(number, row, exc.problems))
        if last_row - first_row + 1 >= batch_size:
            await flush()
    if last_row >= first_row:
        await flush()
    ctx.report.rows = last_row


async def _load_pipelined(
    ctx: _Run,
    path: Path,
    fmt: Format,
    header: Header | None,
    *,
    offset: int,
    start: int,
    batch_size: int,
    today: date,
    workers: int,
) -> None:
    """The fast path on PostgreSQL: workers validate chunks into COPY text while this process
    loads the batches before them (the queue of chunks is bounded, so memory stays flat)."""
    parts: list[bytes] = []
    count = 0  # the valid rows in ``parts``
    bad: list[Reject] = []
    first_row = start + 1
    rows_seen = start  # rows of the file read so far
    # Batches in flight, oldest first: each COPYs on its own connection while the one before
    # it is still loading, and commits after it (commit_batch's ``after``).
    flying: deque[asyncio.Task[None]] = deque()

    def loader(batch: tuple[bytes, str], count: int) -> Callable[[AsyncSession], Awaitable[Any]]:
        async def load(session: AsyncSession) -> tuple[int, int, int]:
            loaded, direct = await repo.copy_new(session, batch, count, direct=ctx.direct)
            if not direct:
                # After a batch that met registered numbers, stage for a while, then try again.
                ctx.direct = False
                ctx.staged_batches += 1
                if ctx.staged_batches % 20 == 0:
                    ctx.direct = True
            return loaded, 0, count

        return load

    async def flush(last_row: int, position: int) -> None:
        nonlocal parts, count, bad, first_row
        while len(flying) >= IN_FLIGHT:
            await flying.popleft()
        after = flying[-1] if flying else None
        # Sent in ID-number order, which the primary key's B-tree takes much faster (by_number).
        load = loader(repo.copy_batch(parts), count)
        batch = ctx.commit_batch(load, bad, first_row, last_row, position, after)
        flying.append(asyncio.ensure_future(batch))
        parts, count, bad = [], 0, []
        first_row = last_row + 1

    validator = Validator(fmt, header, today=today, run_id=ctx.run_id, workers=workers, path=path)
    position = offset
    try:
        source = chunks(path, offset, peek=validator.peeking)
        async for result in validator.results(source, skip=start):
            local = 0
            while local < result.rows:
                take = min(batch_size - (rows_seen + local - first_row + 1), result.rows - local)
                first, last = local + 1, local + take
                i, j = rows_between(result, first, last)
                data, _numbers = copy_slice(result, i, j)
                parts.append(data)
                count += j - i
                bad.extend(rejects_between(result, first, last, rows_seen))
                local = last
                if rows_seen + local - first_row + 1 >= batch_size:
                    await flush(rows_seen + local, position_after(result, local))
            rows_seen += result.rows
            position = result.end
        if rows_seen >= first_row:
            await flush(rows_seen, position)
        while flying:
            await flying.popleft()
    finally:
        for task in flying:
            task.cancel()
        # A batch that failed made the ones after it fail too; all are awaited here.
        await asyncio.gather(*flying, return_exceptions=True)
        validator.close()
    ctx.report.rows = rows_seen


def _default_rejects(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def _trim_rejects(path: Path, *, keep_through: int) -> None:
    """Keep the reject lines of rows already committed; drop any of a batch that was lost."""
    if keep_through == 0 or not path.exists():
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(REJECT_HEADER)
        return
    kept = path.with_name(path.name + ".tmp")
    with (
        path.open(newline="", encoding="utf-8") as src,
        kept.open("w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.writer(dst)
        writer.writerow(REJECT_HEADER)
        reader = csv.reader(src)
        next(reader, None)
        for line in reader:
            if line and line[0].isdigit() and int(line[0]) <= keep_through:
                writer.writerow(line)
    os.replace(kept, path)


def _append_rejects(path: Path, rejects: list[Reject]) -> None:
    if not rejects:
        return
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rejects)
