"""SQL of bulk import: PostgreSQL COPY (straight into the table, or through a staging table),
batched inserts on SQLite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any, cast

import asyncpg
from sqlalchemy import BigInteger, Date, Integer, String, Table, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateIndex

from core.clock import utcnow
from core.db import dialect_of, driver_connection
from core.statements import insert_for
from registry.bulk.pipeline import by_number, sorted_binary
from registry.models import Citizen, CitizenVersion, ImportJob, ImportRun
from registry.record import COLUMNS, STORED_KEYS

# Every stored column an import writes: the record's columns, the ones derived from them, and
# the import run that created it (which is its version 1: an imported record has no version row).
STORED = ("version", "name_folded", "birth_date_precision", *COLUMNS, "import_run_id")
_COLUMN_LIST = ", ".join(STORED)
# The staged rows whose number is new, inserted (both load paths).
_NEW_FROM_STAGE = (
    f"INSERT INTO citizen ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM citizen_stage "  # noqa: S608
    "ON CONFLICT (id_number) DO NOTHING"
)
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS citizen_stage "
    "(LIKE citizen INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
# The same columns in the order of pre-formatted COPY rows: parse_record's, then the version
# and the run.
COPY_COLUMNS = (*STORED_KEYS, "version", "import_run_id")


def _kind(name: str) -> str:
    """A COPY column's letter for sorted_binary: t text, d date, i int4, l int8."""
    kind = Citizen.__table__.c[name].type
    for sql_type, letter in ((Date, "d"), (BigInteger, "l"), (Integer, "i"), (String, "t")):
        if isinstance(kind, sql_type):
            return letter
    raise TypeError(f"no COPY binary form for citizen.{name}")


# The rows go to PostgreSQL in COPY's binary format when the C module can write it: parsing the
# text format (finding tabs, unescaping, reading dates and numbers) was much of the server's
# CPU for a COPY into citizen (docs/performance.md, "Binary COPY").
COPY_KINDS = "".join(map(_kind, COPY_COLUMNS)).encode()
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
_BINARY_TRAILER = b"\xff\xff"
# What ``--update`` compares and may change: the record's own fields.
_RECORD_FIELDS = tuple(c for c in STORED if c not in ("id_number", "version", "import_run_id"))


# What an import into an empty citizen table goes without, and makes once at its end:
# - the secondary indexes (not the primary key, which keeps numbers unique): built after the
#   load they cost a fraction of what keeping them up row by row does;
# - the key of replaced_by to citizen: an import never writes replaced_by, yet the key queued a
#   check for every row it loaded (docs/performance.md, "Deferred indexes").
# The index on replaced_by stays: it holds only replaced records, which an import never
# writes, so it costs the load nothing, and it is what validating the key at the end reads.
_TABLE = cast(Table, Citizen.__table__)
_KEPT = "ix_citizen_replaced_by"
_SECONDARY = tuple(
    sorted((i for i in _TABLE.indexes if i.name != _KEPT), key=lambda i: str(i.name))
)
_SELF_KEY = next(k for k in _TABLE.foreign_key_constraints if k.referred_table is _TABLE)
SELF_KEY_NAME = str(_SELF_KEY.name)
_ADD_SELF_KEY = (
    f'ALTER TABLE citizen ADD CONSTRAINT "{SELF_KEY_NAME}" FOREIGN KEY '
    f"({', '.join(c.name for c in _SELF_KEY.columns)}) REFERENCES citizen "
    f"({', '.join(e.column.name for e in _SELF_KEY.elements)}) NOT VALID"
)
DEFERRED = (*(str(index.name) for index in _SECONDARY), SELF_KEY_NAME)
_BUILD_LOCK = 0x7265_6769_6478  # advisory locks, one per deferred object ("regidx" + position)


async def missing_deferred(session: AsyncSession) -> list[str]:
    """What an initial load defers and is missing now (PostgreSQL): citizen's secondary indexes
    and its replaced_by key, by name (a key added but not yet validated counts as missing)."""
    found = await session.execute(
        text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'citizen' "
            "UNION ALL SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'citizen'::regclass AND contype = 'f' AND convalidated"
        )
    )
    present = set(found.scalars())
    return [name for name in DEFERRED if name not in present]


