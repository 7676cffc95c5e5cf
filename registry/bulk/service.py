"""The import loop: read, validate like the API, load in batches, resume, report, audit."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from audit import record
from core.auth import Principal
from core.db import Database
from registry.bulk import repository as repo
from registry.bulk.reader import Format, RowError, detect_format, file_digest, read_rows
from registry.record import COLUMNS, RecordInvalid, parse_record

DEFAULT_BATCH = 10_000
REJECT_HEADER = ("row", "field", "reason")


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
    already_done: bool = False
    reject_path: Path | None = None


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
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> ImportReport:
    """Import ``path``; rerunning adds nothing, and a killed run resumes where it stopped."""
    fmt = fmt or detect_format(path)
    digest = file_digest(path)
    rejects_file = reject_path or _default_rejects(path)
    report = ImportReport(file_digest=digest, reject_path=rejects_file)
    async with database.unit_of_work() as session:
        job = await repo.find_job(session, digest)
        if job is None:
            job = await repo.create_job(session, digest, path.name)
            start = 0
        elif job.status == "done" and not update:
            report.already_done = True
            report.rows = job.rows_done
            return report
        else:
            start = 0 if job.status == "done" else job.rows_done
            await repo.set_job_status(session, job.id, "running")
        job_id = job.id
    report.resumed_from = start
    _trim_rejects(rejects_file, keep_through=start)
    day = today or date.today()

    good: list[dict[str, Any]] = []
    bad: list[tuple[int, str, str]] = []
    first_row = start + 1
    last_row = start

    async def flush() -> None:
        nonlocal good, bad, first_row
        async with database.unit_of_work() as session:
            numbers = await repo.insert_new(
                session, good, actor_type=actor.actor_type, actor_id=actor.actor_id,
                legal_basis=legal_basis,
            )  # fmt: skip
            loaded = len(numbers)
            changed = 0
            if update and loaded < len(good):
                fresh = set(numbers)
                changed = await repo.update_changed(
                    session, [r for r in good if r["id_number"] not in fresh],
                    actor_type=actor.actor_type, actor_id=actor.actor_id,
                    legal_basis=legal_basis,
                )  # fmt: skip
            rejected_rows = len({row for row, _f, _r in bad})
            skipped = len(good) - loaded - changed
            await repo.advance_job(
                session, job_id, rows_done=last_row, loaded=loaded, rejected=rejected_rows,
                skipped=skipped,
            )  # fmt: skip
            # One audit event per batch: who loaded which file, which rows, how many.
            await record(
                session, actor=actor, action="registry.import_batch", outcome="granted",
                fields=COLUMNS, purpose="civil_registration",
                detail={
                    "file_digest": digest, "first_row": first_row, "last_row": last_row,
                    "loaded": loaded, "updated": changed, "skipped": skipped,
                    "rejected": rejected_rows,
                },
            )  # fmt: skip
        # Written after the commit: a crash before this line is repaired by _trim_rejects.
        _append_rejects(rejects_file, bad)
        report.loaded += loaded
        report.updated += changed
        report.skipped += skipped
        report.rejected += rejected_rows
        if progress is not None:
            progress(last_row - first_row + 1)
        good, bad = [], []
        first_row = last_row + 1

    for number, row in read_rows(path, fmt, skip=start):
        last_row = number
        if isinstance(row, RowError):
            bad.append((number, "", str(row)))
        else:
            try:
                good.append(parse_record(row, today=day))
            except RecordInvalid as exc:
                bad.extend((number, p.field, p.reason) for p in exc.problems)
        if last_row - first_row + 1 >= batch_size:
            await flush()
    if last_row >= first_row:
        await flush()
    report.rows = last_row
    async with database.unit_of_work() as session:
        await repo.set_job_status(session, job_id, "done")
    return report


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


def _append_rejects(path: Path, rejects: list[tuple[int, str, str]]) -> None:
    if not rejects:
        return
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rejects)