async def defer_secondary(session: AsyncSession) -> bool:
    """Whether this load goes without citizen's secondary indexes and replaced_by key
    (PostgreSQL).

    Yes when they are already missing (an initial load that was stopped), or when the table
    is empty: then they are dropped here, in this transaction.
    No when the table has records, or another transaction holds it (within 2 s).
    ``build_deferred`` makes them again.
    """
    if await missing_deferred(session):
        return True
    if (await session.execute(select(Citizen.id_number).limit(1))).first() is not None:
        return False
    try:
        async with session.begin_nested():
            await session.execute(text("SET LOCAL lock_timeout = '2s'"))
            await session.execute(text("LOCK TABLE citizen IN ACCESS EXCLUSIVE MODE"))
            if (await session.execute(select(Citizen.id_number).limit(1))).first() is not None:
                return False
            for index in _SECONDARY:
                await session.execute(text(f'DROP INDEX "{index.name}"'))
            await session.execute(text(f'ALTER TABLE citizen DROP CONSTRAINT "{SELF_KEY_NAME}"'))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            return False
        raise
    return True


async def build_deferred(session: AsyncSession, name: str) -> bool:
    """Make citizen's secondary index or key ``name`` if it is missing (PostgreSQL); whether
    this call made it. An index is one sort of the table; each has its own lock, so the indexes
    can be built at once on several connections, and two imports never build the same one."""
    position = DEFERRED.index(name)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BUILD_LOCK + position}
    )
    if name == SELF_KEY_NAME:
        return await _restore_self_key(session)
    if name not in await missing_deferred(session):
        return False
    # One sort of the whole table: no statement timeout (it is sized for requests).
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    await session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    await session.execute(CreateIndex(_SECONDARY[position], if_not_exists=True))
    return True


async def _restore_self_key(session: AsyncSession) -> bool:
    """Add the replaced_by key NOT VALID (from then on every new row is checked) and commit,
    then validate it by one scan that lets reads and writes go on; a run stopped in between
    leaves the validation to the next. Its locks wait for the index builds."""
    validated = (
        await session.execute(
            text(
                "SELECT convalidated FROM pg_constraint "
                "WHERE conrelid = 'citizen'::regclass AND conname = :name"
            ),
            {"name": SELF_KEY_NAME},
        )
    ).scalar_one_or_none()
    if validated:
        return False
    if validated is None:
        await session.execute(text(_ADD_SELF_KEY))
        await session.commit()
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    # Right after a first load the table has no statistics, and the planner would read all of
    # it to find the rows with a replaced_by; the partial index on replaced_by holds exactly
    # those rows (docs/performance.md, "Validating replaced_by"). Without the index the table
    # is still read.
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    await session.execute(text(f'ALTER TABLE citizen VALIDATE CONSTRAINT "{SELF_KEY_NAME}"'))
    return True


async def find_job(session: AsyncSession, digest: str) -> ImportJob | None:
    """The import job of this file, if it was ever started."""
    return (
        await session.execute(select(ImportJob).where(ImportJob.file_digest == digest))
    ).scalar_one_or_none()


async def create_job(session: AsyncSession, digest: str, file_name: str) -> ImportJob:
    """Start the job of a file."""
    job = ImportJob(
        file_digest=digest,
        file_name=file_name[:300],
        rows_done=0,
        loaded=0,
        rejected=0,
        skipped=0,
        status="running",
    )
    session.add(job)
    await session.flush()
    return job


async def advance_job(
    session: AsyncSession, job_id: int, *, rows_done: int, loaded: int, rejected: int, skipped: int
) -> None:
    """Move the job's progress forward in the same transaction as the batch it counts."""
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(
            rows_done=rows_done,
            loaded=ImportJob.loaded + loaded,
            rejected=ImportJob.rejected + rejected,
            skipped=ImportJob.skipped + skipped,
        )
    )


async def create_run(
    session: AsyncSession, job_id: int, *, actor_type: str, actor_id: str, legal_basis: str
) -> int:
    """Record one run of the import of a job's file; the run is version 1 of what it creates."""
    run = ImportRun(
        job_id=job_id, actor_type=actor_type, actor_id=actor_id, legal_basis=legal_basis[:300]
    )
    session.add(run)
    await session.flush()
    return run.id


async def set_job_status(session: AsyncSession, job_id: int, status: str) -> None:
    """Mark the job running again or done."""
    values: dict[str, Any] = {"status": status}
    values["finished_at"] = utcnow() if status == "done" else None
    await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))


async def insert_new(
    session: AsyncSession, rows: Sequence[dict[str, Any]], *, run_id: int
) -> list[str]:
    """Insert the records whose number is not yet registered, as created by import run
    ``run_id``. Returns the numbers inserted; rows whose number exists (or repeats in the
    batch) are left untouched."""
    if not rows:
        return []
    if dialect_of(session) == "postgresql":
        return await _insert_new_postgres(session, rows, run_id)
    return await _insert_new_sqlite(session, rows, run_id)


def _stored_values(row: dict[str, Any], run_id: int) -> dict[str, Any]:
    return {**{c: row.get(c) for c in STORED}, "version": 1, "import_run_id": run_id}


async def _insert_new_postgres(
    session: AsyncSession, rows: Sequence[dict[str, Any]], run_id: int
) -> list[str]:
    await session.execute(text(_STAGE))
    driver: Any = await driver_connection(session)
    records = [tuple(_stored_values(row, run_id).values()) for row in rows]
    await driver.copy_records_to_table("citizen_stage", records=records, columns=list(STORED))
    inserted = await driver.fetch(f"{_NEW_FROM_STAGE} RETURNING id_number")
    await driver.execute("TRUNCATE citizen_stage")
    return [r["id_number"] for r in inserted]


async def _insert_new_sqlite(
    session: AsyncSession, rows: Sequence[dict[str, Any]], run_id: int
) -> list[str]:
    # The rule of _NEW_FROM_STAGE, in one executemany: a number taken (or taken earlier in the
    # batch) is skipped.
    statement = (
        insert_for(session, cast(Table, Citizen.__table__))
        .on_conflict_do_nothing(index_elements=[Citizen.id_number])
        .returning(Citizen.id_number)
    )
    found = await session.execute(statement, [_stored_values(row, run_id) for row in rows])
    return list(found.scalars())


async def update_changed(
    session: AsyncSession,
    rows: Sequence[dict[str, Any]],
    *,
    actor_type: str,
    actor_id: str,
    legal_basis: str,
) -> int:
    """For records that exist and differ, write the new values as a new version (``--update``)."""
    by_number = {row["id_number"]: row for row in rows}
    current = (
        (await session.execute(select(Citizen).where(Citizen.id_number.in_(list(by_number)))))
        .scalars()
        .all()
    )
    updated = 0
    now = utcnow()
    for citizen in current:
        new = by_number[citizen.id_number]
        changed = [c for c in _RECORD_FIELDS if getattr(citizen, c) != new.get(c)]
        if not changed:
            continue
        previous = {c: _json_value(getattr(citizen, c)) for c in changed}
        # Read before the UPDATE: synchronising the session moves the loaded object forward.
        number, old_version = citizen.id_number, citizen.version
        await session.execute(
            update(Citizen)
            .where(Citizen.id_number == number, Citizen.version == old_version)
            .values(**{c: new.get(c) for c in changed}, version=old_version + 1, updated_at=now)
        )
        session.add(
            CitizenVersion(
                id_number=number,
                version=old_version + 1,
                valid_from=now,
                kind="import",
                is_correction=False,
                legal_basis=legal_basis,
                actor_type=actor_type,
                actor_id=actor_id,
                changed_fields=json.dumps(changed),
                previous=json.dumps(previous),
            )
        )
        updated += 1
    await session.flush()
    return updated


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def copy_batch(parts: Sequence[bytes]) -> tuple[bytes, str]:
    """One batch's pre-formatted COPY lines (text format, columns ``COPY_COLUMNS``, each naming
    its import run) as ``copy_new`` sends them: in ID-number order (``by_number``), as COPY
    binary-format tuples when the C module can write them, else as text. Returns (data, form).
    """
    rows = sorted_binary(parts, COPY_KINDS)
    if rows is not None:
        return rows, "binary"
    return by_number(parts), "text"


async def copy_new(
    session: AsyncSession, batch: tuple[bytes, str], count: int, *, direct: bool = True
) -> tuple[int, bool]:
    """Load ``count`` rows on PostgreSQL: ``batch`` is ``copy_batch``'s (data, form).

    Inserts the records whose number is not yet registered, like ``insert_new``. With
    ``direct`` the rows are first copied straight into ``citizen`` (no staging table, no
    second write) under a savepoint; if any number is already registered, that is undone and
    the rows go through the staging table. Returns (records inserted, whether the direct copy
    worked).
    """
    if count == 0:
        return 0, direct
    driver: Any = await driver_connection(session)
    rows, form = batch
    data = [_BINARY_HEADER, rows, _BINARY_TRAILER] if form == "binary" else [rows]
    if direct:
        await driver.execute("SAVEPOINT bulk_copy")
        try:
            await driver.copy_to_table(
                "citizen", source=_stream(data), columns=COPY_COLUMNS, format=form
            )
        except asyncpg.UniqueViolationError:
            await driver.execute("ROLLBACK TO SAVEPOINT bulk_copy; RELEASE SAVEPOINT bulk_copy")
        else:
            await driver.execute("RELEASE SAVEPOINT bulk_copy")
            return count, True
    await driver.execute(_STAGE)
    await driver.copy_to_table(
        "citizen_stage", source=_stream(data), columns=COPY_COLUMNS, format=form
    )
    status = await driver.execute(_NEW_FROM_STAGE)
    await driver.execute("TRUNCATE citizen_stage")
    return int(status.rsplit(" ", 1)[1]), False


async def _stream(parts: Sequence[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        if part:
            yield part
